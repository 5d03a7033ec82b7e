import { describe, expect, it } from 'vitest';
import type { ChatMessage, DmConversation, Event, EventKind } from '../../api/types';
import { ADA_ID, BOB_ID, SELF_ID, chatMessage, peerInfo, roomInfo, status } from '../../test/fake';
import {
  applyChatEvent,
  chatReducer,
  convHref,
  convReducer,
  emptyConv,
  initialChat,
  mergeMessages,
  messageBytes,
  notification,
  oldestSeq,
  parseConv,
  personName,
  setMessageState,
  shouldNotify,
  sortedDms,
  sortedRooms,
  systemText,
  toLines,
  totalUnread,
  type ChatState,
  type ConvKey,
} from './chat';
import { initialState as initialNode } from '../peers/peers';

const ROOM = 'ab'.repeat(32);
const OTHER_ROOM = 'cd'.repeat(32);
const roomKey: ConvKey = { kind: 'room', id: ROOM };
const dmKey: ConvKey = { kind: 'dm', id: ADA_ID };

let eventId = 1;
const ev = (kind: EventKind): Event => ({ id: eventId++, time_ms: 0, ...kind }) as Event;

function msg(seq: number | null, extra: Partial<ChatMessage> = {}): ChatMessage {
  return chatMessage({ room_id: ROOM, seq, sent_ms: 1_700_000_000_000 + (seq ?? 100) * 1000, ...extra });
}

function dm(extra: Partial<DmConversation> = {}): DmConversation {
  return { peer_id: ADA_ID, display_name: 'Ada', online: true, unread: 0, pending: 0, last_message: null, ...extra };
}

const ids = (ms: ChatMessage[]) => ms.map((m) => m.id);

describe('conversation addresses', () => {
  it('round-trips rooms and direct conversations', () => {
    expect(convHref(roomKey)).toBe(`#/chat/room/${ROOM}`);
    expect(parseConv(`room/${ROOM}`)).toEqual(roomKey);
    expect(parseConv(`dm/${ADA_ID}`)).toEqual(dmKey);
    expect(parseConv(null)).toBeNull();
    expect(parseConv('rooms')).toBeNull();
    expect(parseConv('room/')).toBeNull();
  });
});

describe('mergeMessages', () => {
  it('orders committed messages by seq, then pending ones by time', () => {
    const a = msg(2);
    const b = msg(1);
    const p1 = msg(null, { mine: true, state: 'sending', sent_ms: 5 });
    const p2 = msg(null, { mine: true, state: 'sending', sent_ms: 9 });
    expect(ids(mergeMessages([], [p2, a, p1, b]))).toEqual([b.id, a.id, p1.id, p2.id]);
  });

  it('keeps one entry per id: my pending message becomes delivered in its place', () => {
    const a = msg(1);
    const mine = msg(null, { mine: true, state: 'sending', sender: SELF_ID });
    const later = msg(null, { mine: true, state: 'sending', sender: SELF_ID, sent_ms: mine.sent_ms + 1 });
    let list = mergeMessages([], [a, mine, later]);
    const b = msg(2);
    list = mergeMessages(list, [b, { ...mine, seq: 3, state: 'delivered' }]);
    expect(ids(list)).toEqual([a.id, b.id, mine.id, later.id]);
    expect(list[2]).toMatchObject({ seq: 3, state: 'delivered' });
    // the same event again changes nothing
    const again = mergeMessages(list, [{ ...mine, seq: 3, state: 'delivered' }]);
    expect(again).toHaveLength(4);
  });

  it('never moves a message back: a late copy keeps the known order and state', () => {
    const mine = msg(null, { mine: true, state: 'sending', sender: SELF_ID });
    const delivered = { ...mine, seq: 7, state: 'delivered' as const };
    // the answer of `send` (still pending) arrives after the event that delivered it
    const list = mergeMessages(mergeMessages([], [delivered]), [mine]);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ seq: 7, state: 'delivered' });
  });

  it('returns the same list when nothing is added', () => {
    const list = [msg(1)];
    expect(mergeMessages(list, [])).toBe(list);
  });

  it('updates a state mark, never backwards', () => {
    const mine = msg(null, { mine: true, state: 'sending' });
    let list = setMessageState([mine], mine.id, 'held_by_host');
    expect(list[0]!.state).toBe('held_by_host');
    list = setMessageState(list, mine.id, 'delivered');
    expect(list[0]!.state).toBe('delivered');
    expect(setMessageState(list, mine.id, 'sending')).toBe(list);
    expect(setMessageState(list, 'nope', 'delivered')).toBe(list);
  });

  it('finds the seq to ask for older messages', () => {
    expect(oldestSeq([msg(null), msg(5), msg(3)])).toBe(3);
    expect(oldestSeq([msg(null)])).toBeNull();
  });
});

