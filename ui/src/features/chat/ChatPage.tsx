import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import type { ChatMessage, DmConversation, HistoryPage, PeerInfo, RoomInfo } from '../../api/types';
import { ApiError, describeError } from '../../backend';
import { MessageLine, Modal, PeerChoice } from './MessageLine';
import { Avatar, CopyButton, EmptyState, PageHeader } from '../../components/common';
import {
  AlertIcon,
  ChatIcon,
  EditIcon,
  HashIcon,
  LockIcon,
  LogOutIcon,
  PlusIcon,
  RefreshIcon,
  SendIcon,
  TrashIcon,
  UserIcon,
} from '../../components/icons';
import { useBackend, useChatView, useNodeEvents, useNodeView, useNow } from '../../context';
import { href } from '../../router';
import {
  HISTORY_PAGE,
  MAX_MESSAGE_BYTES,
  MIN_PASSPHRASE,
  convHref,
  convReducer,
  emptyConv,
  messageBytes,
  oldestSeq,
  parseConv,
  personName,
  sameConv,
  sortedDms,
  sortedRooms,
  systemText,
  toLines,
  type ConvKey,
} from './chat';
import { onlineCount, shortId, sortedPeers } from '../peers/peers';
import { formatBytes, snippet } from '../../util/format';

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

// ---------------------------------------------------------------------------------------
// Locked

function UnlockForm({ choosing }: { choosing: boolean }) {
  const backend = useBackend();
  const chat = useChatView();
  const [passphrase, setPassphrase] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    if (choosing) {
      if (passphrase.length < MIN_PASSPHRASE) {
        setError(`Choose at least ${MIN_PASSPHRASE} characters.`);
        return;
      }
      if (passphrase !== confirm) {
        setError('The two passphrases are not the same.');
        return;
      }
    } else if (!passphrase) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const status = await backend.call('unlock_chat', { passphrase });
      if (!status.unlocked) setError('Chat is still locked. Try again.');
      chat.setStatus(status);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card unlock-card" onSubmit={onSubmit} data-testid="chat-unlock">
      <div class="unlock-icon">
        <LockIcon size={26} />
      </div>
      <h2>{choosing ? 'Choose a chat passphrase' : 'Unlock your messages'}</h2>
      <p class="hint">
        {choosing
          ? 'Your messages are kept encrypted on this computer under a passphrase. Choose one you will remember: it cannot be recovered.'
          : 'Your messages are kept encrypted on this computer. Enter your chat passphrase to read and send them.'}
      </p>
      <label class="field">
        <span class="field-label">Passphrase</span>
        <input
          class="input"
          type="password"
          autocomplete={choosing ? 'new-password' : 'current-password'}
          autoFocus
          value={passphrase}
          disabled={busy}
          onInput={(e) => {
            setPassphrase(e.currentTarget.value);
            setError(null);
          }}
          data-testid="chat-unlock-passphrase"
        />
      </label>
      {choosing && (
        <label class="field">
          <span class="field-label">Repeat the passphrase</span>
          <input
            class="input"
            type="password"
            autocomplete="new-password"
            value={confirm}
            disabled={busy}
            onInput={(e) => {
              setConfirm(e.currentTarget.value);
              setError(null);
            }}
            data-testid="chat-unlock-confirm"
          />
        </label>
      )}
      {choosing && <p class="form-msg muted">At least {MIN_PASSPHRASE} characters; a few unrelated words work well.</p>}
      {error && (
        <p class="form-msg err" role="alert" data-testid="chat-unlock-error">
          {error}
        </p>
      )}
      <div class="form-footer">
        <button
          class="btn btn-primary"
          type="submit"
          disabled={busy || !passphrase || (choosing && !confirm)}
          data-testid="chat-unlock-submit"
        >
          {busy ? <RefreshIcon size={16} class="spin" /> : <LockIcon size={16} />}
          {busy ? 'Unlocking…' : choosing ? 'Set passphrase' : 'Unlock'}
        </button>
      </div>
    </form>
  );
}

// ---------------------------------------------------------------------------------------
// The list of conversations

function usePersonName(): (peerId: string) => string {
  const node = useNodeView();
  const chat = useChatView();
  return (peerId) => personName(peerId, node.state, chat.state);
}

