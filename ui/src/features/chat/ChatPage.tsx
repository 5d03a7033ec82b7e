import { EmptyState, PageHeader } from '../../components/common';
import { ChatIcon, RefreshIcon } from '../../components/icons';
import { useChatView, useNodeView } from '../../context';
import { href } from '../../router';
import { parseConv } from './chat';
import { onlineCount } from '../peers/peers';
import { ChatList } from './ChatList';
import { Conversation } from './Conversation';
import { UnlockForm } from './UnlockForm';
import './chat.css';

/** The chat route's parameter: `room/<id>`, `dm/<peer id>` or nothing. */
export function ChatPage({ param }: { param: string | null }) {
  const chat = useChatView();
  const status = chat.state.status;
  const open = parseConv(param);

  if (status === null) {
    return (
      <section class="page" data-testid="page-chat">
        <PageHeader title="Chat" subtitle="Conversations with your peers" />
        {chat.error ? (
          <div class="notice notice-err notice-block" role="alert" data-testid="chat-error">
            <span>Cannot load chat: {chat.error}</span>
            <button type="button" class="btn btn-quiet" onClick={() => void chat.refresh()}>
              <RefreshIcon size={15} />
              Retry
            </button>
          </div>
        ) : (
          <p class="hint">Loading chat…</p>
        )}
      </section>
    );
  }

  if (!status.unlocked) {
    return (
      <section class="page" data-testid="page-chat">
        <PageHeader title="Chat" subtitle="Conversations with your peers" />
        <UnlockForm choosing={!status.has_passphrase} />
      </section>
    );
  }

  return (
    <section class="page page-chat" data-testid="page-chat">
      <div class="chat-layout card">
        <ChatList open={open} />
        {open ? <Conversation key={`${open.kind}/${open.id}`} conv={open} /> : <NoConversation />}
      </div>
    </section>
  );
}

function NoConversation() {
  const { state } = useNodeView();
  const n = onlineCount(state);
  return (
    <div class="conv conv-none">
      <EmptyState icon={<ChatIcon size={30} />} title="Pick a conversation" testId="chat-none">
        <p>
          Write to one person with <strong>New message</strong>, or start a group with <strong>New room</strong>.
          Messages go from peer to peer, without a server in between, and wait for people who are offline.
        </p>
        <p class="hint">
          {n === 0 ? 'No peers are online right now. ' : `${n} ${n === 1 ? 'peer is' : 'peers are'} online right now. `}
          <a href={href('peers')}>See who is around</a>
        </p>
      </EmptyState>
    </div>
  );
}

