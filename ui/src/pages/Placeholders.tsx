import { EmptyState, PageHeader } from '../components/common';
import { ChatIcon, CompassIcon, DownloadIcon, LibraryIcon } from '../components/icons';
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

export function ExplorePage() {
  return (
    <section class="page" data-testid="page-explore">
      <PageHeader title="Explore" subtitle="What people on the network share" />
      <EmptyState icon={<CompassIcon size={30} />} title="Nothing to explore yet">
        <p>
          Papers, datasets, notes and recordings that your peers publish will appear here, with
          search across everything shared on the network.
        </p>
        <p>Publishing and search are not part of this version of Hearth yet.</p>
        <PeersHint />
      </EmptyState>
    </section>
  );
}

export function LibraryPage() {
  return (
    <section class="page" data-testid="page-library">
      <PageHeader title="Library" subtitle="What you publish and keep" />
      <EmptyState icon={<LibraryIcon size={30} />} title="Your library is empty">
        <p>
          The items you publish from this node, and the ones you keep from others, will be listed
          here with who can see them.
        </p>
        <p>Publishing is not part of this version of Hearth yet.</p>
      </EmptyState>
    </section>
  );
}

export function DownloadsPage() {
  return (
    <section class="page" data-testid="page-downloads">
      <PageHeader title="Downloads" subtitle="Transfers and streams" />
      <EmptyState icon={<DownloadIcon size={30} />} title="No downloads">
        <p>
          Files you fetch or stream from peers will show here while they transfer, with their
          progress, speed and the peers they come from.
        </p>
      </EmptyState>
    </section>
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
