import { useState } from 'preact/hooks';
import { describeError } from '../../backend';
import { Modal } from './Modal';
import { PeerChoice } from './PeerChoice';
import { PlusIcon } from '../../components/icons';
import { useBackend, useChatView, useNodeView } from '../../context';
import { sortedPeers } from '../peers/peers';
import { candidatePeers, go } from './people';

export function NewRoomDialog({ onClose }: { onClose: () => void }) {
  const backend = useBackend();
  const chat = useChatView();
  const node = useNodeView();
  const peers = candidatePeers(sortedPeers(node.state), node.state.self?.peer_id ?? null, new Set());
  const [name, setName] = useState('');
  const [members, setMembers] = useState<ReadonlySet<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const toggle = (id: string) =>
    setMembers((old) => {
      const next = new Set(old);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const n = name.trim();
    if (!n || busy) return;
    setBusy(true);
    setError(null);
    try {
      const room = await backend.call('create_room', { name: n, members: [...members] });
      chat.upsertRoom(room);
      onClose();
      go({ kind: 'room', id: room.room_id });
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <Modal title="New room" onClose={onClose} testId="new-room-dialog">
      <form class="modal-form" onSubmit={onSubmit}>
        <label class="field">
          <span class="field-label">Name</span>
          <input
            class="input"
            type="text"
            maxLength={100}
            placeholder="e.g. Reading group"
            autoFocus
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            data-testid="new-room-name"
          />
        </label>
        <div class="field">
          <span class="field-label">Members {members.size > 0 && `· ${members.size} chosen`}</span>
          <PeerChoice
            peers={peers}
            selected={members}
            onToggle={toggle}
            multiple
            testPrefix="new-room-member-"
            empty="Your node knows no peers yet. You can create the room now and invite people later."
          />
        </div>
        {error && (
          <p class="form-msg err" role="alert">
            {error}
          </p>
        )}
        <div class="modal-foot">
          <button type="button" class="btn btn-quiet" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy || !name.trim()} data-testid="new-room-create">
            <PlusIcon size={16} />
            {busy ? 'Creating…' : 'Create room'}
          </button>
        </div>
      </form>
    </Modal>
  );
}