describe('convReducer', () => {
  const open = convReducer(emptyConv, { type: 'open', key: roomKey });

  it('merges pages and events of its own conversation only', () => {
    let s = convReducer(open, { type: 'page', key: roomKey, messages: [msg(11), msg(12)], more: true, older: false });
    expect(s).toMatchObject({ loaded: true, more: true });
    s = convReducer(s, { type: 'page', key: roomKey, messages: [msg(10)], more: false, older: true });
    expect(s.messages.map((m) => m.seq)).toEqual([10, 11, 12]);
    expect(s.more).toBe(false);
    // a refetched newest page (after a resync) does not bring back "more"
    s = convReducer(s, { type: 'page', key: roomKey, messages: [msg(12)], more: true, older: false });
    expect(s.more).toBe(false);
    // another conversation's page and messages are ignored
    expect(convReducer(s, { type: 'page', key: dmKey, messages: [msg(1)], more: false, older: false })).toBe(s);
    expect(convReducer(s, { type: 'event', event: ev({ type: 'chat_message', message: msg(13, { room_id: OTHER_ROOM }) }) })).toBe(s);
    const dmMsg = chatMessage({ room_id: null, peer_id: ADA_ID, seq: 1 });
    expect(convReducer(s, { type: 'event', event: ev({ type: 'chat_message', message: dmMsg }) })).toBe(s);
  });

  it('appends a live message once, and follows the state of mine', () => {
    const mine = msg(null, { mine: true, state: 'sending', sender: SELF_ID });
    let s = convReducer(open, { type: 'page', key: roomKey, messages: [msg(1)], more: false, older: false });
    s = convReducer(s, { type: 'messages', key: roomKey, messages: [mine] });
    s = convReducer(s, { type: 'event', event: ev({ type: 'message_state', message_id: mine.id, room_id: ROOM, peer_id: null, state: 'held_by_host' }) });
    expect(s.messages.at(-1)!.state).toBe('held_by_host');
    s = convReducer(s, { type: 'event', event: ev({ type: 'chat_message', message: { ...mine, seq: 2, state: 'delivered' } }) });
    s = convReducer(s, { type: 'event', event: ev({ type: 'chat_message', message: { ...mine, seq: 2, state: 'delivered' } }) });
    expect(s.messages.map((m) => [m.seq, m.state])).toEqual([
      [1, 'received'],
      [2, 'delivered'],
    ]);
  });

  it('matches direct messages by peer', () => {
    let s = convReducer(emptyConv, { type: 'open', key: dmKey });
    const m = chatMessage({ peer_id: ADA_ID, seq: 4 });
    s = convReducer(s, { type: 'event', event: ev({ type: 'chat_message', message: m }) });
    expect(ids(s.messages)).toEqual([m.id]);
    s = convReducer(s, { type: 'event', event: ev({ type: 'message_state', message_id: m.id, room_id: null, peer_id: BOB_ID, state: 'delivered' }) });
    expect(s.messages[0]!.state).toBe('received');
  });
});

