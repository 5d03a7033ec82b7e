import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Download, Resource, ResourceKind } from '../../api/types';
import { describeError } from '../../backend';
import { useBackend } from '../../context';
import { KINDS, downloadStateLabel, kindLabel } from './catalog';
import { shortId } from '../peers/peers';
import {
  formatBytes,
  formatDuration,
  formatEta,
  formatSpeed,
  parseTags as parseTagsText,
  percent,
  safeThumbnailHash,
} from '../../util/format';
import { CopyButton } from '../../components/common';
import {
  AudioIcon,
  DatasetIcon,
  FileIcon,
  FolderIcon,
  ImageIcon,
  PaperIcon,
  VideoIcon,
} from '../../components/icons';

export function KindIcon({ kind, size = 18 }: { kind: ResourceKind; size?: number }): JSX.Element {
  switch (kind) {
    case 'paper':
      return <PaperIcon size={size} />;
    case 'dataset':
      return <DatasetIcon size={size} />;
    case 'video':
      return <VideoIcon size={size} />;
    case 'audio':
      return <AudioIcon size={size} />;
    case 'image':
      return <ImageIcon size={size} />;
    default:
      return <FileIcon size={size} />;
  }
}

/** The address of a resource's thumbnail, or `null` when it has none. */
export function useThumbnailUrl(resource: Resource): string | null {
  const backend = useBackend();
  const hash = safeThumbnailHash(resource.thumbnail_hash);
  return hash ? backend.thumbnailUrl(resource.content_id, hash) : null;
}

/**
 * The resource's thumbnail (loaded lazily) when it has one, else its kind's icon on a tile.
 * With `duration`, a video or audio resource shows its play length over it.
 */
export function Thumb({ resource, size = 48, duration = false }: { resource: Resource; size?: number; duration?: boolean }) {
  const src = useThumbnailUrl(resource);
  // An image that fails to load (e.g. the node no longer has it) leaves the kind's icon.
  const [failed, setFailed] = useState<string | null>(null);
  const style = { width: `${size}px`, height: `${size}px` };
  const tile =
    src && failed !== src ? (
      <img
        class="thumb"
        src={src}
        alt=""
        style={style}
        width={size}
        height={size}
        loading="lazy"
        decoding="async"
        onError={() => setFailed(src)}
        data-testid="thumb"
      />
    ) : (
      <span class={`thumb thumb-kind kind-${resource.kind}`} style={style} title={kindLabel(resource.kind)}>
        <KindIcon kind={resource.kind} size={Math.round(size * 0.46)} />
      </span>
    );
  const length = duration && (resource.kind === 'video' || resource.kind === 'audio') ? formatDuration(resource.duration_ms) : null;
  if (!length) return tile;
  return (
    <span class="thumb-wrap" style={style}>
      {tile}
      <span class="thumb-badge" title="Length" data-testid="thumb-duration">
        {length}
      </span>
    </span>
  );
}

/** How to name a resource's author: "you", the display name, or the short peer id. */
export function authorName(r: Resource, selfId: string | null): string {
  if (selfId !== null && r.author === selfId) return 'you';
  const name = r.author_name?.trim();
  return name ? name : shortId(r.author);
}

export function TagList({ tags, max }: { tags: string[]; max?: number }) {
  if (tags.length === 0) return null;
  const shown = max !== undefined ? tags.slice(0, max) : tags;
  return (
    <ul class="tags" aria-label="Tags">
      {shown.map((t) => (
        <li key={t} class="tag">
          {t}
        </li>
      ))}
      {shown.length < tags.length && <li class="tag tag-more">+{tags.length - shown.length}</li>}
    </ul>
  );
}

