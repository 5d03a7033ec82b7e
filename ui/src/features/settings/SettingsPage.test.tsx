// @vitest-environment happy-dom
import { describe, expect, it, vi } from 'vitest';
import { download } from '../../test/fake';
import { FakeBackend, settings } from '../../test/fake';
import { $, click, mount, type, setupApp } from '../../test/app';
import { waitFor } from '../../test/dom';

setupApp();

describe('Settings: mirror quota', () => {
  it('shows the space mirrors use and saves a new quota in GB', async () => {
    const b = new FakeBackend();
    b.settingsNow = settings({ mirror_quota_bytes: 20_000_000_000, mirror_used_bytes: 1_500_000_000 });
    await mount(b, '#/settings');
    const input = await waitFor(() => {
      const el = $('mirror-quota') as HTMLInputElement;
      expect(el.value).toBe('20');
      return el;
    });
    expect($('mirror-used').textContent).toBe('used 1.5 GB of 20 GB');
    expect(($('mirror-quota-save') as HTMLButtonElement).disabled).toBe(true);
    await type(input, '2.5');
    expect(($('mirror-quota-save') as HTMLButtonElement).disabled).toBe(false);
    $('mirror-card').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => $('mirror-quota-saved'));
    expect(b.on.set_mirror_quota).toHaveBeenCalledWith({ bytes: 2_500_000_000 });
    expect($('mirror-used').textContent).toBe('used 1.5 GB of 2.5 GB');
    expect(($('mirror-quota') as HTMLInputElement).value).toBe('2.5');
  });

  it('refuses a quota that is not a number of GB', async () => {
    const b = new FakeBackend();
    await mount(b, '#/settings');
    const input = await waitFor(() => {
      const el = $('mirror-quota') as HTMLInputElement;
      expect(el.disabled).toBe(false);
      return el;
    });
    await type(input, '-3');
    $('mirror-card').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => expect($('mirror-quota-error').textContent).toMatch(/in gigabytes/));
    expect(b.on.set_mirror_quota).not.toHaveBeenCalled();
  });

  it('asks again how much space mirrors use when mirrors change', async () => {
    const b = new FakeBackend();
    await mount(b, '#/settings');
    await waitFor(() => $('mirror-used'));
    b.settingsNow = settings({ mirror_used_bytes: 3_000_000_000 });
    b.emit({ type: 'follows_changed', follows: [] });
    await waitFor(() => expect($('mirror-used').textContent).toBe('used 3 GB of 20 GB'), 3000);
  });
});

