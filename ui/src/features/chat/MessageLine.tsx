import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { ChatMessage, MessageState, PeerInfo } from '../../api/types';
import { STATE_LABELS, clockTime, type Line } from './chat';
import { peerName } from '../peers/peers';
import { Avatar } from '../../components/common';
import { AlertIcon, CheckIcon, ClockIcon, CloseIcon, DoubleCheckIcon } from '../../components/icons';

/** A dialog over the page; Escape or a click beside it closes it. */
export function Modal({
  title,
  onClose,
  children,
  testId,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  testId?: string;
}) {
  const latest = useRef(onClose);
  latest.current = onClose;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') latest.current();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return (
    <div
      class="modal-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div class="modal card" role="dialog" aria-modal="true" aria-label={title} data-testid={testId}>
        <div class="modal-head">
          <h2>{title}</h2>
          <button type="button" class="icon-btn" aria-label="Close" title="Close" onClick={onClose}>
            <CloseIcon size={16} />
          </button>
        </div>
        {children}
      </div>
    </div>
  );
}

/**
 * Known peers to choose from: one (`multiple` false: picking another replaces it) or several
 * (check boxes). Each row has the test id `<testPrefix><peer id>`.
 */
export function PeerChoice({
  peers,
  selected,
  onToggle,
  multiple,
  testPrefix,
  empty,
}: {
  peers: PeerInfo[];
  selected: ReadonlySet<string>;
  onToggle: (peerId: string) => void;
  multiple: boolean;
  testPrefix: string;
  empty: string;
}) {
  if (peers.length === 0) return <p class="hint peer-choice-empty">{empty}</p>;
  return (
    <ul class="peer-choice" role={multiple ? 'group' : 'radiogroup'}>
      {peers.map((p) => {
        const name = peerName(p);
        const named = !!p.profile?.display_name.trim();
        const checked = selected.has(p.peer_id);
        return (
          <li key={p.peer_id}>
            <label class={checked ? 'peer-choice-row is-checked' : 'peer-choice-row'}>
              <input
                type={multiple ? 'checkbox' : 'radio'}
                name={testPrefix}
                checked={checked}
                onChange={() => onToggle(p.peer_id)}
                data-testid={`${testPrefix}${p.peer_id}`}
              />
              <span class="peer-avatar">
                <Avatar id={p.peer_id} name={named ? name : null} size={28} />
                <span class={p.online ? 'presence presence-on' : 'presence presence-off'} aria-hidden="true" />
              </span>
              <span class={named ? 'peer-choice-name' : 'peer-choice-name mono'}>{name}</span>
              <span class="peer-choice-state">{p.online ? 'online' : 'offline'}</span>
            </label>
          </li>
        );
      })}
    </ul>
  );
}

/** The mark beside a message of mine: where it is on its way. */
export function StateMark({ state }: { state: MessageState }) {
  const label = STATE_LABELS[state];
  let icon: ComponentChildren;
  switch (state) {
    case 'sending':
    case 'queued':
      icon = <ClockIcon size={13} />;
      break;
    case 'held_by_host':
      icon = <CheckIcon size={13} />;
      break;
    case 'delivered':
      icon = <DoubleCheckIcon size={14} />;
      break;
    case 'not_delivered_yet':
      icon = <AlertIcon size={13} />;
      break;
    case 'received':
      return null;
  }
  return (
    <span class={`msg-state msg-state-${state}`} title={label} aria-label={label} data-testid="message-state">
      {icon}
    </span>
  );
}

/** One line of a conversation. */
export function MessageLine({
  line,
  nameOf,
  systemText,
}: {
  line: Line;
  nameOf: (peerId: string) => string;
  systemText: (m: ChatMessage) => string;
}) {
  if (line.type === 'day') {
    return (
      <div class="msg-day" role="separator">
        <span>{line.label}</span>
      </div>
    );
  }
  const m = line.message;
  const data = { 'data-id': m.id, 'data-state': m.state, 'data-kind': m.kind, 'data-seq': m.seq ?? '' };
  if (line.type === 'system') {
    return (
      <div class="msg-system" data-testid="chat-message" {...data}>
        <span>{systemText(m)}</span>
        <time dateTime={new Date(m.sent_ms).toISOString()}>{clockTime(m.sent_ms)}</time>
      </div>
    );
  }
  const sender = m.sender;
  const classes = ['msg', m.mine ? 'msg-mine' : 'msg-theirs'];
  if (line.first) classes.push('msg-first');
  if (line.last) classes.push('msg-last');
  return (
    <div class={classes.join(' ')} data-testid="chat-message" {...data}>
      {!m.mine && (
        <span class="msg-avatar">{line.first && <Avatar id={sender} name={nameOf(sender)} size={30} />}</span>
      )}
      <div class="msg-col">
        {line.first && !m.mine && (
          <span class="msg-sender" data-testid="message-sender">
            {nameOf(sender)}
          </span>
        )}
        <div class="msg-bubble">
          <span class="msg-body" data-testid="message-body">
            {m.body}
          </span>
          <span class="msg-meta">
            <time dateTime={new Date(m.sent_ms).toISOString()} title={new Date(m.sent_ms).toLocaleString()}>
              {clockTime(m.sent_ms)}
            </time>
            {m.mine && <StateMark state={m.state} />}
          </span>
        </div>
      </div>
    </div>
  );
}
