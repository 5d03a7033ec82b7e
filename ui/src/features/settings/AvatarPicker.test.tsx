// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { ADA_ID, BOB_ID, FakeBackend, peerInfo } from '../../test/fake';
import { $, $$, click, mount, root, setupApp } from '../../test/app';
import { render } from 'preact';
import { waitFor } from '../../test/dom';
import { Avatar } from '../../components/common';
import { BackendContext } from '../../context';

setupApp();

const HASH = 'ab'.repeat(32);

/** Gives `input` the picked `file` and tells the page, as a file chooser does. */
function pick(input: HTMLInputElement, file: File): void {
  Object.defineProperty(input, 'files', { value: [file], configurable: true });
  input.dispatchEvent(new Event('change', { bubbles: true }));
}

const pictures = (within: ParentNode = root) => Array.from(within.querySelectorAll<HTMLImageElement>('[data-testid="avatar-img"]'));

describe('Settings: profile picture', () => {
  it('sends the picked image as base64, then shows the picture and can remove it', async () => {
    const b = new FakeBackend();
    await mount(b, '#/settings');
    const choose = await waitFor(() => {
      const el = $('avatar-choose') as HTMLButtonElement;
      expect(el.disabled).toBe(false);
      return el;
    });
    expect(choose.textContent).toBe('Add picture');
    expect(pictures()).toHaveLength(0);

    const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    pick($('avatar-input') as HTMLInputElement, new File([bytes], 'me.png', { type: 'image/png' }));
    await waitFor(() => expect(b.on.set_avatar).toHaveBeenCalledWith({ image: btoa(String.fromCharCode(...bytes)) }));
    const hash = await waitFor(() => {
      const h = b.profile.avatar;
      expect(h).toMatch(/^[0-9a-f]{64}$/);
      return h!;
    });
    // The settings preview and the sidebar show the picture.
    await waitFor(() => expect(pictures().length).toBeGreaterThanOrEqual(2));
    for (const img of pictures()) expect(img.getAttribute('src')).toBe(b.avatarUrl(hash));
    expect($('avatar-choose').textContent).toBe('Change picture');

    // Saving the profile keeps it.
    expect(b.profile.avatar).toBe(hash);

    click($('avatar-remove'));
    await waitFor(() => expect(b.on.set_avatar).toHaveBeenLastCalledWith({ image: null }));
    await waitFor(() => expect(pictures()).toHaveLength(0));
    expect(b.profile.avatar).toBeUndefined();
  });

  it('refuses a file over 10 MB before sending it, and shows the node\'s refusal', async () => {
    const b = new FakeBackend();
    await mount(b, '#/settings');
    await waitFor(() => expect(($('avatar-choose') as HTMLButtonElement).disabled).toBe(false));
    const big = new File([new Uint8Array(10 * 1024 * 1024 + 1)], 'huge.png', { type: 'image/png' });
    pick($('avatar-input') as HTMLInputElement, big);
    await waitFor(() => expect($('avatar-error').textContent).toMatch(/larger than 10 MB/));
    expect(b.on.set_avatar).not.toHaveBeenCalled();

    b.on.set_avatar.mockRejectedValueOnce({ code: 'bad_request', message: 'cannot use this picture: not a supported image format' });
    pick($('avatar-input') as HTMLInputElement, new File(['hello'], 'x.png', { type: 'image/png' }));
    await waitFor(() => expect($('avatar-error').textContent).toMatch(/not a supported image format/));
    expect(pictures()).toHaveLength(0);
  });
});

describe('Avatar', () => {
  it('shows a peer\'s picture by the hash in its profile, else the initials', async () => {
    const b = new FakeBackend();
    const ada = peerInfo(ADA_ID, 'Ada');
    ada.profile!.avatar = HASH;
    b.on.list_peers.mockResolvedValue([ada, peerInfo(BOB_ID, 'Bob')]);
    await mount(b, '#/peers');
    await waitFor(() => expect($$('peer-row')).toHaveLength(2));
    const row = (id: string) => $$('peer-row').find((r) => r.dataset.peerId === id)!;
    await waitFor(() => expect(b.avatarUrl).toHaveBeenCalledWith(HASH));
    expect(row(ADA_ID).querySelector<HTMLElement>('.avatar')!.dataset.avatar).toBe(HASH);
    expect(pictures(row(BOB_ID))).toHaveLength(0);
    expect(row(BOB_ID).querySelector('.avatar')!.textContent).toBe('B');

  });

  it('falls back to the initials when the picture does not load (not fetched yet)', async () => {
    const b = new FakeBackend();
    const el = document.createElement('div');
    document.body.appendChild(el);
    render(
      <BackendContext.Provider value={b}>
        <Avatar id={ADA_ID} name="Ada" avatar={HASH} />
        <Avatar id={BOB_ID} name="Bob" avatar={null} />
      </BackendContext.Provider>,
      el,
    );
    const [img] = pictures(el);
    expect(img.getAttribute('src')).toBe(`/avatars/${HASH}?token=t`);
    expect(el.querySelectorAll('.avatar')[1].textContent).toBe('B');
    img.dispatchEvent(new Event('error'));
    await waitFor(() => expect(pictures(el)).toHaveLength(0));
    expect(el.querySelector('.avatar')!.textContent).toBe('A');
    render(null, el);
    el.remove();
  });
});