describe('Settings: everything a user changes', () => {
  const submit = (id: string) => $(id).dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));

  it('saves speed limits in MB/s at once, and refuses what is not a number', async () => {
    const b = new FakeBackend();
    await mount(b, '#/settings');
    const down = (await waitFor(() => {
      const el = $('limit-down') as HTMLInputElement;
      expect(el.disabled).toBe(false);
      return el;
    })) as HTMLInputElement;
    expect(down.value).toBe('');
    await type(down, 'fast');
    submit('transfer-card');
    await waitFor(() => expect($('transfer-error').textContent).toMatch(/in MB\/s/));
    expect(b.on.update_settings).not.toHaveBeenCalled();
    await type(down, '2.5');
    await type($('limit-up') as HTMLInputElement, '0.5');
    submit('transfer-card');
    await waitFor(() => $('transfer-saved'));
    expect(b.on.update_settings).toHaveBeenCalledWith({ bt_download_limit_bps: 2_500_000, bt_upload_limit_bps: 500_000 });
    expect(($('limit-down') as HTMLInputElement).value).toBe('2.5');
    expect(root().querySelector('[data-testid="restart-banner"]')).toBeNull();
    // The node's own refusal is shown too.
    await type($('limit-up') as HTMLInputElement, '0.001');
    submit('transfer-card');
    await waitFor(() => expect($('transfer-error').textContent).toMatch(/too low/));
  });

  it('a new download folder, picked, waits for a restart, which the banner offers', async () => {
    const b = new FakeBackend();
    b.pickedFolder = '/media/big/hearth';
    await mount(b, '#/settings');
    click(await waitFor(() => $('download-dir-pick')));
    await waitFor(() => expect(($('download-dir') as HTMLInputElement).value).toBe('/media/big/hearth'));
    submit('transfer-card');
    await waitFor(() => expect($('restart-banner').textContent).toMatch('takes effect after a restart: download folder'));
    expect(b.on.update_settings).toHaveBeenCalledWith({ download_dir: '/media/big/hearth' });
    click($('restart-now'));
    await waitFor(() => expect(b.restarts).toBe(1));
  });

  it('switches mDNS and relaying, and edits the listen addresses', async () => {
    const b = new FakeBackend();
    b.settingsNow = settings({ listen: ['/ip4/0.0.0.0/tcp/4001'] });
    await mount(b, '#/settings');
    const mdns = (await waitFor(() => {
      const el = $('mdns-switch') as HTMLInputElement;
      expect(el.disabled).toBe(false);
      return el;
    })) as HTMLInputElement;
    expect(mdns.checked).toBe(true);
    click(mdns);
    await waitFor(() => expect(b.on.update_settings).toHaveBeenCalledWith({ mdns: false }));
    await waitFor(() => expect($('restart-banner').textContent).toMatch('local network discovery'));
    const listen = $('listen-edit') as HTMLTextAreaElement;
    expect(listen.value).toBe('/ip4/0.0.0.0/tcp/4001');
    await type(listen, '/ip4/0.0.0.0/tcp/4001\n\n/ip4/0.0.0.0/udp/4001/quic-v1 ');
    click($('listen-save'));
    await waitFor(() =>
      expect(b.on.update_settings).toHaveBeenCalledWith({ listen: ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/udp/4001/quic-v1'] }),
    );
    await waitFor(() => expect($('restart-banner').textContent).toMatch('listen addresses'));
  });

  it('switches each kind of notification, and the app follows the switch', async () => {
    const b = new FakeBackend();
    b.notify = vi.fn();
    await mount(b, '#/settings');
    const downloads = (await waitFor(() => {
      const el = $('notify-downloads') as HTMLInputElement;
      expect(el.disabled).toBe(false);
      return el;
    })) as HTMLInputElement;
    expect(downloads.checked).toBe(true);
    expect(($('notify-followed_online') as HTMLInputElement).checked).toBe(false);

    const d = download({ content_id: 'd'.repeat(40), title: 'Field notes' });
    b.emit({ type: 'download_progress', download: d });
    b.emit({ type: 'download_progress', download: { ...d, state: 'complete' } });
    await waitFor(() => expect(b.notify).toHaveBeenCalledWith('Download finished', 'Field notes'));

    click(downloads);
    await waitFor(() =>
      expect(b.on.update_settings).toHaveBeenCalledWith({
        notifications: { chat: true, downloads: false, followed_items: true, mirror_full: true, followed_online: false },
      }),
    );
    await waitFor(() => expect(($('notify-downloads') as HTMLInputElement).checked).toBe(false));
    const e = download({ content_id: 'e'.repeat(40), title: 'Quiet' });
    b.emit({ type: 'download_progress', download: e });
    b.emit({ type: 'download_progress', download: { ...e, state: 'complete' } });
    await new Promise((r) => setTimeout(r, 20));
    expect(b.notify).toHaveBeenCalledTimes(1);
  });

  it('asks the browser for permission to notify', async () => {
    const b = new FakeBackend();
    b.notificationAccess = 'default';
    await mount(b, '#/settings');
    click(await waitFor(() => $('notify-allow')));
    await waitFor(() => expect(root().querySelector('[data-testid="notify-access"]')).toBeNull());
  });
});

function root(): HTMLElement {
  return document.body;
}
describe('Settings: refused from peers', () => {
  it('says nothing was refused', async () => {
    const b = new FakeBackend();
    await mount(b, '#/settings');
    await waitFor(() => expect($('refused').textContent).toMatch(/Nothing refused/));
    await waitFor(() => expect($('refused').textContent).toMatch(/50,?000 entries/));
  });

  it('lists what the limits refused', async () => {
    const b = new FakeBackend();
    b.statusNow = {
      ...b.statusNow,
      refused: { connections: 12, gossip_throttled: 3, gossip_unvalidated: 0, presence_ignored: 0, presence_dials_skipped: 0 },
    };
    b.on.catalog_stats.mockResolvedValue({
      resources: 0,
      feeds: 0,
      entries: 0,
      queued_announcements: 0,
      rejected: { bad_signature: 0, broken_chain: 0, fork: 0, oversize: 0, malformed: 0, invalid: 0, quota: 90_000 },
      bytes: 0,
      quota: { entries_per_author: 50_000, bytes_per_author: 1 << 28, entries: 2_000_000, bytes: 2 ** 33 },
      holders_tracked: 0,
      holdings_dropped: 0,
    });
    await mount(b, '#/settings');
    await waitFor(() => expect($('refused-list').textContent).toMatch(/12 connections over the limits/));
    expect($('refused-list').textContent).toMatch(/3 gossip messages/);
    expect($('refused-list').textContent).toMatch(/90,?000 catalog entries over a quota/);
  });
});
