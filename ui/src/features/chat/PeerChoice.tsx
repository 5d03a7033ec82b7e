import type { PeerInfo } from '../../api/types';
import { peerName } from '../peers/peers';
import { Avatar } from '../../components/common';

/**
 * Known peers to choose from: one (`multiple` false: picking another replaces it) or several
 * (check boxes). Each row has the test id `<testPrefix><peer id>`.
 */
export function PeerChoice({
  peers,
  selected,
  onToggle,
  multiple,
  testPrefix,
  empty,
}: {
  peers: PeerInfo[];
  selected: ReadonlySet<string>;
  onToggle: (peerId: string) => void;
  multiple: boolean;
  testPrefix: string;
  empty: string;
}) {
  if (peers.length === 0) return <p class="hint peer-choice-empty">{empty}</p>;
  return (
    <ul class="peer-choice" role={multiple ? 'group' : 'radiogroup'}>
      {peers.map((p) => {
        const name = peerName(p);
        const named = !!p.profile?.display_name.trim();
        const checked = selected.has(p.peer_id);
        return (
          <li key={p.peer_id}>
            <label class={checked ? 'peer-choice-row is-checked' : 'peer-choice-row'}>
              <input
                type={multiple ? 'checkbox' : 'radio'}
                name={testPrefix}
                checked={checked}
                onChange={() => onToggle(p.peer_id)}
                data-testid={`${testPrefix}${p.peer_id}`}
              />
              <span class="peer-avatar">
                <Avatar id={p.peer_id} name={named ? name : null} size={28} />
                <span class={p.online ? 'presence presence-on' : 'presence presence-off'} aria-hidden="true" />
              </span>
              <span class={named ? 'peer-choice-name' : 'peer-choice-name mono'}>{name}</span>
              <span class="peer-choice-state">{p.online ? 'online' : 'offline'}</span>
            </label>
          </li>
        );
      })}
    </ul>
  );
}
