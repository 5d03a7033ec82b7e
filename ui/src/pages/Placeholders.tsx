import { EmptyState, PageHeader } from '../components/common';
import { ChatIcon } from '../components/icons';
import { useNodeView } from '../context';
import { href } from '../router';
import { onlineCount } from '../store/peers';

function PeersHint() {
  const { state } = useNodeView();
  const n = onlineCount(state);
  return (
    <p class="hint">
      {n === 0
        ? 'No peers are online right now. '
        : `${n} ${n === 1 ? 'peer is' : 'peers are'} online right now. `}
      <a href={href('peers')}>See who is around</a>
    </p>
  );
}

export function ChatPage() {
  return (
    <section class="page" data-testid="page-chat">
      <PageHeader title="Chat" subtitle="Conversations with your peers" />
      <EmptyState icon={<ChatIcon size={30} />} title="No conversations yet">
        <p>
          Direct messages and group discussions with people on the network will appear here.
          Messages go from peer to peer, without a server in between.
        </p>
        <p>Chat is not part of this version of Hearth yet.</p>
        <PeersHint />
      </EmptyState>
    </section>
  );
}
