import type { ComponentChildren } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { BackendContext, NodeContext } from '../context';
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

/** The picture hash a peer (or this node) announced, from the node's view; `null`: none. */
function useAvatarHash(id: string): string | null {
  const node = useContext(NodeContext);
  if (!node) return null;
  const { self, peers } = node.state;
  const profile = self?.peer_id === id ? self.profile : peers[id]?.profile;
  return profile?.avatar ?? null;
}

/** How often a picture not fetched yet (a peer's, still on its way) is asked for again. */
const AVATAR_RETRY_MS = 4000;
const AVATAR_RETRIES = 5;

/**
 * A round badge: the person's picture when they set one (by its hash, given or looked up
 * by peer id in the node's view), else their initials, coloured by their peer id.
 */
export function Avatar({
  id,
  name,
  size = 40,
  avatar,
}: {
  id: string;
  name: string | null;
  size?: number;
  /** The picture's hash; `undefined`: look it up by `id`; `null`: none. */
  avatar?: string | null;
}) {
  const backend = useContext(BackendContext);
  const known = useAvatarHash(id);
  const hash = avatar === undefined ? known : avatar;
  // Failed loads of the current picture; while `waiting`, the initials show until it is
  // asked for again (a peer's picture may still be on its way to this node).
  const [fail, setFail] = useState({ hash: '', count: 0, waiting: false });
  const current = fail.hash === hash ? fail : { hash: hash ?? '', count: 0, waiting: false };
  useEffect(() => {
    if (!current.waiting || current.count >= AVATAR_RETRIES) return;
    const t = setTimeout(() => setFail((f) => (f.hash === current.hash ? { ...f, waiting: false } : f)), AVATAR_RETRY_MS);
    return () => clearTimeout(t);
  }, [current.hash, current.waiting, current.count]);
  const hue = hueFor(id);
  const style = {
    width: `${size}px`,
    height: `${size}px`,
    fontSize: `${Math.round(size * 0.38)}px`,
    '--avatar-hue': String(hue),
  };
  const src = hash && backend && !current.waiting ? backend.avatarUrl(hash) : null;
  return (
    <span class={src ? 'avatar avatar-picture' : 'avatar'} style={style} aria-hidden="true" data-avatar={hash ?? undefined}>
      {src ? (
        <img
          key={`${hash}-${current.count}`}
          src={src}
          alt=""
          width={size}
          height={size}
          data-testid="avatar-img"
          onError={() => setFail({ hash: current.hash, count: current.count + 1, waiting: true })}
        />
      ) : name ? (
        initials(name)
      ) : (
        <UserIcon size={Math.round(size * 0.5)} />
      )}
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
