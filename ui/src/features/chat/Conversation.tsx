import { useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import type { ChatMessage, HistoryPage } from '../../api/types';
import { ApiError, describeError } from '../../backend';
import { MessageLine } from './MessageLine';
import { AlertIcon, UserIcon } from '../../components/icons';
import { useBackend, useChatView, useNodeEvents, useNodeView, useNow } from '../../context';
import { HISTORY_PAGE, convReducer, emptyConv, oldestSeq, systemText, toLines, type ConvKey } from './chat';
import { onlineCount } from '../peers/peers';
import { Composer } from './Composer';
import { DmHeader } from './DmHeader';
import { MemberList } from './MemberList';
import { RoomHeader } from './RoomHeader';
import { usePersonName } from './people';

export function Conversation({ conv }: { conv: ConvKey }) {
  const backend = useBackend();
  const chat = useChatView();
  const node = useNodeView();
  const now = useNow(60_000);
  const nameOf = usePersonName();
  const selfId = node.state.self?.peer_id ?? null;
  const room = conv.kind === 'room' ? (chat.state.rooms[conv.id] ?? null) : null;
  const dm = conv.kind === 'dm' ? (chat.state.dms[conv.id] ?? null) : null;
  const [state, dispatch] = useReducer(convReducer, { ...emptyConv, key: conv });
  const [missing, setMissing] = useState<string | null>(null);
  const [loadingEarlier, setLoadingEarlier] = useState(false);
  const earlierBusy = useRef(false);
  const listRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const restore = useRef<{ height: number; top: number } | null>(null);

  const history = (before: number | null): Promise<HistoryPage> =>
    conv.kind === 'room'
      ? backend.call('room_history', { room_id: conv.id, before, limit: HISTORY_PAGE })
      : backend.call('dm_history', { peer_id: conv.id, before, limit: HISTORY_PAGE });

  const loadNewest = async () => {
    try {
      const page = await history(null);
      dispatch({ type: 'page', key: conv, messages: page.messages, more: page.more, older: false });
    } catch (e) {
      if (conv.kind === 'dm' && e instanceof ApiError && e.code === 'not_found') {
        // No message with this peer yet.
        dispatch({ type: 'page', key: conv, messages: [], more: false, older: false });
      } else {
        dispatch({ type: 'error', key: conv, error: describeError(e) });
      }
    }
  };

  useEffect(() => {
    void loadNewest();
  }, []);

  useNodeEvents((event) => {
    if (event.type === 'resync') void loadNewest();
    else dispatch({ type: 'event', event });
  });

  // A room the list does not have (yet): ask for it.
  useEffect(() => {
    if (conv.kind !== 'room' || room || !chat.state.loaded) return;
    backend.call('get_room', { room_id: conv.id }).then(
      (r) => chat.upsertRoom(r),
      (e: unknown) => setMissing(describeError(e)),
    );
  }, [conv.kind, conv.id, !!room, chat.state.loaded]);

  const loadEarlier = async () => {
    const before = oldestSeq(state.messages);
    if (earlierBusy.current || !state.more || before === null) return;
    earlierBusy.current = true;
    setLoadingEarlier(true);
    const el = listRef.current;
    try {
      const page = await history(before);
      if (el) restore.current = { height: el.scrollHeight, top: el.scrollTop };
      dispatch({ type: 'page', key: conv, messages: page.messages, more: page.more, older: true });
    } catch (e) {
      dispatch({ type: 'error', key: conv, error: describeError(e) });
    } finally {
      earlierBusy.current = false;
      setLoadingEarlier(false);
    }
  };

  // Stay at the bottom when already there; keep the place when older messages come in above.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const r = restore.current;
    restore.current = null;
    if (r) el.scrollTop = el.scrollHeight - r.height + r.top;
    else if (atBottom.current) el.scrollTop = el.scrollHeight;
  }, [state.messages, state.loaded]);

  const onScroll = () => {
    const el = listRef.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    if (el.scrollTop < 24 && state.more) void loadEarlier();
  };

  // Opening a conversation, and each new message while it is in front, marks it read.
  const lastTheirs = useMemo(() => {
    for (let i = state.messages.length - 1; i >= 0; i--) {
      if (!state.messages[i]!.mine) return state.messages[i]!.id;
    }
    return null;
  }, [state.messages]);
  useEffect(() => {
    if (!state.loaded) return;
    const mark = () => {
      if (document.visibilityState !== 'hidden') chat.markRead(conv);
    };
    mark();
    document.addEventListener('visibilitychange', mark);
    return () => document.removeEventListener('visibilitychange', mark);
  }, [state.loaded, lastTheirs]);

  const send = async (body: string) => {
    const m =
      conv.kind === 'room' ? await backend.call('send_message', { room_id: conv.id, body }) : await backend.call('send_dm', { peer_id: conv.id, body });
    atBottom.current = true;
    dispatch({ type: 'messages', key: conv, messages: [m] });
  };

  const lines = useMemo(() => toLines(state.messages, now), [state.messages, now]);
  const sys = (m: ChatMessage) => systemText(m, nameOf, selfId);

  // Who is reachable.
  const isOnline = (peerId: string): boolean => {
    if (peerId === selfId) return node.connected !== false;
    const p = node.state.peers[peerId];
    if (p) return p.online;
    if (room) return room.members.find((m) => m.peer_id === peerId)?.online ?? false;
    return dm?.online ?? false;
  };
  const nodeOffline = node.connected === false || onlineCount(node.state) === 0;
  const gone = room !== null && (room.left || room.deleted || room.muted);
  let offline = false;
  let peerOffline = false;
  if (conv.kind === 'room') {
    offline = room !== null && !gone && (nodeOffline || (!room.is_host && (room.host === null || !isOnline(room.host))));
  } else {
    offline = nodeOffline;
    peerOffline = !nodeOffline && !isOnline(conv.id);
  }

  let disabledReason: string | null = null;
  if (room?.deleted) disabledReason = 'This room was deleted by its creator. Its history stays readable, but no one can write in it.';
  else if (room?.left || room?.muted) disabledReason = 'You left this room. Its history stays readable; a member can invite you again.';
  else if (conv.kind === 'room' && !room) disabledReason = missing ? 'This room is not known to your node.' : 'Loading the room…';

  const title = room ? room.name : conv.kind === 'dm' ? nameOf(conv.id) : '';

  return (
    <div class="conv" data-testid="conversation" data-kind={conv.kind} data-id={conv.id}>
      {room ? (
        <RoomHeader room={room} selfId={selfId} />
      ) : conv.kind === 'dm' ? (
        <DmHeader peerId={conv.id} online={isOnline(conv.id)} />
      ) : (
        <header class="conv-head">
          <div class="conv-title">
            <h2>{missing ? 'Unknown room' : 'Loading…'}</h2>
            {missing && <span class="conv-sub">{missing}</span>}
          </div>
        </header>
      )}
      {offline && (
        <div class="conv-banner conv-banner-warn" role="status" data-testid="chat-offline-banner">
          <AlertIcon size={15} />
          You are offline: messages will be sent later
        </div>
      )}
      {peerOffline && (
        <div class="conv-banner" role="status" data-testid="chat-peer-offline-banner">
          <UserIcon size={15} />
          {nameOf(conv.id)} is offline: your messages will be delivered when they are back
        </div>
      )}
      {state.error && (
        <div class="conv-banner conv-banner-err" role="alert" data-testid="chat-conv-error">
          <AlertIcon size={15} />
          {state.error}
          <button type="button" class="btn btn-quiet" onClick={() => void loadNewest()}>
            Retry
          </button>
        </div>
      )}
      <div class="conv-body">
        <div class="conv-messages" ref={listRef} onScroll={onScroll} data-testid="chat-messages" aria-live="polite">
          {state.more && (
            <div class="conv-earlier">
              <button
                type="button"
                class="btn btn-quiet"
                onClick={() => void loadEarlier()}
                disabled={loadingEarlier}
                data-testid="chat-load-earlier"
              >
                {loadingEarlier ? 'Loading…' : 'Load earlier messages'}
              </button>
            </div>
          )}
          {!state.loaded && !state.error && <p class="conv-empty">Loading messages…</p>}
          {state.loaded && state.messages.length === 0 && (
            <p class="conv-empty" data-testid="chat-empty">
              {conv.kind === 'dm'
                ? `No messages with ${title} yet. Say hello!`
                : 'No messages yet. Say hello!'}
            </p>
          )}
          {lines.map((l) => (
            <MessageLine key={l.key} line={l} nameOf={nameOf} systemText={sys} />
          ))}
        </div>
        {room && <MemberList room={room} selfId={selfId} isOnline={isOnline} />}
      </div>
      <Composer
        placeholder={conv.kind === 'room' ? `Message ${title}` : `Message ${title}`}
        disabledReason={disabledReason}
        onSend={send}
      />
    </div>
  );
}
