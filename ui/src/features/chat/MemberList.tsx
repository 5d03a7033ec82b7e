import type { RoomInfo } from '../../api/types';
import { Avatar } from '../../components/common';
import { shortId } from '../peers/peers';
import { usePersonName } from './people';

export function MemberList({
  room,
  selfId,
  isOnline,
}: {
  room: RoomInfo;
  selfId: string | null;
  isOnline: (peerId: string) => boolean;
}) {
  const nameOf = usePersonName();
  const members = [...room.members].sort((a, b) => {
    const ah = a.peer_id === room.host;
    const bh = b.peer_id === room.host;
    if (ah !== bh) return ah ? -1 : 1;
    const ao = isOnline(a.peer_id);
    const bo = isOnline(b.peer_id);
    if (ao !== bo) return ao ? -1 : 1;
    return nameOf(a.peer_id).localeCompare(nameOf(b.peer_id), undefined, { sensitivity: 'base' });
  });
  return (
    <aside class="conv-members" aria-label="Members">
      <h3>Members · {members.length}</h3>
      <ul class="list-col" data-testid="room-members">
        {members.map((m) => {
          const name = m.peer_id === selfId ? nameOf(m.peer_id) : m.display_name?.trim() || nameOf(m.peer_id);
          const named = name !== shortId(m.peer_id);
          const online = isOnline(m.peer_id);
          const host = m.host || m.peer_id === room.host;
          return (
            <li
              key={m.peer_id}
              class={online ? 'member' : 'member is-offline'}
              data-testid={`room-member-${m.peer_id}`}
              data-host={host ? 'true' : 'false'}
              data-online={online ? 'true' : 'false'}
            >
              <span class="peer-avatar">
                <Avatar id={m.peer_id} name={named ? name : null} size={26} />
                <span class={online ? 'presence presence-on' : 'presence presence-off'} aria-label={online ? 'online' : 'offline'} />
              </span>
              <span class="member-text">
                <span class={named ? 'member-name' : 'member-name mono'} title={m.peer_id}>
                  {name}
                  {m.peer_id === selfId && name !== 'You' && <span class="muted"> (you)</span>}
                </span>
                {(host || m.creator || m.peer_id === room.creator) && (
                  <span class="member-badges">
                    {host && (
                      <span class="chip chip-accent" title="Orders and relays the room's messages" data-testid="member-host">
                        host
                      </span>
                    )}
                    {(m.creator || m.peer_id === room.creator) && (
                      <span class="chip" title="Created the room" data-testid="member-creator">
                        creator
                      </span>
                    )}
                  </span>
                )}
              </span>
            </li>
          );
        })}
      </ul>
    </aside>
  );
}
