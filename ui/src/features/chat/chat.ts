import type {
  ChatMessage,
  ChatStatus,
  DmConversation,
  Event,
  MessageState,
  RoomInfo,
} from '../../api/types';
import { shortId, type NodeState } from '../peers/peers';

// ---------------------------------------------------------------------------------------
// Conversations and their place in the address (`#/chat/room/<id>`, `#/chat/dm/<peer id>`)

/** One conversation: a room, or the direct conversation with a peer. */
export type ConvKey = { kind: 'room'; id: string } | { kind: 'dm'; id: string };

/** The conversation a chat route's parameter names (`room/<id>` or `dm/<peer id>`), if any. */
export function parseConv(param: string | null): ConvKey | null {
  if (!param) return null;
  const m = /^(room|dm)\/(.+)$/.exec(param);
  if (!m) return null;
  return { kind: m[1] as 'room' | 'dm', id: m[2]! };
}

export function convHref(key: ConvKey): string {
  return `#/chat/${key.kind}/${encodeURIComponent(key.id)}`;
}

export function sameConv(a: ConvKey | null, b: ConvKey | null): boolean {
  return a !== null && b !== null && a.kind === b.kind && a.id === b.id;
}

/** The conversation a message belongs to. */
export function messageConv(m: Pick<ChatMessage, 'room_id' | 'peer_id'>): ConvKey | null {
  if (m.room_id) return { kind: 'room', id: m.room_id };
  if (m.peer_id) return { kind: 'dm', id: m.peer_id };
  return null;
}

/** Longest message the node takes, in bytes of UTF-8. */
export const MAX_MESSAGE_BYTES = 16 * 1024;

/** A message's size as the node counts it (bytes of UTF-8). */
export function messageBytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** Messages asked for at a time. */
export const HISTORY_PAGE = 100;

/** Shortest passphrase the node accepts. */
export const MIN_PASSPHRASE = 8;

// ---------------------------------------------------------------------------------------
// Messages of one conversation

/** How far along its way a message of mine is; a message never goes back. */
const STATE_RANK: Record<MessageState, number> = {
  sending: 0,
  queued: 0,
  not_delivered_yet: 1,
  held_by_host: 1,
  delivered: 2,
  received: 2,
};

/**
 * Display order: messages the host (or this node, for a direct conversation) ordered, by
 * `seq`; then those not ordered yet, by when they were written.
 */
