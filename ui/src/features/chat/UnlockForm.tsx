import { useState } from 'preact/hooks';
import { describeError } from '../../backend';
import { LockIcon, RefreshIcon } from '../../components/icons';
import { useBackend, useChatView } from '../../context';
import { MIN_PASSPHRASE } from './chat';

export function UnlockForm({ choosing }: { choosing: boolean }) {
  const backend = useBackend();
  const chat = useChatView();
  const [passphrase, setPassphrase] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [remember, setRemember] = useState(false);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    if (choosing) {
      if (passphrase.length < MIN_PASSPHRASE) {
        setError(`Choose at least ${MIN_PASSPHRASE} characters.`);
        return;
      }
      if (passphrase !== confirm) {
        setError('The two passphrases are not the same.');
        return;
      }
    } else if (!passphrase) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      // Into the keyring first, so that a missing keyring is said here (chat opens as soon
      // as it is unlocked); forgotten again if it does not unlock.
      const keyring = remember ? backend.rememberPassphrase : null;
      if (keyring) {
        try {
          await keyring(passphrase);
        } catch (err) {
          setError(`The passphrase cannot be remembered: ${describeError(err)} Untick the box to unlock without it.`);
          return;
        }
      }
      let status;
      try {
        status = await backend.call('unlock_chat', { passphrase });
      } catch (err) {
        if (keyring) await keyring(null).catch(() => {});
        throw err;
      }
      if (!status.unlocked) {
        setError('Chat is still locked. Try again.');
        if (keyring) await keyring(null).catch(() => {});
      }
      chat.setStatus(status);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card unlock-card" onSubmit={onSubmit} data-testid="chat-unlock">
      <div class="icon-tile unlock-icon">
        <LockIcon size={26} />
      </div>
      <h2>{choosing ? 'Choose a chat passphrase' : 'Unlock your messages'}</h2>
      <p class="hint">
        {choosing
          ? 'Your messages are kept encrypted on this computer under a passphrase. Choose one you will remember: it cannot be recovered.'
          : 'Your messages are kept encrypted on this computer. Enter your chat passphrase to read and send them.'}
      </p>
      <label class="field">
        <span class="field-label">Passphrase</span>
        <input
          class="input"
          type="password"
          autocomplete={choosing ? 'new-password' : 'current-password'}
          autoFocus
          value={passphrase}
          disabled={busy}
          onInput={(e) => {
            setPassphrase(e.currentTarget.value);
            setError(null);
          }}
          data-testid="chat-unlock-passphrase"
        />
      </label>
      {choosing && (
        <label class="field">
          <span class="field-label">Repeat the passphrase</span>
          <input
            class="input"
            type="password"
            autocomplete="new-password"
            value={confirm}
            disabled={busy}
            onInput={(e) => {
              setConfirm(e.currentTarget.value);
              setError(null);
            }}
            data-testid="chat-unlock-confirm"
          />
        </label>
      )}
      {backend.rememberPassphrase && (
        <label class="check-row">
          <input
            type="checkbox"
            checked={remember}
            disabled={busy}
            onClick={(e) => setRemember(e.currentTarget.checked)}
            data-testid="chat-unlock-remember"
          />
          <span>Remember on this computer (in the system keyring), and unlock at start</span>
        </label>
      )}
      {choosing && <p class="form-msg muted">At least {MIN_PASSPHRASE} characters; a few unrelated words work well.</p>}
      {error && (
        <p class="form-msg err" role="alert" data-testid="chat-unlock-error">
          {error}
        </p>
      )}
      <div class="form-footer">
        <button
          class="btn btn-primary"
          type="submit"
          disabled={busy || !passphrase || (choosing && !confirm)}
          data-testid="chat-unlock-submit"
        >
          {busy ? <RefreshIcon size={16} class="spin" /> : <LockIcon size={16} />}
          {busy ? 'Unlocking…' : choosing ? 'Set passphrase' : 'Unlock'}
        </button>
      </div>
    </form>
  );
}
