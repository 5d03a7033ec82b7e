import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from '../../backend';
import { SendIcon } from '../../components/icons';
import { MAX_MESSAGE_BYTES, messageBytes } from './chat';
import { formatBytes } from '../../util/format';

/** Drops blank lines before and whitespace after a message (not the spaces that start it). */
export function cleanMessage(text: string): string {
  return text.replace(/^(\s*\n)+/, '').trimEnd();
}

export function Composer({
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