/** A bar from 0 to 100 with its value for assistive technology. */
export function ProgressBar({
  value,
  label,
  tone = 'active',
  testId,
}: {
  value: number;
  label: string;
  tone?: 'active' | 'paused' | 'done' | 'failed';
  testId?: string;
}) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      class={`progress progress-${tone}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={v}
      aria-valuetext={`${v}%`}
      data-testid={testId}
    >
      <div class="progress-fill" style={{ width: `${v}%` }} />
    </div>
  );
}

export function toneOf(d: Download): 'active' | 'paused' | 'done' | 'failed' {
  switch (d.state) {
    case 'complete':
      return 'done';
    case 'paused':
      return 'paused';
    case 'failed':
      return 'failed';
    default:
      return 'active';
  }
}

/** "1.2 MB of 3 MB · 820 kB/s · 3 peers · 4 s left", as fits the download's state. */
export function DownloadStats({ download: d }: { download: Download }) {
  const active = d.state === 'downloading' || d.state === 'starting';
  const eta = active ? formatEta(d.eta_secs) : null;
  return (
    <div class="dl-stats" data-testid="download-stats">
      <span class={`dl-state dl-state-${d.state}`} data-testid="download-state">
        {downloadStateLabel(d.state)}
      </span>
      <span data-testid="download-percent">{percent(d.progress)}%</span>
      <span data-testid="download-bytes">
        {d.state === 'complete' ? formatBytes(d.total_bytes) : `${formatBytes(d.have_bytes)} of ${formatBytes(d.total_bytes)}`}
      </span>
      {active && <span title="Download speed">{formatSpeed(d.down_bps)}</span>}
      {(active || d.peers > 0) && d.state !== 'complete' && (
        <span title="Peers sending data">
          {d.peers} {d.peers === 1 ? 'peer' : 'peers'}
        </span>
      )}
      {d.state === 'complete' && d.up_bps > 0 && <span title="Sending to other peers now">↑ {formatSpeed(d.up_bps)}</span>}
      {(d.uploaded_bytes ?? 0) > 0 && <span title="Sent to other peers so far">shared {formatBytes(d.uploaded_bytes)}</span>}
      {active && <span title="Time left">{eta ? `${eta} left` : 'time left unknown'}</span>}
    </div>
  );
}

/** Opens a resource's folder on the node and says where it is (a browser cannot open it itself). */
export function OpenFolderButton({ contentId, quiet = false }: { contentId: string; quiet?: boolean }) {
  const backend = useBackend();
  const [busy, setBusy] = useState(false);
  const [path, setPath] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const onClick = async () => {
    setBusy(true);
    setError(null);
    try {
      setPath(await backend.call('open_folder', { content_id: contentId }));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="open-folder">
      <button
        type="button"
        class={quiet ? 'btn btn-quiet' : 'btn'}
        onClick={onClick}
        disabled={busy}
        data-testid="open-folder"
      >
        <FolderIcon size={15} /> Open folder
      </button>
      {path && (
        <span class="copy-line folder-path" role="status" data-testid="folder-path">
          <code class="mono wrap" title="The folder on the node's disk">
            {path}
          </code>
          <CopyButton text={path} label="Copy folder path" />
        </span>
      )}
      {error && (
        <span class="form-msg err" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

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

export interface ResourceDraft {
  title: string;
  description: string;
  /** `null`: let the node guess (only when publishing). */
  kind: ResourceKind | null;
  tags: string;
}

/** Title, description, kind and tags: used to publish and to edit. */
export function ResourceFields({
  draft,
  onChange,
  allowGuess,
  disabled,
  idPrefix,
}: {
  draft: ResourceDraft;
  onChange: (d: ResourceDraft) => void;
  /** Offer "let the node guess" for the kind. */
  allowGuess: boolean;
  disabled?: boolean;
  idPrefix: string;
}) {
  const set =
    <K extends keyof ResourceDraft>(k: K) =>
    (v: ResourceDraft[K]) =>
      onChange({ ...draft, [k]: v });
  return (
    <div class="resource-fields">
      <label class="field">
        <span class="field-label">Title</span>
        <input
          class="input"
          type="text"
          value={draft.title}
          maxLength={300}
          onInput={(e) => set('title')(e.currentTarget.value)}
          disabled={disabled}
          data-testid={`${idPrefix}-title`}
        />
      </label>
      <label class="field">
        <span class="field-label">Description</span>
        <textarea
          class="input textarea"
          rows={3}
          value={draft.description}
          maxLength={10000}
          placeholder="What it is, where it comes from, how to cite it (optional)"
          onInput={(e) => set('description')(e.currentTarget.value)}
          disabled={disabled}
          data-testid={`${idPrefix}-description`}
        />
      </label>
      <div class="field-row">
        <label class="field">
          <span class="field-label">Kind</span>
          <select
            class="input select"
            value={draft.kind ?? ''}
            onChange={(e) => {
              const v = e.currentTarget.value;
              set('kind')(v === '' ? null : (v as ResourceKind));
            }}
            disabled={disabled}
            data-testid={`${idPrefix}-kind`}
          >
            {allowGuess && <option value="">Guess from the file</option>}
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </label>
        <label class="field field-grow">
          <span class="field-label">Tags</span>
          <input
            class="input"
            type="text"
            value={draft.tags}
            placeholder="Comma-separated, e.g. physics, lecture notes"
            onInput={(e) => set('tags')(e.currentTarget.value)}
            disabled={disabled}
            data-testid={`${idPrefix}-tags`}
          />
        </label>
      </div>
    </div>
  );
}

export function draftOf(r: Resource): ResourceDraft {
  return { title: r.title, description: r.description, kind: r.kind, tags: r.tags.join(', ') };
}

/** Edits how one of my resources is described. */
export function ResourceEditor({
  resource,
  onSaved,
  onCancel,
}: {
  resource: Resource;
  onSaved: (r: Resource) => void;
  onCancel: () => void;
}) {
  const backend = useBackend();
  const [draft, setDraft] = useState<ResourceDraft>(() => draftOf(resource));
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const idPrefix = 'edit';

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const title = draft.title.trim();
    if (!title) {
      setError('A title is needed.');
      return;
    }
    setSaving(true);
    setError(null);
    try {
      const saved = await backend.call('update_resource', {
        content_id: resource.content_id,
        title,
        description: draft.description.trim(),
        kind: draft.kind ?? resource.kind,
        tags: parseTagsText(draft.tags),
      });
      onSaved(saved);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <form class="editor" onSubmit={onSubmit} data-testid="resource-editor" aria-label={`Edit ${resource.title}`}>
      <ResourceFields draft={draft} onChange={setDraft} allowGuess={false} disabled={saving} idPrefix={idPrefix} />
      <div class="form-footer">
        {error && (
          <span class="form-msg err" role="alert">
            {error}
          </span>
        )}
        <button type="button" class="btn btn-quiet" onClick={onCancel} disabled={saving}>
          Cancel
        </button>
        <button type="submit" class="btn btn-primary" disabled={saving} data-testid="edit-save">
          {saving ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}
