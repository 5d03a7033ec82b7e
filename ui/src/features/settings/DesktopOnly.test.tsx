// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { FakeBackend } from '../../test/fake';
import { $, mount, root, setupApp, submit, type } from '../../test/app';
import { waitFor } from '../../test/dom';

setupApp();

/** Ticks or unticks a checkbox as a person does. */
function tick(box: HTMLInputElement, on: boolean): void {
  if (box.checked !== on) box.click();
}

const none = (testId: string) => expect(root.querySelector(`[data-testid="${testId}"]`)).toBeNull();

describe('Chat passphrase in the system keyring (desktop only)', () => {
  it('has no "remember" box where there is no keyring (a browser on a headless node)', async () => {
    const b = new FakeBackend();
    b.chatUnlocked = false;
    await mount(b, '#/chat');
    await waitFor(() => $('chat-unlock-passphrase'));
    none('chat-unlock-remember');
  });

  it('remembers the passphrase when the box is ticked, and only then', async () => {
    const b = new FakeBackend();
    b.chatUnlocked = false;
    b.keyring = {};
    await mount(b, '#/chat');
    const box = await waitFor(() => $('chat-unlock-remember') as HTMLInputElement);
    expect(box.checked).toBe(false);
    tick(box, true);
    await type($('chat-unlock-passphrase') as HTMLInputElement, b.chatPassphrase!);
    submit($('chat-unlock-submit'));
    await waitFor(() => $('chat-new-room'));
    expect(b.keyring.secret).toBe(b.chatPassphrase);

    // Not ticked: nothing is stored.
    const c = new FakeBackend();
    c.chatUnlocked = false;
    c.keyring = {};
    await mount(c, '#/chat');
    await waitFor(() => $('chat-unlock-remember'));
    await type($('chat-unlock-passphrase') as HTMLInputElement, c.chatPassphrase!);
    submit($('chat-unlock-submit'));
    await waitFor(() => $('chat-new-room'));
    expect(c.keyring.secret).toBeUndefined();
  });

  it('says so when the keyring is missing, before unlocking', async () => {
    const b = new FakeBackend();
    b.chatUnlocked = false;
    b.keyring = { failure: 'The system keyring is not available (is a Secret Service running?)' };
    await mount(b, '#/chat');
    tick(await waitFor(() => $('chat-unlock-remember') as HTMLInputElement), true);
    await type($('chat-unlock-passphrase') as HTMLInputElement, b.chatPassphrase!);
    submit($('chat-unlock-submit'));
    await waitFor(() => expect($('chat-unlock-error').textContent).toMatch(/cannot be remembered: .*keyring is not available/));
    expect(b.on.unlock_chat).not.toHaveBeenCalled();
    expect(b.keyring.secret).toBeUndefined();
  });

  it('forgets a remembered passphrase that does not unlock', async () => {
    const b = new FakeBackend();
    b.chatUnlocked = false;
    b.keyring = {};
    await mount(b, '#/chat');
    tick(await waitFor(() => $('chat-unlock-remember') as HTMLInputElement), true);
    await type($('chat-unlock-passphrase') as HTMLInputElement, 'wrong passphrase');
    submit($('chat-unlock-submit'));
    await waitFor(() => $('chat-unlock-error'));
    expect(b.keyring.secret).toBeUndefined();
  });
});

describe('Start at login (desktop only)', () => {
  it('is not offered in a browser', async () => {
    const b = new FakeBackend();
    await mount(b, '#/settings');
    await waitFor(() => $('notifications-card'));
    none('autostart-setting');
  });

  it('shows the current state and turns it on and off', async () => {
    const b = new FakeBackend();
    b.startsAtLogin = false;
    await mount(b, '#/settings');
    const toggle = await waitFor(() => {
      const el = $('autostart') as HTMLInputElement;
      expect(el.disabled).toBe(false);
      return el;
    });
    expect(toggle.checked).toBe(false);
    toggle.click();
    await waitFor(() => expect(b.startsAtLogin).toBe(true));
    await waitFor(() => expect(($('autostart') as HTMLInputElement).checked).toBe(true));
    ($('autostart') as HTMLInputElement).click();
    await waitFor(() => expect(b.startsAtLogin).toBe(false));
  });
});