describe('chatReducer', () => {
  const unlocked = chatReducer(initialChat, { type: 'status', status: { unlocked: true, has_passphrase: true } });
  const loaded = chatReducer(unlocked, {
    type: 'snapshot',
    rooms: [roomInfo({ room_id: ROOM, name: 'A', unread: 2 }), roomInfo({ room_id: OTHER_ROOM, name: 'B' })],
    dms: [dm({ unread: 1 })],
  });

  it('counts unread over rooms and conversations', () => {
    expect(loaded.loaded).toBe(true);
    expect(totalUnread(loaded)).toBe(3);
    const read = chatReducer(loaded, { type: 'read', key: roomKey });
    expect(read.rooms[ROOM]!.unread).toBe(0);
    expect(totalUnread(chatReducer(read, { type: 'read', key: dmKey }))).toBe(0);
  });

  it('replaces rooms and conversations from their events', () => {
    const s = applyChatEvent(loaded, ev({ type: 'room_updated', room: roomInfo({ room_id: ROOM, name: 'Renamed', unread: 0, deleted: true }) }));
    expect(s.rooms[ROOM]).toMatchObject({ name: 'Renamed', deleted: true });
    const s2 = applyChatEvent(s, ev({ type: 'dm_updated', conversation: dm({ peer_id: BOB_ID, display_name: 'Bob', unread: 4 }) }));
    expect(Object.keys(s2.dms).sort()).toEqual([ADA_ID, BOB_ID].sort());
    expect(totalUnread(s2)).toBe(5);
  });

  it('counts a new message until the node says otherwise, without counting it twice', () => {
    const m = msg(9, { sender: ADA_ID });
    let s = applyChatEvent(loaded, ev({ type: 'chat_message', message: m }));
    expect(s.rooms[ROOM]).toMatchObject({ unread: 3, last_message: m });
    s = applyChatEvent(s, ev({ type: 'chat_message', message: m }));
    expect(s.rooms[ROOM]!.unread).toBe(3);
    // the node's room_updated (which already counted it) first, then the message: no bump
    const r = applyChatEvent(loaded, ev({ type: 'room_updated', room: roomInfo({ room_id: ROOM, name: 'A', unread: 3, last_message: m }) }));
    expect(applyChatEvent(r, ev({ type: 'chat_message', message: m })).rooms[ROOM]!.unread).toBe(3);
    // mine, and room events, do not count
    const mine = msg(10, { mine: true, sender: SELF_ID, state: 'delivered' });
    expect(applyChatEvent(loaded, ev({ type: 'chat_message', message: mine })).rooms[ROOM]!.unread).toBe(2);
  });

  it('lists a direct conversation as soon as its first message arrives', () => {
    const m = chatMessage({ peer_id: BOB_ID, sender: BOB_ID, seq: 1 });
    const s = applyChatEvent(loaded, ev({ type: 'chat_message', message: m }));
    expect(s.dms[BOB_ID]).toMatchObject({ unread: 1, last_message: m });
  });

  it('forgets everything when chat is locked again', () => {
    const s = applyChatEvent(loaded, ev({ type: 'chat_status_changed', status: { unlocked: false, has_passphrase: true } }));
    expect(s).toEqual({ ...initialChat, status: { unlocked: false, has_passphrase: true } });
  });

  it('sorts rooms by activity, rooms left or deleted last, and conversations by activity', () => {
    const s: ChatState = {
      ...initialChat,
      rooms: {
        a: roomInfo({ room_id: 'a', name: 'Old', last_message: msg(1, { sent_ms: 1 }) }),
        b: roomInfo({ room_id: 'b', name: 'New', last_message: msg(1, { sent_ms: 5 }) }),
        c: roomInfo({ room_id: 'c', name: 'Gone', left: true, last_message: msg(1, { sent_ms: 9 }) }),
      },
      dms: {
        [ADA_ID]: dm({ last_message: msg(1, { sent_ms: 1 }) }),
        [BOB_ID]: dm({ peer_id: BOB_ID, last_message: msg(1, { sent_ms: 2 }) }),
      },
    };
    expect(sortedRooms(s).map((r) => r.name)).toEqual(['New', 'Old', 'Gone']);
    expect(sortedDms(s).map((d) => d.peer_id)).toEqual([BOB_ID, ADA_ID]);
  });
});

