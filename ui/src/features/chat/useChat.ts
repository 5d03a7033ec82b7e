import { useCallback, useEffect, useReducer, useRef } from 'preact/hooks';
import type { ChatStatus, Event, RoomInfo } from '../../api/types';
import type { Backend } from '../../backend';
import { useSnapshot } from '../../util/useSnapshot';
import {
  chatReducer,
  initialChat,
  notification,
  shouldNotify,
  type ChatState,
  type ConvKey,
} from './chat';

export interface ChatView {
  state: ChatState;
  /** Why the last attempt to load chat failed, if it did. */
  error: string | null;
  /** Refetches the chat's status, and its rooms and conversations when unlocked. */
  refresh: () => Promise<void>;
  /** Records a fresh status (e.g. after unlocking). */
  setStatus: (s: ChatStatus) => void;
  /** Records a room the UI just created or fetched, before its event arrives. */
  upsertRoom: (room: RoomInfo) => void;
  /** Marks a conversation read, here and on the node. */
  markRead: (key: ConvKey) => void;
}

/** True while the person is looking at this window. */
export function windowActive(): boolean {
  if (typeof document === 'undefined') return true;
  if (document.visibilityState === 'hidden') return false;
  return typeof document.hasFocus === 'function' ? document.hasFocus() : true;
}

/**
 * Keeps chat live: fetches whether it is unlocked, then its rooms and direct conversations,
 * then applies the chat events. Events that arrive while a snapshot is being fetched are
 * applied again on top of it. Also shows a desktop notification for a message that arrives
 * while its conversation is not in front (`open`: the conversation shown, if any;
 * `nameOf`: a person's name).
 */
export function useChat(
  backend: Backend,
  listen: (listener: (event: Event) => void) => () => void,
  open: ConvKey | null,
  nameOf: (peerId: string) => string,
  /** Chat notifications are switched on (Settings). */
  notifyOn = true,
): ChatView {
  const [state, dispatch] = useReducer(chatReducer, initialChat);
  const snapshot = useSnapshot();
  const error = snapshot.error;
  const latest = useRef({ state, open, nameOf, notifyOn });
  latest.current = { state, open, nameOf, notifyOn };

  const refresh = useCallback(
    () =>
      snapshot.run(async ({ current, queued }) => {
        const status = await backend.call('chat_status');
        if (!current()) return;
        dispatch({ type: 'status', status });
        if (!status.unlocked) return;
        const [rooms, dms] = await Promise.all([backend.call('list_rooms'), backend.call('list_dms')]);
        if (!current()) return;
        dispatch({ type: 'snapshot', rooms, dms });
        for (const event of queued) dispatch({ type: 'event', event });
      }),
    [backend, snapshot.run],
  );

  const notify = useCallback(
    (event: Event) => {
      if (event.type !== 'chat_message' || !backend.notify || !latest.current.notifyOn) return;
      const m = event.message;
      const { state: s, open: o, nameOf: name } = latest.current;
      if (!shouldNotify(m, o, windowActive(), Date.now())) return;
      const room = m.room_id ? s.rooms[m.room_id] : undefined;
      if (room && (room.left || room.deleted || room.muted)) return;
      const n = notification(m, room?.name ?? null, name(m.sender));
      backend.notify(n.title, n.body);
    },
    [backend],
  );

  useEffect(() => {
    void refresh();
    return listen((event) => {
      switch (event.type) {
        case 'resync':
          void refresh();
          return;
        case 'chat_status_changed':
          dispatch({ type: 'event', event });
          if (event.status.unlocked && !latest.current.state.loaded) void refresh();
          return;
        case 'chat_message':
        case 'message_state':
        case 'room_updated':
        case 'dm_updated':
          snapshot.seen(event);
          dispatch({ type: 'event', event });
          notify(event);
          return;
        default:
          return;
      }
    });
  }, [listen, refresh, notify, snapshot.seen]);

  // Keep retrying while loading fails (e.g. the node is still starting).
  useEffect(() => {
    if (!error) return;
    const t = setTimeout(() => void refresh(), 3000);
    return () => clearTimeout(t);
  }, [error, refresh]);

  const setStatus = useCallback(
    (status: ChatStatus) => {
      dispatch({ type: 'status', status });
      if (status.unlocked) void refresh();
    },
    [refresh],
  );
  const upsertRoom = useCallback((room: RoomInfo) => dispatch({ type: 'room', room }), []);
  const markRead = useCallback(
    (key: ConvKey) => {
      dispatch({ type: 'read', key });
      const done = key.kind === 'room' ? backend.call('mark_room_read', { room_id: key.id }) : backend.call('mark_dm_read', { peer_id: key.id });
      done.catch(() => {
        // e.g. a direct conversation without messages yet: nothing to mark
      });
    },
    [backend],
  );

  return { state, error, refresh, setStatus, upsertRoom, markRead };
}