export function compareMessages(a: ChatMessage, b: ChatMessage): number {
  if (a.seq !== null && b.seq !== null && a.seq !== b.seq) return a.seq - b.seq;
  if (a.seq !== null && b.seq === null) return -1;
  if (a.seq === null && b.seq !== null) return 1;
  if (a.sent_ms !== b.sent_ms) return a.sent_ms - b.sent_ms;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The newer of two copies of one message: an order and a state once known are kept. */
function newer(old: ChatMessage, incoming: ChatMessage): ChatMessage {
  const seq = incoming.seq ?? old.seq;
  const state = STATE_RANK[incoming.state] < STATE_RANK[old.state] ? old.state : incoming.state;
  if (seq === incoming.seq && state === incoming.state) return incoming;
  return { ...incoming, seq, state };
}

/**
 * `existing` with `incoming` added: one entry per id (a later copy replaces an earlier one,
 * e.g. my pending message once the host ordered it), in display order.
 */
export function mergeMessages(existing: readonly ChatMessage[], incoming: readonly ChatMessage[]): ChatMessage[] {
  if (incoming.length === 0) return existing as ChatMessage[];
  const byId = new Map<string, ChatMessage>();
  for (const m of existing) byId.set(m.id, m);
  for (const m of incoming) {
    const old = byId.get(m.id);
    byId.set(m.id, old ? newer(old, m) : m);
  }
  return [...byId.values()].sort(compareMessages);
}

/** `messages` with the state of one of them changed (never backwards). */
export function setMessageState(messages: readonly ChatMessage[], id: string, state: MessageState): ChatMessage[] {
  const i = messages.findIndex((m) => m.id === id);
  if (i < 0) return messages as ChatMessage[];
  const old = messages[i]!;
  if (old.state === state || STATE_RANK[state] < STATE_RANK[old.state]) return messages as ChatMessage[];
  const out = messages.slice();
  out[i] = { ...old, state };
  return out;
}

/** The `before` of the page older than what is loaded: the smallest `seq` (null: none). */
export function oldestSeq(messages: readonly ChatMessage[]): number | null {
  let min: number | null = null;
  for (const m of messages) if (m.seq !== null && (min === null || m.seq < min)) min = m.seq;
  return min;
}

export interface ConvState {
  key: ConvKey | null;
  messages: ChatMessage[];
  /** Older messages exist. */
  more: boolean;
  /** The newest page has arrived. */
  loaded: boolean;
  error: string | null;
}

export const emptyConv: ConvState = { key: null, messages: [], more: false, loaded: false, error: null };

export type ConvAction =
  | { type: 'open'; key: ConvKey | null }
  /** A page of history: the newest (`older: false`) or an older one. */
  | { type: 'page'; key: ConvKey; messages: ChatMessage[]; more: boolean; older: boolean }
  | { type: 'messages'; key: ConvKey; messages: ChatMessage[] }
  | { type: 'event'; event: Event }
  | { type: 'error'; key: ConvKey; error: string | null };

export function convReducer(state: ConvState, action: ConvAction): ConvState {
  switch (action.type) {
    case 'open':
      return sameConv(state.key, action.key) ? state : { ...emptyConv, key: action.key };
    case 'page': {
      if (!sameConv(state.key, action.key)) return state;
      const messages = mergeMessages(state.messages, action.messages);
      // A fresh newest page says whether there is more only when nothing older is loaded.
      const more = action.older || !state.loaded ? action.more : state.more;
      return { ...state, messages, more, loaded: true, error: null };
    }
    case 'messages':
      if (!sameConv(state.key, action.key)) return state;
      return { ...state, messages: mergeMessages(state.messages, action.messages) };
    case 'error':
      if (!sameConv(state.key, action.key)) return state;
      return { ...state, error: action.error };
    case 'event':
      return applyConvEvent(state, action.event);
  }
}

/** Whether a message (or a message's state change) belongs to the conversation `key`. */
export function inConv(key: ConvKey | null, m: { room_id: string | null; peer_id: string | null }): boolean {
  if (!key) return false;
  return key.kind === 'room' ? m.room_id === key.id : m.room_id === null && m.peer_id === key.id;
}

export function applyConvEvent(state: ConvState, event: Event): ConvState {
  switch (event.type) {
    case 'chat_message':
      if (!inConv(state.key, event.message)) return state;
      return { ...state, messages: mergeMessages(state.messages, [event.message]) };
    case 'message_state': {
      if (!inConv(state.key, event)) return state;
      const messages = setMessageState(state.messages, event.message_id, event.state);
      return messages === state.messages ? state : { ...state, messages };
    }
    default:
      return state;
  }
}

// ---------------------------------------------------------------------------------------
// Chat as a whole: whether it is unlocked, the rooms and the direct conversations

export interface ChatState {
  /** `null` until fetched. */
  status: ChatStatus | null;
  rooms: Readonly<Record<string, RoomInfo>>;
  /** Direct conversations by the other person's peer id. */
  dms: Readonly<Record<string, DmConversation>>;
  /** Rooms and conversations have been fetched (since chat was last unlocked). */
  loaded: boolean;
}

export const initialChat: ChatState = { status: null, rooms: {}, dms: {}, loaded: false };

export type ChatAction =
  | { type: 'status'; status: ChatStatus }
  | { type: 'snapshot'; rooms: RoomInfo[]; dms: DmConversation[] }
  | { type: 'room'; room: RoomInfo }
  | { type: 'read'; key: ConvKey }
  | { type: 'event'; event: Event };

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'status':
      return setStatus(state, action.status);
    case 'snapshot': {
      const rooms: Record<string, RoomInfo> = {};
      for (const r of action.rooms) rooms[r.room_id] = r;
      const dms: Record<string, DmConversation> = {};
      for (const d of action.dms) dms[d.peer_id] = d;
      return { ...state, rooms, dms, loaded: true };
    }
    case 'room':
      return { ...state, rooms: { ...state.rooms, [action.room.room_id]: action.room } };
    case 'read':
      return markRead(state, action.key);
    case 'event':
      return applyChatEvent(state, action.event);
  }
}