describe('presentation', () => {
  const names: Record<string, string> = { [ADA_ID]: 'Ada', [BOB_ID]: 'Bob' };
  const nameOf = (id: string) => names[id] ?? id;

  it('describes room events', () => {
    const s = (kind: ChatMessage['kind'], body = '', sender = ADA_ID) => systemText(msg(1, { kind, body, sender }), nameOf, SELF_ID);
    expect(s('invited', BOB_ID)).toBe('Ada invited Bob');
    expect(s('invited', SELF_ID)).toBe('Ada invited you');
    expect(s('invited', BOB_ID, SELF_ID)).toBe('You invited Bob');
    expect(s('created', 'Reading group')).toBe('Ada created the room “Reading group”');
    expect(s('renamed', 'Book club')).toBe('Ada renamed the room to “Book club”');
    expect(s('left')).toBe('Ada left');
    expect(s('deleted')).toBe('Ada deleted the room');
    expect(s('host_changed', '', BOB_ID)).toBe('Bob is now the host');
  });

  it('groups runs of messages per sender, with day headings and room events between', () => {
    const t0 = new Date(2024, 4, 2, 10, 0).getTime();
    const list = [
      msg(1, { kind: 'created', sender: ADA_ID, sent_ms: t0 }),
      msg(2, { sender: ADA_ID, sent_ms: t0 + 1000 }),
      msg(3, { sender: ADA_ID, sent_ms: t0 + 2000 }),
      msg(4, { sender: BOB_ID, sent_ms: t0 + 3000 }),
      msg(5, { sender: BOB_ID, sent_ms: t0 + 3000 + 6 * 60_000 }),
    ];
    const lines = toLines(list, t0 + 86_400_000 * 30);
    expect(lines.map((l) => (l.type === 'message' ? `${l.message.seq}${l.first ? 'F' : ''}${l.last ? 'L' : ''}` : l.type))).toEqual([
      'day',
      'system',
      '2F',
      '3L',
      '4FL',
      '5FL',
    ]);
    expect(toLines([msg(1, { sent_ms: t0 })], t0 + 60_000)[0]).toMatchObject({ type: 'day', label: 'Today' });
  });

  it('names people from profiles, then rooms, then their short id', () => {
    const node = { ...initialNode, self: status(), peers: { [ADA_ID]: peerInfo(ADA_ID, 'Ada L.') } };
    const chat: ChatState = {
      ...initialChat,
      rooms: { r: roomInfo({ members: [{ peer_id: BOB_ID, display_name: 'Bob', online: false, host: false, creator: false }] }) },
    };
    expect(personName(ADA_ID, node, chat)).toBe('Ada L.');
    expect(personName(BOB_ID, node, chat)).toBe('Bob');
    expect(personName(SELF_ID, node, chat)).toBe('Me');
    expect(personName('12D3KooWUnknownUnknownUnknown', node, chat)).toBe('12D3Ko…nknown');
  });

  it('notifies for others’ text while the window is away or elsewhere', () => {
    const now = Date.now();
    const m = msg(1, { sender: ADA_ID, sent_ms: now });
    expect(shouldNotify(m, roomKey, true, now)).toBe(false);
    expect(shouldNotify(m, roomKey, false, now)).toBe(true);
    expect(shouldNotify(m, dmKey, true, now)).toBe(true);
    expect(shouldNotify(m, null, true, now)).toBe(true);
    expect(shouldNotify({ ...m, mine: true }, null, false, now)).toBe(false);
    expect(shouldNotify({ ...m, kind: 'invited' }, null, false, now)).toBe(false);
    expect(shouldNotify({ ...m, sent_ms: now - 3_600_000 }, null, false, now)).toBe(false);
    expect(notification({ ...m, body: 'hi' }, 'Reading group', 'Ada')).toEqual({ title: 'Reading group', body: 'Ada: hi' });
    expect(notification(chatMessage({ peer_id: ADA_ID, body: 'hi' }), null, 'Ada')).toEqual({ title: 'Ada', body: 'hi' });
  });

  it('measures messages in UTF-8 bytes', () => {
    expect(messageBytes('abc')).toBe(3);
    expect(messageBytes('é')).toBe(2);
  });
});
