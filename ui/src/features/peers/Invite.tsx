import { useEffect, useState } from 'preact/hooks';
import type { InviteInfo, Joined } from '../../api/types';
import { describeError } from '../../backend';
import { CopyButton } from '../../components/common';
import { LinkIcon, PlusIcon } from '../../components/icons';
import { useBackend, useNodeView } from '../../context';
import { linkLabel } from './peers';

/** What an invite's reach is called on its chip. */
const REACH_LABEL: Record<string, string> = {
  internet: 'works from anywhere',
  relayed: 'through a relay',
  local_network: 'local network only',
  this_computer: 'this computer only',
};

/** "Invite someone": makes an invite to this node, to copy and send to a friend. */
export function InviteCard() {
  const backend = useBackend();
  const [invite, setInvite] = useState<InviteInfo | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const make = async () => {
    setBusy(true);
    setError(null);
    try {
      setInvite(await backend.call('create_invite'));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="invite" data-testid="invite-card">
      <div class="invite-head">
        <span class="field-label">Invite someone</span>
        <button type="button" class="btn" onClick={make} disabled={busy} data-testid="invite-create">
          <PlusIcon size={16} />
          {invite ? 'Make a fresh invite' : 'Make an invite'}
        </button>
      </div>
      {!invite && !error && (
        <p class="invite-help">
          An invite is a line of text with your node’s addresses, relayed ones included. Send it to a friend; they
          paste it under “Join with an invite”.
        </p>
      )}
      {invite && (
        <>
          <div class="invite-line">
            <textarea
              class="input mono invite-text"
              readOnly
              rows={3}
              value={invite.text}
              onFocus={(e) => e.currentTarget.select()}
              aria-label="Your invite"
              data-testid="invite-text"
            />
            <CopyButton text={invite.text} label="Copy invite" testId="invite-copy" />
          </div>
          <p class="invite-help" data-testid="invite-reach">
            <span class={invite.reach === 'internet' || invite.reach === 'relayed' ? 'chip' : 'chip chip-warn'}>
              {REACH_LABEL[invite.reach] ?? invite.reach}
            </span>{' '}
            {invite.explanation}
          </p>
        </>
      )}
      {error && (
        <p class="form-msg err" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * "Join with an invite": pastes a friend's invite and connects to their node. `initial`: an
 * invite handed to the app (an opened `hearth:invite/…` link), shown for the user to confirm.
 */
export function JoinForm({ initial = null }: { initial?: string | null }) {
  const backend = useBackend();
  const { refresh } = useNodeView();
  const [text, setText] = useState(initial ?? '');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    if (initial) {
      setText(initial);
      setResult(null);
    }
  }, [initial]);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const value = text.trim();
    if (!value) return;
    setBusy(true);
    setResult(null);
    try {
      const joined = await backend.call('join', { invite: value });
      setText('');
      setResult({ ok: true, text: joinedText(joined) });
      await refresh();
    } catch (err) {
      setResult({ ok: false, text: describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="invite" onSubmit={onSubmit} data-testid="join-form">
      <label class="field-label" for="join-invite">
        Join with an invite
      </label>
      <div class="input-row">
        <textarea
          id="join-invite"
          class="input mono invite-text"
          rows={2}
          placeholder="hearth:invite/…"
          spellcheck={false}
          value={text}
          onInput={(e) => {
            setText(e.currentTarget.value);
            setResult(null);
          }}
          data-testid="join-invite"
        />
        <button class="btn btn-primary" type="submit" disabled={busy || !text.trim()} data-testid="join-submit">
          <LinkIcon size={16} />
          {busy ? 'Joining…' : 'Join'}
        </button>
      </div>
      {result && (
        <p class={result.ok ? 'form-msg ok' : 'form-msg err'} role="status" data-testid="join-result">
          {result.text}
        </p>
      )}
    </form>
  );
}

/** The sentence shown once an invite worked. */
export function joinedText(joined: Joined): string {
  const who = joined.name.trim() || joined.peer_id;
  const how = joined.connection ? ` (${linkLabel(joined.connection)})` : '';
  return joined.already_connected ? `Already connected to ${who}${how}.` : `Connected to ${who}${how}.`;
}
