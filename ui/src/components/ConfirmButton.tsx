import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/** A button that asks "are you sure?" in place before a destructive action. */
export function ConfirmButton({
  label,
  confirmLabel,
  question,
  onConfirm,
  icon,
  disabled,
  testId,
}: {
  label: string;
  confirmLabel: string;
  question: string;
  onConfirm: () => void | Promise<void>;
  icon?: ComponentChildren;
  disabled?: boolean;
  testId?: string;
}) {
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) yes.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button
        type="button"
        class="btn btn-quiet btn-danger-quiet"
        onClick={() => setAsking(true)}
        disabled={disabled}
        data-testid={testId}
      >
        {icon}
        {label}
      </button>
    );
  }
  return (
    <span
      class="confirm"
      role="group"
      aria-label={question}
      onKeyDown={(e) => {
        if (e.key === 'Escape') setAsking(false);
      }}
    >
      <span class="confirm-q">{question}</span>
      <button
        ref={yes}
        type="button"
        class="btn btn-quiet btn-danger"
        onClick={() => {
          setAsking(false);
          void onConfirm();
        }}
        disabled={disabled}
        data-testid={testId ? `${testId}-confirm` : undefined}
      >
        {confirmLabel}
      </button>
      <button type="button" class="btn btn-quiet" onClick={() => setAsking(false)}>
        Keep
      </button>
    </span>
  );
}