function setStatus(state: ChatState, status: ChatStatus): ChatState {
  if (!status.unlocked) return { ...initialChat, status };
  return { ...state, status };
}

function markRead(state: ChatState, key: ConvKey): ChatState {
  if (key.kind === 'room') {
    const r = state.rooms[key.id];
    if (!r || r.unread === 0) return state;
    return { ...state, rooms: { ...state.rooms, [key.id]: { ...r, unread: 0 } } };
  }
  const d = state.dms[key.id];
  if (!d || d.unread === 0) return state;
  return { ...state, dms: { ...state.dms, [key.id]: { ...d, unread: 0 } } };
}

/** `last` is at least as new as `m` (so `m` is already counted). */
function alreadyCounted(last: ChatMessage | null, m: ChatMessage): boolean {
  if (!last) return false;
  if (last.id === m.id) return true;
  return compareMessages(m, last) <= 0;
}

/** Applies one event of the node's stream. `resync` leaves the state as is (the caller refetches). */
export function applyChatEvent(state: ChatState, event: Event): ChatState {
  switch (event.type) {
    case 'chat_status_changed':
      return setStatus(state, event.status);
    case 'room_updated':
      return { ...state, rooms: { ...state.rooms, [event.room.room_id]: event.room } };
    case 'dm_updated':
      return { ...state, dms: { ...state.dms, [event.conversation.peer_id]: event.conversation } };
    case 'chat_message': {
      // The node follows with `room_updated` / `dm_updated`; until then, count it here.
      const m = event.message;
      const bump = !m.mine && m.kind === 'text' ? 1 : 0;
      if (m.room_id) {
        const r = state.rooms[m.room_id];
        if (!r || alreadyCounted(r.last_message, m)) return state;
        const room = { ...r, last_message: m, unread: r.unread + bump };
        return { ...state, rooms: { ...state.rooms, [r.room_id]: room } };
      }
      if (m.peer_id) {
        const d = state.dms[m.peer_id];
        if (d && alreadyCounted(d.last_message, m)) return state;
        const conv: DmConversation = d
          ? { ...d, last_message: m, unread: d.unread + bump }
          : { peer_id: m.peer_id, display_name: null, online: false, unread: bump, pending: 0, last_message: m };
        return { ...state, dms: { ...state.dms, [m.peer_id]: conv } };
      }
      return state;
    }
    default:
      return state;
  }
}

function lastActivity(m: ChatMessage | null): number {
  return m ? m.sent_ms : 0;
}

/** Rooms in display order: current ones first, the most recently active first. */
export function sortedRooms(state: ChatState): RoomInfo[] {
  return Object.values(state.rooms).sort((a, b) => {
    const aGone = a.left || a.deleted;
    const bGone = b.left || b.deleted;
    if (aGone !== bGone) return aGone ? 1 : -1;
    const t = lastActivity(b.last_message) - lastActivity(a.last_message);
    if (t !== 0) return t;
    return a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }) || (a.room_id < b.room_id ? -1 : 1);
  });
}

/** Direct conversations, the most recently active first. */
export function sortedDms(state: ChatState): DmConversation[] {
  return Object.values(state.dms).sort((a, b) => {
    const t = lastActivity(b.last_message) - lastActivity(a.last_message);
    if (t !== 0) return t;
    return a.peer_id < b.peer_id ? -1 : a.peer_id > b.peer_id ? 1 : 0;
  });
}

/** Unread messages over every conversation. */
export function totalUnread(state: ChatState): number {
  let n = 0;
  for (const r of Object.values(state.rooms)) if (!r.deleted) n += r.unread;
  for (const d of Object.values(state.dms)) n += d.unread;
  return n;
}

// ---------------------------------------------------------------------------------------
// Notifications

/**
 * Whether a new message deserves a desktop notification: someone else's text, while the
 * window is not in front or another conversation is open.
 */
export function shouldNotify(m: ChatMessage, open: ConvKey | null, windowActive: boolean, nowMs: number): boolean {
  if (m.mine || m.kind !== 'text') return false;
  // History caught up after a long time offline is not news.
  if (nowMs - m.sent_ms > 10 * 60_000) return false;
  return !windowActive || !inConv(open, m);
}

