import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { describeError } from '../../backend';
import { PeerChoice } from './PeerChoice';
import { useNodeView } from '../../context';
import { sortedPeers } from '../peers/peers';
import { candidatePeers, looksLikePeerId } from './people';

/** Choose a known peer or paste a peer id; `onPick` gets the id chosen. */
export function PickPeerForm({
  exclude,
  prefix,
  submitLabel,
  busyLabel,
  submitIcon,
  emptyText,
  onPick,
  onClose,
}: {
  exclude: ReadonlySet<string>;
  /** Test ids: `<prefix>-peer-<id>`, `<prefix>-peer-id`, and the submit button's. */
  prefix: 'new-dm' | 'invite';
  submitLabel: string;
  busyLabel: string;
  submitIcon: ComponentChildren;
  emptyText: string;
  onPick: (peerId: string) => Promise<void> | void;
  onClose: () => void;
}) {
  const node = useNodeView();
  const selfId = node.state.self?.peer_id ?? null;
  const peers = candidatePeers(sortedPeers(node.state), selfId, exclude);
  const [chosen, setChosen] = useState<string | null>(null);
  const [pasted, setPasted] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const target = pasted.trim() || chosen;

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (!target || busy) return;
    if (pasted.trim()) {
      if (!looksLikePeerId(target)) {
        setError('That does not look like a peer id (it starts with 12D3Koo…).');
        return;
      }
      if (target === selfId) {
        setError('That is your own peer id.');
        return;
      }
      if (exclude.has(target)) {
        setError('That peer is already a member.');
        return;
      }
    }
    setBusy(true);
    setError(null);
    try {
      await onPick(target);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <form class="modal-form" onSubmit={onSubmit}>
      <div class="field">
        <span class="field-label">Known peers</span>
        <PeerChoice
          peers={peers}
          selected={new Set(chosen && !pasted.trim() ? [chosen] : [])}
          onToggle={(id) => {
            setChosen(id);
            setPasted('');
            setError(null);
          }}
          multiple={false}
          testPrefix={`${prefix}-peer-`}
          empty={emptyText}
        />
      </div>
      <label class="field">
        <span class="field-label">Or paste a peer id</span>
        <input
          class="input mono"
          type="text"
          placeholder="12D3Koo…"
          autocomplete="off"
          spellcheck={false}
          value={pasted}
          onInput={(e) => {
            setPasted(e.currentTarget.value);
            setError(null);
          }}
          data-testid={`${prefix}-peer-id`}
        />
      </label>
      {error && (
        <p class="form-msg err" role="alert" data-testid={`${prefix}-error`}>
          {error}
        </p>
      )}
      <div class="modal-foot">
        <button type="button" class="btn btn-quiet" onClick={onClose}>
          Cancel
        </button>
        <button
          type="submit"
          class="btn btn-primary"
          disabled={busy || !target}
          data-testid={prefix === 'new-dm' ? 'new-dm-start' : 'invite-submit'}
        >
          {submitIcon}
          {busy ? busyLabel : submitLabel}
        </button>
      </div>
    </form>
  );
}
