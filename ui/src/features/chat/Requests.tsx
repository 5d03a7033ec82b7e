import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ChatRequest, ChatRequests } from '../../api/types';
import { Avatar } from '../../components/common';
import { HashIcon } from '../../components/icons';
import { useBackend, useNodeEvents } from '../../context';
import { snippet } from '../../util/format';
import { shortId } from '../peers/peers';
import { convHref } from './chat';
import { usePersonName } from './people';

/** How many requests wait (0 while chat is locked), kept live by `requests_changed`. */
export function useRequestCount(unlocked: boolean): number {
  const backend = useBackend();
  const [count, setCount] = useState(0);
  const [asked, setAsked] = useState(0);
  useEffect(() => {
    if (!unlocked) {
      setCount(0);
      return;
    }
    let live = true;
    backend.call('list_requests').then(
      (l) => live && setCount(l.requests.length),
      () => {
        // the node restarting: the next event asks again
      },
    );
    return () => {
      live = false;
    };
  }, [backend, unlocked, asked]);
  useNodeEvents((e) => {
    if (e.type === 'requests_changed') setCount(e.pending);
    if (e.type === 'resync') setAsked((n) => n + 1);
  });
  return count;
}

/** Texts shown of one request; the rest are counted. */
const SHOWN = 3;

/**
 * Requests: direct messages and room invitations from people never talked with. They are
 * not conversations until accepted; declining drops them, and what that person sends later.
 */
export function Requests() {
  const backend = useBackend();
  const [list, setList] = useState<ChatRequests | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(
    () =>
      backend.call('list_requests').then(
        (l) => setList(l),
        () => {
          // chat locked or the node restarting: the next event or visit loads them
        },
      ),
    [backend],
  );
  useEffect(() => void load(), [load]);
  useNodeEvents((e) => {
    if (e.type === 'requests_changed' || e.type === 'resync' || e.type === 'chat_status_changed') void load();
  });

  const answer = async (r: ChatRequest, accept: boolean) => {
    setError(null);
    try {
      await backend.call('answer_request', { peer_id: r.peer_id, accept });
      setList((l) => l && { ...l, requests: l.requests.filter((x) => x.peer_id !== r.peer_id) });
      if (accept && r.messages.length > 0) location.hash = convHref({ kind: 'dm', id: r.peer_id });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  if (!list || list.requests.length === 0) return null;
  return (
    <section class="chat-requests" aria-label="Requests" data-testid="chat-requests">
      <h2 class="chat-list-title">
        Requests <span class="chip chat-requests-count">{list.requests.length}</span>
      </h2>
      <p class="chat-requests-hint">From people you have not talked with yet. They are not told whether you read, accept or decline.</p>
      {error && (
        <p class="notice notice-err" role="alert">
          {error}
        </p>
      )}
      <ul class="list-col chat-items">
        {list.requests.map((r) => (
          <RequestItem key={r.peer_id} request={r} onAnswer={(accept) => void answer(r, accept)} />
        ))}
      </ul>
    </section>
  );
}

function RequestItem({ request, onAnswer }: { request: ChatRequest; onAnswer: (accept: boolean) => void }) {
  const nameOf = usePersonName();
  const name = request.display_name ?? nameOf(request.peer_id);
  const named = name !== shortId(request.peer_id);
  const shown = request.messages.slice(-SHOWN);
  const more = request.messages.length - shown.length;
  return (
    <li class="chat-request" data-testid={`request-${request.peer_id}`}>
      <div class="chat-request-who">
        <span class="peer-avatar">
          <Avatar id={request.peer_id} name={named ? name : null} size={30} />
          <span class={request.online ? 'presence presence-on' : 'presence presence-off'} aria-label={request.online ? 'online' : 'offline'} />
        </span>
        <span class={named ? 'chat-item-label' : 'chat-item-label mono'}>{name}</span>
      </div>
      {more > 0 && <p class="chat-request-more">{more} earlier {more === 1 ? 'message' : 'messages'}</p>}
      {shown.map((m) => (
        <p key={m.id} class="chat-request-text" data-testid="request-text">
          {snippet(m.body.replace(/\s+/g, ' '), 160)}
        </p>
      ))}
      {request.invites.map((i) => (
        <p key={i.room_id} class="chat-request-invite" data-testid="request-invite">
          <HashIcon size={14} />
          <span>
            Invites you to <strong>{i.name}</strong> ({i.members} {i.members === 1 ? 'member' : 'members'})
          </span>
        </p>
      ))}
      <div class="chat-request-actions">
        <button type="button" class="btn btn-primary" onClick={() => onAnswer(true)} data-testid={`request-accept-${request.peer_id}`}>
          Accept
        </button>
        <button type="button" class="btn btn-quiet" onClick={() => onAnswer(false)} data-testid={`request-decline-${request.peer_id}`}>
          Decline
        </button>
      </div>
    </li>
  );
}
