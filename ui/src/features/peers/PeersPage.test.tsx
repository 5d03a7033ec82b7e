// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { ADA_ID, BOB_ID, CAROL_ID, FakeBackend, follow, peerInfo } from '../../test/fake';
import { $, $$, click, mount, root, setupApp, submit, type } from '../../test/app';
import { waitFor } from '../../test/dom';

setupApp();

describe('Peers: following and mirrors', () => {
  it('follows a peer, then mirrors it', async () => {
    const b = new FakeBackend();
    b.on.list_peers.mockResolvedValue([peerInfo(ADA_ID, 'Ada'), peerInfo(BOB_ID, 'Bob')]);
    await mount(b, '#/peers');
    await waitFor(() => expect($$('peer-row')).toHaveLength(2));
    const ada = () => $$('peer-row').find((r) => r.dataset.peerId === ADA_ID)!;
    const button = await waitFor(() => {
      const el = $('peer-follow', ada()) as HTMLButtonElement;
      expect(el.disabled).toBe(false);
      return el;
    });
    expect(button.textContent).toBe('Follow');
    expect(button.getAttribute('aria-pressed')).toBe('false');
    expect(ada().querySelector('[data-testid="peer-mirror"]')).toBeNull();
    expect(root.querySelector('[data-testid="following-card"]')).toBeNull();

    click(button);
    await waitFor(() => expect($('peer-follow', ada()).textContent).toBe('Following'));
    expect(b.on.follow).toHaveBeenCalledWith({ peer_id: ADA_ID });
    expect($('peer-follow', ada()).getAttribute('aria-pressed')).toBe('true');
    expect(ada().textContent).toMatch('Keep copies of everything they publish, within your mirror quota');
    const mirror = $('peer-mirror', ada()) as HTMLInputElement;
    expect(mirror.type).toBe('checkbox');
    expect(mirror.checked).toBe(false);
    expect($$('follow-row').map((r) => r.dataset.peerId)).toEqual([ADA_ID]);

    mirror.click();
    await waitFor(() => expect(b.on.set_mirror).toHaveBeenCalledWith({ peer_id: ADA_ID, on: true }));
    await waitFor(() => expect(($('peer-mirror', ada()) as HTMLInputElement).checked).toBe(true));
    expect($('peer-mirrored', ada()).textContent).toBe('nothing mirrored yet');

    // the node reports what it mirrors
    b.emit({ type: 'follows_changed', follows: [follow({ peer_id: ADA_ID, mirror: true, mirrored_items: 3, mirrored_bytes: 1_500_000_000 })] });
    await waitFor(() => expect($('peer-mirrored', ada()).textContent).toBe('3 items · 1.5 GB mirrored'));
    expect($('follow-mirrored').textContent).toBe('3 items · 1.5 GB mirrored');
    // Bob stays unfollowed
    const bob = $$('peer-row').find((r) => r.dataset.peerId === BOB_ID)!;
    expect($('peer-follow', bob).textContent).toBe('Follow');
  });

  it('lists followed peers even when they are not around, and unfollows', async () => {
    const b = new FakeBackend();
    b.follows = [
      follow({ peer_id: CAROL_ID, name: '<b>Carol</b>', online: false, mirror: true, mirrored_items: 1, mirrored_bytes: 2_000_000 }),
    ];
    await mount(b, '#/peers');
    const row = await waitFor(() => $('follow-row'));
    expect(row.dataset.peerId).toBe(CAROL_ID);
    expect(row.textContent).toMatch('<b>Carol</b>');
    expect(row.querySelector('b')).toBeNull();
    expect(row.textContent).toMatch('offline');
    expect(($('follow-mirror', row) as HTMLInputElement).checked).toBe(true);
    expect($('follow-mirrored', row).textContent).toBe('1 item · 2 MB mirrored');
    expect($('follow-toggle', row).getAttribute('title')).toMatch(/deletes the 1 mirrored copy/);
    click($('follow-toggle', row));
    await waitFor(() => expect(root.querySelector('[data-testid="following-card"]')).toBeNull());
    expect(b.on.unfollow).toHaveBeenCalledWith({ peer_id: CAROL_ID });
  });

  it('keeps follows from the event stream, not from the peer list', async () => {
    const b = new FakeBackend();
    b.on.list_peers.mockResolvedValue([peerInfo(ADA_ID, 'Ada')]);
    await mount(b, '#/peers');
    await waitFor(() => expect(($('peer-follow') as HTMLButtonElement).disabled).toBe(false));
    b.emit({ type: 'follows_changed', follows: [follow({ peer_id: ADA_ID })] });
    await waitFor(() => expect($('peer-follow').textContent).toBe('Following'));
    b.emit({ type: 'follows_changed', follows: [] });
    await waitFor(() => expect($('peer-follow').textContent).toBe('Follow'));
    expect(b.on.follow).not.toHaveBeenCalled();
  });
});

