import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Resource, ResourceKind } from '../../api/types';
import { describeError } from '../../backend';
import { useBackend } from '../../context';
import { KINDS, kindLabel } from './catalog';
import { shortId } from '../peers/peers';
import { formatDuration, parseTags as parseTagsText, safeThumbnailHash } from '../../util/format';
import { AudioIcon, DatasetIcon, FileIcon, ImageIcon, PaperIcon, TrashIcon, VideoIcon } from '../../components/icons';
import { ConfirmButton } from '../../components/ConfirmButton';
import type { Action } from '../../util/useAction';
import './catalog.css';

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

/** Asks, then unpublishes one of my resources; `onRemoved` once the node has. */
export function UnpublishButton({
  contentId,
  question,
  action,
  onRemoved,
  testId,
}: {
  contentId: string;
  question: string;
  action: Action;
  onRemoved: () => void;
  testId: string;
}) {
  const backend = useBackend();
  return (
    <ConfirmButton
      label="Unpublish"
      confirmLabel="Unpublish"
      question={question}
      icon={<TrashIcon size={15} />}
      onConfirm={() =>
        action.run(async () => {
          await backend.call('unpublish', { content_id: contentId });
          onRemoved();
        })
      }
      disabled={action.busy}
      testId={testId}
    />
  );
}
