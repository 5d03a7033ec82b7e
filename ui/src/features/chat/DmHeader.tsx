import { Avatar, CopyButton } from '../../components/common';
import { shortId } from '../peers/peers';
import { usePersonName } from './people';

export function DmHeader({ peerId, online }: { peerId: string; online: boolean }) {
  const nameOf = usePersonName();
  const name = nameOf(peerId);
  const named = name !== shortId(peerId);
  return (
    <header class="conv-head">
      <div class="conv-head-row">
        <span class="peer-avatar">
          <Avatar id={peerId} name={named ? name : null} size={36} />
          <span class={online ? 'presence presence-on' : 'presence presence-off'} aria-hidden="true" />
        </span>
        <div class="conv-title">
          <h2 data-testid="conv-title">
            <span class={named ? '' : 'mono'}>{name}</span>
          </h2>
          <span class="conv-sub">
            <span class={online ? 'status status-on' : 'status status-off'}>
              <span class={online ? 'dot dot-on' : 'dot dot-off'} />
              {online ? 'online' : 'offline'}
            </span>
            <span class="mono" title={peerId}>
              {shortId(peerId)}
            </span>
            <CopyButton text={peerId} label="Copy peer id" />
          </span>
        </div>
      </div>
    </header>
  );
}
