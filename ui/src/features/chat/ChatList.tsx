import { useState } from 'preact/hooks';
import type { ChatMessage, DmConversation, RoomInfo } from '../../api/types';
import { Avatar } from '../../components/common';
import { EditIcon, HashIcon, PlusIcon } from '../../components/icons';
import { useChatView, useNodeView } from '../../context';
import { convHref, sameConv, sortedDms, sortedRooms, systemText, type ConvKey } from './chat';
import { shortId } from '../peers/peers';
import { snippet } from '../../util/format';
import { NewDmDialog } from './NewDmDialog';
import { NewRoomDialog } from './NewRoomDialog';
import { Requests } from './Requests';
import { usePersonName } from './people';

/** What a conversation's last message says, for the list. */
function preview(m: ChatMessage | null, nameOf: (id: string) => string, selfId: string | null, inRoom: boolean): string {
  if (!m) return '';
  if (m.kind !== 'text') return systemText(m, nameOf, selfId);
  const text = snippet(m.body.replace(/\s+/g, ' '), 80);
  if (m.mine) return `You: ${text}`;
  return inRoom ? `${nameOf(m.sender)}: ${text}` : text;
}

export function ChatList({ open }: { open: ConvKey | null }) {
  const chat = useChatView();
  const node = useNodeView();
  const nameOf = usePersonName();
  const [dialog, setDialog] = useState<'room' | 'dm' | null>(null);
  const rooms = sortedRooms(chat.state);
  const dms = sortedDms(chat.state);
  const selfId = node.state.self?.peer_id ?? null;
  // A direct conversation just started has no message yet, so the node does not list it.
  const draftDm = open?.kind === 'dm' && !chat.state.dms[open.id] ? open.id : null;

  return (
    <aside class="chat-list" aria-label="Conversations">
      <div class="chat-list-head">
        <h1>Chat</h1>
        <div class="chat-list-actions">
          <button type="button" class="btn btn-quiet" onClick={() => setDialog('room')} data-testid="chat-new-room" title="Start a group room">
            <PlusIcon size={15} />
            New room
          </button>
          <button type="button" class="btn btn-quiet" onClick={() => setDialog('dm')} data-testid="chat-new-dm" title="Write to one person">
            <EditIcon size={15} />
            New message
          </button>
        </div>
      </div>
      <div class="chat-list-scroll">
        <Requests />
        <h2 class="chat-list-title">Rooms</h2>
        {rooms.length === 0 ? (
          <p class="chat-list-empty">{chat.state.loaded ? 'No rooms yet.' : 'Loading…'}</p>
        ) : (
          <ul class="list-col chat-items" data-testid="room-list">
            {rooms.map((r) => (
              <RoomItem
                key={r.room_id}
                room={r}
                active={sameConv(open, { kind: 'room', id: r.room_id })}
                text={preview(r.last_message, nameOf, selfId, true)}
              />
            ))}
          </ul>
        )}
        <h2 class="chat-list-title">Direct messages</h2>
        {dms.length === 0 && !draftDm ? (
          <p class="chat-list-empty">{chat.state.loaded ? 'No conversations yet.' : 'Loading…'}</p>
        ) : (
          <ul class="list-col chat-items" data-testid="dm-list">
            {draftDm && <DmItem peerId={draftDm} conv={null} active text="New conversation" />}
            {dms.map((d) => (
              <DmItem
                key={d.peer_id}
                peerId={d.peer_id}
                conv={d}
                active={sameConv(open, { kind: 'dm', id: d.peer_id })}
                text={preview(d.last_message, nameOf, selfId, false)}
              />
            ))}
          </ul>
        )}
      </div>
      {dialog === 'room' && <NewRoomDialog onClose={() => setDialog(null)} />}
      {dialog === 'dm' && <NewDmDialog onClose={() => setDialog(null)} />}
    </aside>
  );
}

function RoomItem({ room, active, text }: { room: RoomInfo; active: boolean; text: string }) {
  const gone = room.deleted ? 'deleted' : room.left || room.muted ? 'left' : null;
  const classes = ['chat-item'];
  if (active) classes.push('active');
  if (gone) classes.push('is-gone');
  if (room.unread > 0) classes.push('has-unread');
  return (
    <li>
      <a
        class={classes.join(' ')}
        href={convHref({ kind: 'room', id: room.room_id })}
        aria-current={active ? 'page' : undefined}
        data-testid={`room-item-${room.room_id}`}
      >
        <span class="chat-item-icon">
          <HashIcon size={16} />
        </span>
        <span class="chat-item-text">
          <span class="chat-item-name">
            <span class="chat-item-label" data-testid="room-name">
              {room.name}
            </span>
            {gone && (
              <span class="chip chat-item-mark" data-testid={`room-${gone}-${room.room_id}`}>
                {gone}
              </span>
            )}
          </span>
          {text && <span class="chat-item-preview">{text}</span>}
        </span>
        {room.unread > 0 && (
          <span class="unread-badge" aria-label={`${room.unread} unread`} data-testid={`room-unread-${room.room_id}`}>
            {room.unread > 99 ? '99+' : room.unread}
          </span>
        )}
      </a>
    </li>
  );
}

function DmItem({
  peerId,
  conv,
  active,
  text,
}: {
  peerId: string;
  conv: DmConversation | null;
  active: boolean;
  text: string;
}) {
  const node = useNodeView();
  const nameOf = usePersonName();
  const name = nameOf(peerId);
  const named = name !== shortId(peerId);
  const online = node.state.peers[peerId]?.online ?? conv?.online ?? false;
  const unread = conv?.unread ?? 0;
  const classes = ['chat-item'];
  if (active) classes.push('active');
  if (unread > 0) classes.push('has-unread');
  return (
    <li>
      <a
        class={classes.join(' ')}
        href={convHref({ kind: 'dm', id: peerId })}
        aria-current={active ? 'page' : undefined}
        data-testid={`dm-item-${peerId}`}
      >
        <span class="peer-avatar">
          <Avatar id={peerId} name={named ? name : null} size={30} />
          <span class={online ? 'presence presence-on' : 'presence presence-off'} aria-label={online ? 'online' : 'offline'} />
        </span>
        <span class="chat-item-text">
          <span class="chat-item-name">
            <span class={named ? 'chat-item-label' : 'chat-item-label mono'}>{name}</span>
          </span>
          {text && <span class="chat-item-preview">{text}</span>}
        </span>
        {unread > 0 && (
          <span class="unread-badge" aria-label={`${unread} unread`} data-testid={`dm-unread-${peerId}`}>
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </a>
    </li>
  );
}