/** What a conversation's last message says, for the list. */
function preview(m: ChatMessage | null, nameOf: (id: string) => string, selfId: string | null, inRoom: boolean): string {
  if (!m) return '';
  if (m.kind !== 'text') return systemText(m, nameOf, selfId);
  const text = snippet(m.body.replace(/\s+/g, ' '), 80);
  if (m.mine) return `You: ${text}`;
  return inRoom ? `${nameOf(m.sender)}: ${text}` : text;
}

function ChatList({ open }: { open: ConvKey | null }) {
  const chat = useChatView();
  const node = useNodeView();
  const nameOf = usePersonName();
  const [dialog, setDialog] = useState<'room' | 'dm' | null>(null);
  const rooms = sortedRooms(chat.state);
  const dms = sortedDms(chat.state);
  const selfId = node.state.self?.peer_id ?? null;
  // A direct conversation just started has no message yet, so the node does not list it.
  const draftDm = open?.kind === 'dm' && !chat.state.dms[open.id] ? open.id : null;

  return (
    <aside class="chat-list" aria-label="Conversations">
      <div class="chat-list-head">
        <h1>Chat</h1>
        <div class="chat-list-actions">
          <button type="button" class="btn btn-quiet" onClick={() => setDialog('room')} data-testid="chat-new-room" title="Start a group room">
            <PlusIcon size={15} />
            New room
          </button>
          <button type="button" class="btn btn-quiet" onClick={() => setDialog('dm')} data-testid="chat-new-dm" title="Write to one person">
            <EditIcon size={15} />
            New message
          </button>
        </div>
      </div>
      <div class="chat-list-scroll">
        <h2 class="chat-list-title">Rooms</h2>
        {rooms.length === 0 ? (
          <p class="chat-list-empty">{chat.state.loaded ? 'No rooms yet.' : 'Loading…'}</p>
        ) : (
          <ul class="chat-items" data-testid="room-list">
            {rooms.map((r) => (
              <RoomItem
                key={r.room_id}
                room={r}
                active={sameConv(open, { kind: 'room', id: r.room_id })}
                text={preview(r.last_message, nameOf, selfId, true)}
              />
            ))}
          </ul>
        )}
        <h2 class="chat-list-title">Direct messages</h2>
        {dms.length === 0 && !draftDm ? (
          <p class="chat-list-empty">{chat.state.loaded ? 'No conversations yet.' : 'Loading…'}</p>
        ) : (
          <ul class="chat-items" data-testid="dm-list">
            {draftDm && <DmItem peerId={draftDm} conv={null} active text="New conversation" />}
            {dms.map((d) => (
              <DmItem
                key={d.peer_id}
                peerId={d.peer_id}
                conv={d}
                active={sameConv(open, { kind: 'dm', id: d.peer_id })}
                text={preview(d.last_message, nameOf, selfId, false)}
              />
            ))}
          </ul>
        )}
      </div>
      {dialog === 'room' && <NewRoomDialog onClose={() => setDialog(null)} />}
      {dialog === 'dm' && <NewDmDialog onClose={() => setDialog(null)} />}
    </aside>
  );
}

function RoomItem({ room, active, text }: { room: RoomInfo; active: boolean; text: string }) {
  const gone = room.deleted ? 'deleted' : room.left || room.muted ? 'left' : null;
  const classes = ['chat-item'];
  if (active) classes.push('active');
  if (gone) classes.push('is-gone');
  if (room.unread > 0) classes.push('has-unread');
  return (
    <li>
      <a
        class={classes.join(' ')}
        href={convHref({ kind: 'room', id: room.room_id })}
        aria-current={active ? 'page' : undefined}
        data-testid={`room-item-${room.room_id}`}
      >
        <span class="chat-item-icon">
          <HashIcon size={16} />
        </span>
        <span class="chat-item-text">
          <span class="chat-item-name">
            <span class="chat-item-label" data-testid="room-name">
              {room.name}
            </span>
            {gone && (
              <span class="chip chat-item-mark" data-testid={`room-${gone}-${room.room_id}`}>
                {gone}
              </span>
            )}
          </span>
          {text && <span class="chat-item-preview">{text}</span>}
        </span>
        {room.unread > 0 && (
          <span class="unread-badge" aria-label={`${room.unread} unread`} data-testid={`room-unread-${room.room_id}`}>
            {room.unread > 99 ? '99+' : room.unread}
          </span>
        )}
      </a>
    </li>
  );
}

