import type { ComponentChildren } from 'preact';
import type { ChatMessage, MessageState } from '../../api/types';
import { STATE_LABELS, clockTime, type Line } from './chat';
import { Avatar } from '../../components/common';
import { AlertIcon, CheckIcon, ClockIcon, DoubleCheckIcon } from '../../components/icons';

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
