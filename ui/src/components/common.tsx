import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { hueFor, initials } from '../util/format';
import { CheckIcon, CopyIcon, UserIcon } from './icons';

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // fall back below (e.g. clipboard permission denied)
    }
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  try {
    document.execCommand('copy');
  } finally {
    ta.remove();
  }
}

export function CopyButton({
  text,
  label = 'Copy',
  testId,
}: {
  text: string;
  label?: string;
  testId?: string;
}) {
  const [copied, setCopied] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  const onClick = async () => {
    try {
      await copyText(text);
      setCopied(true);
      if (timer.current) clearTimeout(timer.current);
      timer.current = setTimeout(() => setCopied(false), 1500);
    } catch {
      setCopied(false);
    }
  };
  return (
    <button
      type="button"
      class={copied ? 'icon-btn copied' : 'icon-btn'}
      title={copied ? 'Copied' : label}
      aria-label={copied ? 'Copied' : label}
      data-testid={testId}
      onClick={onClick}
    >
      {copied ? <CheckIcon size={15} /> : <CopyIcon size={15} />}
    </button>
  );
}

/** A round badge with a person's initials, coloured by their peer id. */
export function Avatar({ id, name, size = 40 }: { id: string; name: string | null; size?: number }) {
  const hue = hueFor(id);
  const style = {
    width: `${size}px`,
    height: `${size}px`,
    fontSize: `${Math.round(size * 0.38)}px`,
    '--avatar-hue': String(hue),
  };
  return (
    <span class="avatar" style={style} aria-hidden="true">
      {name ? initials(name) : <UserIcon size={Math.round(size * 0.5)} />}
    </span>
  );
}

export function EmptyState({
  icon,
  title,
  children,
  testId,
}: {
  icon: ComponentChildren;
  title: string;
  children?: ComponentChildren;
  testId?: string;
}) {
  return (
    <div class="empty" data-testid={testId}>
      <div class="icon-tile empty-icon">{icon}</div>
      <h2>{title}</h2>
      <div class="empty-body">{children}</div>
    </div>
  );
}

export function PageHeader({ title, subtitle, children }: { title: string; subtitle?: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p class="subtitle">{subtitle}</p>}
      </div>
      {children && <div class="page-header-actions">{children}</div>}
    </header>
  );
}