describe('Peers: invites and diagnosis', () => {
  it('makes an invite to copy, and says who can use it', async () => {
    const b = new FakeBackend();
    await mount(b, '#/peers');
    click(await waitFor(() => $('invite-create')));
    const text = (await waitFor(() => $('invite-text'))) as HTMLTextAreaElement;
    expect(text.value).toBe(`hearth:invite/fake.${b.selfId}`);
    expect(text.readOnly).toBe(true);
    expect($('invite-reach').textContent).toMatch('local network only');
    expect($('invite-reach').textContent).toMatch('works only on your local network');
    expect($('invite-copy')).toBeTruthy();
    expect(b.on.create_invite).toHaveBeenCalledTimes(1);
  });

  it('joins with a pasted invite and shows how the peer is connected', async () => {
    const b = new FakeBackend();
    b.peers = [{ ...peerInfo(ADA_ID, 'Ada'), online: false, connected: false, connection: null }];
    await mount(b, '#/peers');
    const field = (await waitFor(() => $('join-invite'))) as HTMLTextAreaElement;
    await type(field, `  hearth:invite/fake.${ADA_ID}\n`);
    submit(field);
    await waitFor(() => expect($('join-result').textContent).toBe('Connected to Ada (direct).'));
    expect(b.on.join).toHaveBeenCalledWith({ invite: `hearth:invite/fake.${ADA_ID}` });
    expect($('join-result').className).toMatch('ok');
    const row = await waitFor(() => $$('peer-row').find((r) => r.dataset.peerId === ADA_ID)!);
    await waitFor(() => expect($('peer-status', row).textContent).toBe('online'));
    expect(field.value).toBe('');
  });

  it('shows why an invite did not work', async () => {
    const b = new FakeBackend();
    await mount(b, '#/peers');
    const field = (await waitFor(() => $('join-invite'))) as HTMLTextAreaElement;
    await type(field, '/ip4/203.0.113.5/tcp/4001');
    submit(field);
    await waitFor(() => expect($('join-result').textContent).toMatch('not a Hearth invite'));
    expect($('join-result').className).toMatch('err');
    await type(field, `hearth:invite/fake.${b.selfId}`);
    submit(field);
    await waitFor(() => expect($('join-result').textContent).toMatch('your own'));
  });

  it('explains on demand why a peer is relayed, with the last dial error', async () => {
    const b = new FakeBackend();
    b.peers = [
      { ...peerInfo(BOB_ID, 'Bob'), connection: 'relayed', relay: CAROL_ID, last_dial_error: 'Failed to negotiate transport' },
      { ...peerInfo(ADA_ID, 'Ada'), connection: 'hole_punched' },
    ];
    b.on.doctor.mockResolvedValueOnce({
      peer_id: BOB_ID,
      reachable: true,
      connection: 'relayed',
      relay: CAROL_ID,
      nat: 'private',
      relay_reservations: [CAROL_ID],
      addrs: [],
      last_dial_error: 'Failed to negotiate transport',
      summary: 'relayed only',
      findings: ['Hole punching failed.'],
      fixes: ['Forward port 4001 on the router.'],
    });
    await mount(b, '#/peers');
    const bob = await waitFor(() => $$('peer-row').find((r) => r.dataset.peerId === BOB_ID)!);
    const ada = $$('peer-row').find((r) => r.dataset.peerId === ADA_ID)!;
    expect($('peer-dial-error', bob).textContent).toMatch('Failed to negotiate transport');
    expect(ada.querySelector('[data-testid="peer-dial-error"]')).toBeNull();
    expect($('peer-diagnose-toggle', ada).textContent).toBe('Connection details');
    const toggle = $('peer-diagnose-toggle', bob);
    expect(toggle.textContent).toBe('Why not directly connected?');
    click(toggle);
    await waitFor(() => expect($('peer-diagnosis-summary', bob).textContent).toBe('relayed only'));
    expect(b.on.doctor).toHaveBeenCalledWith({ peer_id: BOB_ID });
    expect($('peer-diagnosis', bob).textContent).toMatch('Hole punching failed.');
    expect($('peer-diagnosis-fixes', bob).textContent).toMatch('Forward port 4001');
    click($('peer-diagnose-toggle', bob));
    await waitFor(() => expect(bob.querySelector('[data-testid="peer-diagnosis"]')).toBeNull());
  });
});
