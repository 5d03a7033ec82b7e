// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { FakeBackend, settings } from '../../test/fake';
import { $, mount, type, setupApp } from '../../test/app';
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