function DmItem({
  peerId,
  conv,
  active,
  text,
}: {
  peerId: string;
  conv: DmConversation | null;
  active: boolean;
  text: string;
}) {
  const node = useNodeView();
  const nameOf = usePersonName();
  const name = nameOf(peerId);
  const named = name !== shortId(peerId);
  const online = node.state.peers[peerId]?.online ?? conv?.online ?? false;
  const unread = conv?.unread ?? 0;
  const classes = ['chat-item'];
  if (active) classes.push('active');
  if (unread > 0) classes.push('has-unread');
  return (
    <li>
      <a
        class={classes.join(' ')}
        href={convHref({ kind: 'dm', id: peerId })}
        aria-current={active ? 'page' : undefined}
        data-testid={`dm-item-${peerId}`}
      >
        <span class="peer-avatar">
          <Avatar id={peerId} name={named ? name : null} size={30} />
          <span class={online ? 'presence presence-on' : 'presence presence-off'} aria-label={online ? 'online' : 'offline'} />
        </span>
        <span class="chat-item-text">
          <span class="chat-item-name">
            <span class={named ? 'chat-item-label' : 'chat-item-label mono'}>{name}</span>
          </span>
          {text && <span class="chat-item-preview">{text}</span>}
        </span>
        {unread > 0 && (
          <span class="unread-badge" aria-label={`${unread} unread`} data-testid={`dm-unread-${peerId}`}>
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </a>
    </li>
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

// ---------------------------------------------------------------------------------------
// Dialogs

/** Roughly what a peer id looks like (base58, as printed by Hearth). */
export function looksLikePeerId(text: string): boolean {
  return /^[1-9A-Za-z]{30,100}$/.test(text);
}

/** Known peers one could write to or invite: not blocked, not this node, not in `exclude`. */
function candidatePeers(peers: PeerInfo[], selfId: string | null, exclude: ReadonlySet<string>): PeerInfo[] {
  return peers.filter((p) => !p.blocked && p.peer_id !== selfId && !exclude.has(p.peer_id));
}

function go(key: ConvKey) {
  window.location.hash = convHref(key);
}

function NewRoomDialog({ onClose }: { onClose: () => void }) {
  const backend = useBackend();
  const chat = useChatView();
  const node = useNodeView();
  const peers = candidatePeers(sortedPeers(node.state), node.state.self?.peer_id ?? null, new Set());
  const [name, setName] = useState('');
  const [members, setMembers] = useState<ReadonlySet<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const toggle = (id: string) =>
    setMembers((old) => {
      const next = new Set(old);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const n = name.trim();
    if (!n || busy) return;
    setBusy(true);
    setError(null);
    try {
      const room = await backend.call('create_room', { name: n, members: [...members] });
      chat.upsertRoom(room);
      onClose();
      go({ kind: 'room', id: room.room_id });
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <Modal title="New room" onClose={onClose} testId="new-room-dialog">
      <form class="modal-form" onSubmit={onSubmit}>
        <label class="field">
          <span class="field-label">Name</span>
          <input
            class="input"
            type="text"
            maxLength={100}
            placeholder="e.g. Reading group"
            autoFocus
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            data-testid="new-room-name"
          />
        </label>
        <div class="field">
          <span class="field-label">Members {members.size > 0 && `· ${members.size} chosen`}</span>
          <PeerChoice
            peers={peers}
            selected={members}
            onToggle={toggle}
            multiple
            testPrefix="new-room-member-"
            empty="Your node knows no peers yet. You can create the room now and invite people later."
          />
        </div>
        {error && (
          <p class="form-msg err" role="alert">
            {error}
          </p>
        )}
        <div class="modal-foot">
          <button type="button" class="btn btn-quiet" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy || !name.trim()} data-testid="new-room-create">
            <PlusIcon size={16} />
            {busy ? 'Creating…' : 'Create room'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Choose a known peer or paste a peer id; `onPick` gets the id chosen. */
function PickPeerForm({
  exclude,
  prefix,
  submitLabel,
  busyLabel,
  submitIcon,
  emptyText,
  onPick,
  onClose,
}: {
  exclude: ReadonlySet<string>;
  /** Test ids: `<prefix>-peer-<id>`, `<prefix>-peer-id`, and the submit button's. */
  prefix: 'new-dm' | 'invite';
  submitLabel: string;
  busyLabel: string;
  submitIcon: ComponentChildren;
  emptyText: string;
  onPick: (peerId: string) => Promise<void> | void;
  onClose: () => void;
}) {
  const node = useNodeView();
  const selfId = node.state.self?.peer_id ?? null;
  const peers = candidatePeers(sortedPeers(node.state), selfId, exclude);
  const [chosen, setChosen] = useState<string | null>(null);
  const [pasted, setPasted] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const target = pasted.trim() || chosen;

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (!target || busy) return;
    if (pasted.trim()) {
      if (!looksLikePeerId(target)) {
        setError('That does not look like a peer id (it starts with 12D3Koo…).');
        return;
      }
      if (target === selfId) {
        setError('That is your own peer id.');
        return;
      }
      if (exclude.has(target)) {
        setError('That peer is already a member.');
        return;
      }
    }
    setBusy(true);
    setError(null);
    try {
      await onPick(target);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <form class="modal-form" onSubmit={onSubmit}>
      <div class="field">
        <span class="field-label">Known peers</span>
        <PeerChoice
          peers={peers}
          selected={new Set(chosen && !pasted.trim() ? [chosen] : [])}
          onToggle={(id) => {
            setChosen(id);
            setPasted('');
            setError(null);
          }}
          multiple={false}
          testPrefix={`${prefix}-peer-`}
          empty={emptyText}
        />
      </div>
      <label class="field">
        <span class="field-label">Or paste a peer id</span>
        <input
          class="input mono"
          type="text"
          placeholder="12D3Koo…"
          autocomplete="off"
          spellcheck={false}
          value={pasted}
          onInput={(e) => {
            setPasted(e.currentTarget.value);
            setError(null);
          }}
          data-testid={`${prefix}-peer-id`}
        />
      </label>
      {error && (
        <p class="form-msg err" role="alert" data-testid={`${prefix}-error`}>
          {error}
        </p>
      )}
      <div class="modal-foot">
        <button type="button" class="btn btn-quiet" onClick={onClose}>
          Cancel
        </button>
        <button
          type="submit"
          class="btn btn-primary"
          disabled={busy || !target}
          data-testid={prefix === 'new-dm' ? 'new-dm-start' : 'invite-submit'}
        >
          {submitIcon}
          {busy ? busyLabel : submitLabel}
        </button>
      </div>
    </form>
  );
}

function NewDmDialog({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="New message" onClose={onClose} testId="new-dm-dialog">
      <PickPeerForm
        exclude={new Set()}
        prefix="new-dm"
        submitLabel="Start conversation"
        busyLabel="Opening…"
        submitIcon={<EditIcon size={16} />}
        emptyText="Your node knows no peers yet: paste the peer id of the person you want to write to."
        onPick={(peerId) => {
          onClose();
          go({ kind: 'dm', id: peerId });
        }}
        onClose={onClose}
      />
    </Modal>
  );
}

function InviteDialog({ room, onClose }: { room: RoomInfo; onClose: () => void }) {
  const backend = useBackend();
  const members = new Set(room.members.map((m) => m.peer_id));
  return (
    <Modal title={`Invite to “${room.name}”`} onClose={onClose} testId="invite-dialog">
      <PickPeerForm
        exclude={members}
        prefix="invite"
        submitLabel="Invite"
        busyLabel="Inviting…"
        submitIcon={<PlusIcon size={16} />}
        emptyText="Every peer your node knows is already a member. Paste the peer id of someone else."
        onPick={async (peerId) => {
          await backend.call('invite', { room_id: room.room_id, peer_id: peerId });
          onClose();
        }}
        onClose={onClose}
      />
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------
// One conversation

function Conversation({ conv }: { conv: ConvKey }) {
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

function RoomHeader({ room, selfId }: { room: RoomInfo; selfId: string | null }) {
  const backend = useBackend();
  const nameOf = usePersonName();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(room.name);
  const [confirm, setConfirm] = useState<'leave' | 'delete' | null>(null);
  const [inviting, setInviting] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const active = !room.left && !room.deleted && !room.muted;
  const isCreator = selfId !== null && room.creator === selfId;

  const act = async (what: () => Promise<unknown>, after?: () => void) => {
    setBusy(true);
    setError(null);
    try {
      await what();
      after?.();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const rename = (e: Event) => {
    e.preventDefault();
    const n = name.trim();
    if (!n || n === room.name) {
      setEditing(false);
      return;
    }
    void act(() => backend.call('rename_room', { room_id: room.room_id, name: n }), () => setEditing(false));
  };

  const host = room.host ? room.members.find((m) => m.peer_id === room.host) : undefined;
  const hostText = room.is_host ? 'you are the host' : room.host ? `host: ${host?.display_name || nameOf(room.host)}` : 'no host right now';

  return (
    <header class="conv-head">
      <div class="conv-head-row">
        <span class="chat-item-icon conv-icon">
          <HashIcon size={18} />
        </span>
        <div class="conv-title">
          {editing ? (
            <form class="rename-form" onSubmit={rename}>
              <input
                class="input"
                type="text"
                maxLength={100}
                autoFocus
                value={name}
                onInput={(e) => setName(e.currentTarget.value)}
                onKeyDown={(e) => {
                  if (e.key === 'Escape') setEditing(false);
                }}
                data-testid="room-rename-input"
              />
              <button type="submit" class="btn btn-primary btn-sm" disabled={busy || !name.trim()} data-testid="room-rename-save">
                Save
              </button>
              <button type="button" class="btn btn-quiet btn-sm" onClick={() => setEditing(false)}>
                Cancel
              </button>
            </form>
          ) : (
            <h2 data-testid="conv-title">
              <span>{room.name}</span>
              {active && (
                <button
                  type="button"
                  class="icon-btn"
                  title="Rename the room"
                  aria-label="Rename the room"
                  onClick={() => {
                    setName(room.name);
                    setEditing(true);
                  }}
                  data-testid="room-rename"
                >
                  <EditIcon size={14} />
                </button>
              )}
            </h2>
          )}
          <span class="conv-sub">
            {room.members.length} {room.members.length === 1 ? 'member' : 'members'} · {hostText}
            {room.deleted && <span class="chip chip-danger">deleted</span>}
            {!room.deleted && (room.left || room.muted) && <span class="chip">left</span>}
          </span>
        </div>
        <div class="conv-actions">
          {active && (
            <button type="button" class="btn btn-quiet" onClick={() => setInviting(true)} data-testid="room-invite">
              <PlusIcon size={15} />
              Invite
            </button>
          )}
          {active && (
            <button
              type="button"
              class="btn btn-quiet btn-danger-quiet"
              onClick={() => setConfirm('leave')}
              disabled={busy}
              data-testid="room-leave"
            >
              <LogOutIcon size={15} />
              Leave
            </button>
          )}
          {isCreator && !room.deleted && (
            <button
              type="button"
              class="btn btn-quiet btn-danger-quiet"
              onClick={() => setConfirm('delete')}
              disabled={busy}
              data-testid="room-delete"
            >
              <TrashIcon size={15} />
              Delete
            </button>
          )}
        </div>
      </div>
      {confirm && (
        <div class="confirm conv-confirm" role="alertdialog" data-testid={`room-${confirm}-confirmation`}>
          <span class="confirm-q">
            {confirm === 'leave'
              ? `Leave “${room.name}”? You will stop receiving its messages; its history stays here.`
              : `Delete “${room.name}” for everyone? No one can write in it afterwards.`}
          </span>
          <button
            type="button"
            class="btn btn-danger btn-sm"
            disabled={busy}
            onClick={() =>
              void act(
                () => (confirm === 'leave' ? backend.call('leave_room', { room_id: room.room_id }) : backend.call('delete_room', { room_id: room.room_id })),
                () => setConfirm(null),
              )
            }
            data-testid={`room-${confirm}-confirm`}
          >
            {confirm === 'leave' ? 'Leave room' : 'Delete room'}
          </button>
          <button type="button" class="btn btn-quiet btn-sm" onClick={() => setConfirm(null)} disabled={busy}>
            Cancel
          </button>
        </div>
      )}
      {error && (
        <p class="form-msg err conv-head-error" role="alert" data-testid="room-action-error">
          {error}
        </p>
      )}
      {inviting && <InviteDialog room={room} onClose={() => setInviting(false)} />}
    </header>
  );
}

function DmHeader({ peerId, online }: { peerId: string; online: boolean }) {
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

function MemberList({
  room,
  selfId,
  isOnline,
}: {
  room: RoomInfo;
  selfId: string | null;
  isOnline: (peerId: string) => boolean;
}) {
  const nameOf = usePersonName();
  const members = [...room.members].sort((a, b) => {
    const ah = a.peer_id === room.host;
    const bh = b.peer_id === room.host;
    if (ah !== bh) return ah ? -1 : 1;
    const ao = isOnline(a.peer_id);
    const bo = isOnline(b.peer_id);
    if (ao !== bo) return ao ? -1 : 1;
    return nameOf(a.peer_id).localeCompare(nameOf(b.peer_id), undefined, { sensitivity: 'base' });
  });
  return (
    <aside class="conv-members" aria-label="Members">
      <h3>Members · {members.length}</h3>
      <ul data-testid="room-members">
        {members.map((m) => {
          const name = m.peer_id === selfId ? nameOf(m.peer_id) : m.display_name?.trim() || nameOf(m.peer_id);
          const named = name !== shortId(m.peer_id);
          const online = isOnline(m.peer_id);
          const host = m.host || m.peer_id === room.host;
          return (
            <li
              key={m.peer_id}
              class={online ? 'member' : 'member is-offline'}
              data-testid={`room-member-${m.peer_id}`}
              data-host={host ? 'true' : 'false'}
              data-online={online ? 'true' : 'false'}
            >
              <span class="peer-avatar">
                <Avatar id={m.peer_id} name={named ? name : null} size={26} />
                <span class={online ? 'presence presence-on' : 'presence presence-off'} aria-label={online ? 'online' : 'offline'} />
              </span>
              <span class="member-text">
                <span class={named ? 'member-name' : 'member-name mono'} title={m.peer_id}>
                  {name}
                  {m.peer_id === selfId && name !== 'You' && <span class="muted"> (you)</span>}
                </span>
                {(host || m.creator || m.peer_id === room.creator) && (
                  <span class="member-badges">
                    {host && (
                      <span class="chip chip-accent" title="Orders and relays the room's messages" data-testid="member-host">
                        host
                      </span>
                    )}
                    {(m.creator || m.peer_id === room.creator) && (
                      <span class="chip" title="Created the room" data-testid="member-creator">
                        creator
                      </span>
                    )}
                  </span>
                )}
              </span>
            </li>
          );
        })}
      </ul>
    </aside>
  );
}

/** Drops blank lines before and whitespace after a message (not the spaces that start it). */
export function cleanMessage(text: string): string {
  return text.replace(/^(\s*\n)+/, '').trimEnd();
}

function Composer({
  placeholder,
  disabledReason,
  onSend,
}: {
  placeholder: string;
  disabledReason: string | null;
  onSend: (body: string) => Promise<void>;
}) {
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const ref = useRef<HTMLTextAreaElement>(null);
  const bytes = messageBytes(draft);
  const over = bytes > MAX_MESSAGE_BYTES;
  const disabled = disabledReason !== null;

  useEffect(() => {
    if (!disabled) ref.current?.focus();
  }, [disabled]);

  const send = async () => {
    const text = cleanMessage(draft);
    if (!text || over || disabled) return;
    setDraft('');
    setError(null);
    try {
      await onSend(text);
    } catch (err) {
      setDraft((d) => (d ? d : text));
      setError(describeError(err));
    }
  };

  const rows = Math.min(8, Math.max(1, draft.split('\n').length));

  return (
    <div class={disabled ? 'composer is-disabled' : 'composer'}>
      {disabledReason && (
        <p class="composer-note" data-testid="chat-composer-disabled">
          {disabledReason}
        </p>
      )}
      {error && (
        <p class="form-msg err composer-error" role="alert" data-testid="chat-send-error">
          {error}
        </p>
      )}
      <div class="composer-row">
        <textarea
          ref={ref}
          class="input textarea composer-input"
          rows={rows}
          placeholder={disabled ? '' : `${placeholder}  (Enter to send, Shift+Enter for a new line)`}
          disabled={disabled}
          value={draft}
          onInput={(e) => {
            setDraft(e.currentTarget.value);
            setError(null);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void send();
            }
          }}
          aria-label="Message"
          data-testid="chat-composer"
        />
        <button
          type="button"
          class="btn btn-primary composer-send"
          disabled={disabled || over || !cleanMessage(draft)}
          onClick={() => void send()}
          title="Send (Enter)"
          aria-label="Send"
          data-testid="chat-send"
        >
          <SendIcon size={17} />
        </button>
      </div>
      {bytes > MAX_MESSAGE_BYTES * 0.9 && (
        <p class={over ? 'form-msg err composer-size' : 'form-msg muted composer-size'} data-testid="chat-composer-size">
          {over
            ? `Too long: ${formatBytes(bytes)} of at most ${formatBytes(MAX_MESSAGE_BYTES)}`
            : `${formatBytes(bytes)} of ${formatBytes(MAX_MESSAGE_BYTES)}`}
        </p>
      )}
    </div>
  );
}