/** A notification's title and text for a message. */
export function notification(m: ChatMessage, roomName: string | null, senderName: string): { title: string; body: string } {
  const text = m.body.length > 200 ? `${m.body.slice(0, 199)}…` : m.body;
  if (m.room_id) return { title: roomName ?? 'Chat', body: `${senderName}: ${text}` };
  return { title: senderName, body: text };
}

// ---------------------------------------------------------------------------------------
// Presentation

/** One line of a conversation: a day's heading, an event of the room, or a message. */
export type Line =
  | { type: 'day'; key: string; label: string }
  | { type: 'system'; key: string; message: ChatMessage }
  /** `first`: starts a run of messages from one sender (shows their name). */
  | { type: 'message'; key: string; message: ChatMessage; first: boolean; last: boolean };

/** Messages further apart than this start a new run, even from one sender. */
const RUN_GAP_MS = 5 * 60_000;

function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function dayLabel(ms: number, nowMs: number): string {
  if (dayKey(ms) === dayKey(nowMs)) return 'Today';
  if (dayKey(ms) === dayKey(nowMs - 86_400_000)) return 'Yesterday';
  const d = new Date(ms);
  const sameYear = d.getFullYear() === new Date(nowMs).getFullYear();
  return d.toLocaleDateString(undefined, sameYear ? { weekday: 'short', month: 'short', day: 'numeric' } : { year: 'numeric', month: 'short', day: 'numeric' });
}

/** The lines to show for `messages` (in display order): day headings and runs per sender. */
export function toLines(messages: readonly ChatMessage[], nowMs: number): Line[] {
  const lines: Line[] = [];
  let day: string | null = null;
  let prev: ChatMessage | null = null;
  for (const m of messages) {
    const d = dayKey(m.sent_ms);
    if (d !== day) {
      day = d;
      prev = null;
      lines.push({ type: 'day', key: `day-${m.id}`, label: dayLabel(m.sent_ms, nowMs) });
    }
    if (m.kind !== 'text') {
      lines.push({ type: 'system', key: m.id, message: m });
      prev = null;
      continue;
    }
    const first = !prev || prev.sender !== m.sender || Math.abs(m.sent_ms - prev.sent_ms) > RUN_GAP_MS;
    lines.push({ type: 'message', key: m.id, message: m, first, last: false });
    prev = m;
  }
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const next = lines[i + 1];
    if (l.type === 'message' && (!next || next.type !== 'message' || next.first)) l.last = true;
  }
  return lines;
}

/** What a room event says, e.g. "Alice invited Bob" (`name` gives people's names). */
export function systemText(m: ChatMessage, name: (peerId: string) => string, selfId: string | null): string {
  const who = m.sender === selfId ? 'You' : name(m.sender);
  switch (m.kind) {
    case 'created':
      return `${who} created the room${m.body ? ` “${m.body}”` : ''}`;
    case 'invited': {
      const whom = m.body === selfId ? 'you' : name(m.body);
      return `${who} invited ${whom}`;
    }
    case 'renamed':
      return `${who} renamed the room to “${m.body}”`;
    case 'left':
      return `${who} left`;
    case 'deleted':
      return `${who} deleted the room`;
    case 'host_changed':
      return m.sender === selfId ? 'You are now the host' : `${who} is now the host`;
    case 'text':
      return m.body;
  }
}

/** A person's name: from their profile, else as a room or conversation knows it, else their short id. */
export function personName(peerId: string, node: NodeState, chat: ChatState): string {
  if (node.self && node.self.peer_id === peerId) return node.self.profile.display_name.trim() || 'You';
  const fromProfile = node.peers[peerId]?.profile?.display_name.trim();
  if (fromProfile) return fromProfile;
  const fromDm = chat.dms[peerId]?.display_name?.trim();
  if (fromDm) return fromDm;
  for (const r of Object.values(chat.rooms)) {
    const fromRoom = r.members.find((m) => m.peer_id === peerId)?.display_name?.trim();
    if (fromRoom) return fromRoom;
  }
  return shortId(peerId);
}

export const STATE_LABELS: Record<MessageState, string> = {
  sending: 'Sending',
  held_by_host: 'Held by the host, not yet at everyone',
  delivered: 'Delivered',
  queued: 'Queued: sent when they are online',
  not_delivered_yet: 'Not delivered yet: tried again when they are online',
  received: 'Received',
};

/** `14:05`, in the person's locale. */
export function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}
