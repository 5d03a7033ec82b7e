import { useState } from 'preact/hooks';
import type { RoomInfo } from '../../api/types';
import { describeError } from '../../backend';
import { EditIcon, HashIcon, LogOutIcon, PlusIcon, TrashIcon } from '../../components/icons';
import { useBackend } from '../../context';
import { InviteDialog } from './InviteDialog';
import { usePersonName } from './people';

export function RoomHeader({ room, selfId }: { room: RoomInfo; selfId: string | null }) {
  const backend = useBackend();
  const nameOf = usePersonName();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(room.name);
  const [confirm, setConfirm] = useState<'leave' | 'delete' | null>(null);
  const [inviting, setInviting] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const active = !room.left && !room.deleted && !room.muted;
  const isCreator = selfId !== null && room.creator === selfId;

  const act = async (what: () => Promise<unknown>, after?: () => void) => {
    setBusy(true);
    setError(null);
    try {
      await what();
      after?.();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const rename = (e: Event) => {
    e.preventDefault();
    const n = name.trim();
    if (!n || n === room.name) {
      setEditing(false);
      return;
    }
    void act(() => backend.call('rename_room', { room_id: room.room_id, name: n }), () => setEditing(false));
  };

  const host = room.host ? room.members.find((m) => m.peer_id === room.host) : undefined;
  const hostText = room.is_host ? 'you are the host' : room.host ? `host: ${host?.display_name || nameOf(room.host)}` : 'no host right now';

  return (
    <header class="conv-head">
      <div class="conv-head-row">
        <span class="chat-item-icon conv-icon">
          <HashIcon size={18} />
        </span>
        <div class="conv-title">
          {editing ? (
            <form class="rename-form" onSubmit={rename}>
              <input
                class="input"
                type="text"
                maxLength={100}
                autoFocus
                value={name}
                onInput={(e) => setName(e.currentTarget.value)}
                onKeyDown={(e) => {
                  if (e.key === 'Escape') setEditing(false);
                }}
                data-testid="room-rename-input"
              />
              <button type="submit" class="btn btn-primary btn-sm" disabled={busy || !name.trim()} data-testid="room-rename-save">
                Save
              </button>
              <button type="button" class="btn btn-quiet btn-sm" onClick={() => setEditing(false)}>
                Cancel
              </button>
            </form>
          ) : (
            <h2 data-testid="conv-title">
              <span>{room.name}</span>
              {active && (
                <button
                  type="button"
                  class="icon-btn"
                  title="Rename the room"
                  aria-label="Rename the room"
                  onClick={() => {
                    setName(room.name);
                    setEditing(true);
                  }}
                  data-testid="room-rename"
                >
                  <EditIcon size={14} />
                </button>
              )}
            </h2>
          )}
          <span class="conv-sub">
            {room.members.length} {room.members.length === 1 ? 'member' : 'members'} · {hostText}
            {room.deleted && <span class="chip chip-danger">deleted</span>}
            {!room.deleted && (room.left || room.muted) && <span class="chip">left</span>}
          </span>
        </div>
        <div class="conv-actions">
          {active && (
            <button type="button" class="btn btn-quiet" onClick={() => setInviting(true)} data-testid="room-invite">
              <PlusIcon size={15} />
              Invite
            </button>
          )}
          {active && (
            <button
              type="button"
              class="btn btn-quiet btn-danger-quiet"
              onClick={() => setConfirm('leave')}
              disabled={busy}
              data-testid="room-leave"
            >
              <LogOutIcon size={15} />
              Leave
            </button>
          )}
          {isCreator && !room.deleted && (
            <button
              type="button"
              class="btn btn-quiet btn-danger-quiet"
              onClick={() => setConfirm('delete')}
              disabled={busy}
              data-testid="room-delete"
            >
              <TrashIcon size={15} />
              Delete
            </button>
          )}
        </div>
      </div>
      {confirm && (
        <div class="confirm conv-confirm" role="alertdialog" data-testid={`room-${confirm}-confirmation`}>
          <span class="confirm-q">
            {confirm === 'leave'
              ? `Leave “${room.name}”? You will stop receiving its messages; its history stays here.`
              : `Delete “${room.name}” for everyone? No one can write in it afterwards.`}
          </span>
          <button
            type="button"
            class="btn btn-danger btn-sm"
            disabled={busy}
            onClick={() =>
              void act(
                () => (confirm === 'leave' ? backend.call('leave_room', { room_id: room.room_id }) : backend.call('delete_room', { room_id: room.room_id })),
                () => setConfirm(null),
              )
            }
            data-testid={`room-${confirm}-confirm`}
          >
            {confirm === 'leave' ? 'Leave room' : 'Delete room'}
          </button>
          <button type="button" class="btn btn-quiet btn-sm" onClick={() => setConfirm(null)} disabled={busy}>
            Cancel
          </button>
        </div>
      )}
      {error && (
        <p class="form-msg err conv-head-error" role="alert" data-testid="room-action-error">
          {error}
        </p>
      )}
      {inviting && <InviteDialog room={room} onClose={() => setInviting(false)} />}
    </header>
  );
}
