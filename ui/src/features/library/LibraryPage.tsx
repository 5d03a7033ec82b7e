import { useEffect, useRef, useState } from 'preact/hooks';
import type { Event as NodeEvent, Library, Resource } from '../../api/types';
import { describeError } from '../../backend';
import { PageHeader } from '../../components/common';
import { ResourceEditor, ResourceFields, Thumb, type ResourceDraft } from '../catalog/components';
import { OpenFolderButton, ProgressBar } from '../downloads/components';
import {
  CheckIcon,
  CloseIcon,
  EditIcon,
  FolderIcon,
  LibraryIcon,
  PlusIcon,
  UploadIcon,
} from '../../components/icons';
import { useBackend, useNodeEvents, useNodeView } from '../../context';
import { resourceHref } from '../../router';
import { applyResourceEvent, kindLabel, touchesLibrary } from '../catalog/catalog';
import { baseName, formatBytes, formatDate, parseTags } from '../../util/format';
import { useReloadable } from '../../util/useReloadable';
import { addVideoPreview, needsPreview } from '../video/preview';
import { useAction } from '../../util/useAction';
import { UnpublishButton } from '../catalog/components';
import './library.css';

export function LibraryPage() {
  const backend = useBackend();
  const { state: node } = useNodeView();
  const {
    value: library,
    setValue: setLibrary,
    loadError,
    load,
    reloadSoon,
    alive,
  } = useReloadable(() => backend.call('get_library'), [backend]);

  // A video published here gets a preview image from the page when the node cannot make one.
  const onPublished = (r: Resource) => {
    void load();
    if (!needsPreview(node.self, r)) return;
    addVideoPreview(backend, r).then(
      () => {
        if (alive.current) void load();
      },
      (e: unknown) => console.warn(`No preview image for “${r.title}”:`, e),
    );
  };

  const selfId = node.self?.peer_id ?? null;
  useNodeEvents((event) => {
    if (event.type === 'availability_changed' || event.type === 'download_progress') {
      // Counts shown beside my items: patch them in place, no need to ask the node.
      setLibrary((lib) => lib && patchPublished(lib, event));
      return;
    }
    if (touchesLibrary(event, selfId)) reloadSoon(400);
  });

  return (
    <section class="page" data-testid="page-library">
      <PageHeader title="Library" subtitle="What you publish and share from this node" />
      <PublishCard onPublished={onPublished} />
      <PublishedCard library={library} loadError={loadError} onChanged={setLibrary} reload={load} />
      <FoldersCard library={library} onChanged={setLibrary} />
    </section>
  );
}

/** Applies an event to my published items in place (e.g. how many holders are online). */
export function patchPublished(lib: Library, event: NodeEvent): Library {
  let changed = false;
  const published = lib.published.map((r) => {
    const next = applyResourceEvent(r, event);
    if (next === 'removed' || next === r) return r;
    changed = true;
    return next;
  });
  return changed ? { ...lib, published } : lib;
}

// ---------------------------------------------------------------------------------------
// Publishing

/** Something to publish: a file from the page, or a path on the node's disk. */
type Source = { type: 'file'; file: File } | { type: 'path'; path: string };

function sourceName(s: Source): string {
  return s.type === 'file' ? s.file.name : baseName(s.path) || s.path;
}

function freshDraft(s: Source): ResourceDraft {
  return { title: sourceName(s), description: '', kind: null, tags: '' };
}

function PublishCard({ onPublished }: { onPublished: (r: Resource) => void }) {
  const backend = useBackend();
  const [queue, setQueue] = useState<Source[]>([]);
  // The form's content belongs to the source it was made for; a new source starts afresh.
  const [edited, setEdited] = useState<{ source: Source; draft: ResourceDraft } | null>(null);
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<Resource | null>(null);
  const [hover, setHover] = useState(false);
  const [pathText, setPathText] = useState('');
  const dragDepth = useRef(0);

  const current = queue[0] ?? null;
  const draft = current ? (edited?.source === current ? edited.draft : freshDraft(current)) : null;
  const setDraft = (d: ResourceDraft) => current && setEdited({ source: current, draft: d });

  const add = (sources: Source[]) => {
    if (sources.length === 0) return;
    setQueue((q) => [...q, ...sources]);
    setDone(null);
    setError(null);
  };

  const next = () => {
    setQueue((q) => q.slice(1));
    setProgress(null);
    setError(null);
  };

  // In the desktop app, files dropped on the window arrive as paths.
  useEffect(() => {
    return (
      backend.watchFileDrops((e) => {
        if (e.type === 'hover') setHover(true);
        else if (e.type === 'leave') setHover(false);
        else {
          setHover(false);
          add(e.paths.map((path) => ({ type: 'path', path })));
        }
      }) ?? undefined
    );
  }, [backend]);

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    dragDepth.current = 0;
    setHover(false);
    const files = Array.from(e.dataTransfer?.files ?? []);
    add(files.map((file) => ({ type: 'file', file })));
  };

  const publish = async (e: Event) => {
    e.preventDefault();
    if (!current || !draft) return;
    const title = draft.title.trim() || sourceName(current);
    const meta = {
      title,
      description: draft.description.trim() || null,
      kind: draft.kind,
      tags: parseTags(draft.tags),
    };
    setBusy(true);
    setError(null);
    try {
      const r =
        current.type === 'file'
          ? await backend.upload(current.file, meta, (sent, total) => setProgress({ sent, total }))
          : await backend.call('publish', { path: current.path, ...meta });
      setDone(r);
      onPublished(r);
      next();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
      setProgress(null);
    }
  };

  const uploadPercent = progress && progress.total > 0 ? (progress.sent / progress.total) * 100 : 0;

  return (
    <div class="card settings-card publish-card" data-testid="publish-card">
      <div class="card-head">
        <UploadIcon size={18} />
        <h2>Publish</h2>
        <span class="card-head-note">Peers find what you publish in Explore</span>
      </div>

      {current && draft ? (
        <form class="publish-form" onSubmit={publish} data-testid="publish-form" aria-label={`Publish ${sourceName(current)}`}>
          <div class="publish-source">
            <FolderIcon size={16} />
            <span class="publish-source-name" title={current.type === 'path' ? current.path : current.file.name}>
              {current.type === 'path' ? current.path : current.file.name}
            </span>
            {current.type === 'file' && <span class="muted">{formatBytes(current.file.size)}</span>}
            {queue.length > 1 && <span class="chip">{queue.length - 1} more waiting</span>}
          </div>
          <ResourceFields draft={draft} onChange={setDraft} allowGuess disabled={busy} idPrefix="publish" />
          {busy && current.type === 'file' && (
            <div class="upload-progress">
              <ProgressBar value={uploadPercent} label={`Upload of ${current.file.name}`} testId="upload-progress" />
              <span class="muted">
                {progress && progress.sent >= progress.total
                  ? 'Sent; the node is preparing it…'
                  : `Sending ${formatBytes(progress?.sent ?? 0)} of ${formatBytes(current.file.size)}`}
              </span>
            </div>
          )}
          {busy && current.type === 'path' && <p class="muted">The node is reading the file…</p>}
          <div class="form-footer">
            {error && (
              <span class="form-msg err" role="alert" data-testid="publish-error">
                {error}
              </span>
            )}
            <button type="button" class="btn btn-quiet" onClick={next} disabled={busy}>
              {queue.length > 1 ? 'Skip' : 'Cancel'}
            </button>
            <button type="submit" class="btn btn-primary" disabled={busy} data-testid="publish-submit">
              <UploadIcon size={16} /> {busy ? 'Publishing…' : 'Publish'}
            </button>
          </div>
        </form>
      ) : (
        <div
          class={hover ? 'dropzone is-hover' : 'dropzone'}
          data-testid="dropzone"
          onDragEnter={(e) => {
            e.preventDefault();
            dragDepth.current++;
            setHover(true);
          }}
          onDragOver={(e) => {
            e.preventDefault();
            if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
          }}
          onDragLeave={() => {
            dragDepth.current = Math.max(0, dragDepth.current - 1);
            if (dragDepth.current === 0) setHover(false);
          }}
          onDrop={onDrop}
        >
          <span class="icon-tile dropzone-icon">
            <UploadIcon size={24} />
          </span>
          <p class="dropzone-title">Drop files here to publish them</p>
          <p class="muted">or</p>
          {backend.pickFiles ? (
            <button
              type="button"
              class="btn btn-primary"
              onClick={async () => {
                try {
                  const paths = (await backend.pickFiles?.()) ?? [];
                  add(paths.map((path) => ({ type: 'path', path })));
                } catch (err) {
                  setError(describeError(err));
                }
              }}
              data-testid="publish-pick"
            >
              Choose files…
            </button>
          ) : (
            <label class="btn btn-primary file-btn">
              Choose files…
              <input
                class="visually-hidden"
                type="file"
                multiple
                onChange={(e) => {
                  const files = Array.from(e.currentTarget.files ?? []);
                  e.currentTarget.value = '';
                  add(files.map((file) => ({ type: 'file', file })));
                }}
                data-testid="publish-file-input"
              />
            </label>
          )}
          {done && (
            <p class="form-msg ok" role="status" data-testid="publish-done">
              <CheckIcon size={15} /> Published{' '}
              <a href={resourceHref(done.content_id)}>
                “<span class="quoted">{done.title}</span>”
              </a>
            </p>
          )}
          {error && !current && (
            <p class="form-msg err" role="alert">
              {error}
            </p>
          )}
        </div>
      )}

      {!current && (
        <details class="path-publish">
          <summary>Publish a file or folder that is already on the node’s disk</summary>
          <form
            class="input-row"
            onSubmit={(e) => {
              e.preventDefault();
              const p = pathText.trim();
              if (!p) return;
              setPathText('');
              add([{ type: 'path', path: p }]);
            }}
          >
            <input
              class="input mono"
              type="text"
              placeholder="/home/me/papers/thesis.pdf"
              aria-label="Path on the node to publish"
              autocomplete="off"
              spellcheck={false}
              value={pathText}
              onInput={(e) => setPathText(e.currentTarget.value)}
              data-testid="publish-path"
            />
            <button class="btn" type="submit" disabled={!pathText.trim()} data-testid="publish-path-add">
              Continue
            </button>
          </form>
        </details>
      )}
    </div>
  );
}

// ---------------------------------------------------------------------------------------
// My published items

function PublishedCard({
  library,
  loadError,
  onChanged,
  reload,
}: {
  library: Library | null;
  loadError: string | null;
  onChanged: (lib: Library) => void;
  reload: () => Promise<void>;
}) {
  const items = library ? [...library.published].sort((a, b) => b.created_ms - a.created_ms) : [];
  return (
    <div class="card settings-card" data-testid="published-card">
      <div class="card-head">
        <LibraryIcon size={18} />
        <h2>Published by you</h2>
        {library && (
          <span class="card-head-note">
            {items.length} {items.length === 1 ? 'item' : 'items'}
          </span>
        )}
      </div>
      {!library && <p class={loadError ? 'form-msg err' : 'muted'}>{loadError ?? 'Loading…'}</p>}
      {library && items.length === 0 && (
        <p class="card-empty" data-testid="library-empty">
          Nothing published yet. Publish a file above, or add a shared folder below: what is in it
          gets published.
        </p>
      )}
      {items.length > 0 && (
        <ul class="published-list" data-testid="published-list">
          {items.map((r) => (
            <PublishedRow
              key={r.content_id}
              resource={r}
              onSaved={(saved) =>
                library &&
                onChanged({
                  ...library,
                  published: library.published.map((x) => (x.content_id === saved.content_id ? saved : x)),
                })
              }
              onRemoved={() => {
                if (library) {
                  onChanged({ ...library, published: library.published.filter((x) => x.content_id !== r.content_id) });
                }
                void reload();
              }}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

/** "1 copy", "3 copies": how many copies of my resource exist, mine included. */
export function copies(n: number): string {
  const count = Math.max(1, n); // mine is one, even before the node counts it
  return `${count.toLocaleString()} ${count === 1 ? 'copy' : 'copies'}`;
}

function PublishedRow({
  resource: r,
  onSaved,
  onRemoved,
}: {
  resource: Resource;
  onSaved: (r: Resource) => void;
  onRemoved: () => void;
}) {
  const [editing, setEditing] = useState(false);
  const action = useAction();
  const { busy, error } = action;
  return (
    <li class="published-row" data-testid="published-item" data-content-id={r.content_id}>
      <div class="published-main">
        <Thumb resource={r} size={40} />
        <div class="published-text">
          <a class="published-title" href={resourceHref(r.content_id)} data-testid="published-title">
            {r.title}
          </a>
          <div class="result-meta">
            <span class="meta-item">{kindLabel(r.kind)}</span>
            <span class="meta-item">{formatBytes(r.size)}</span>
            <span class="meta-item">{formatDate(r.created_ms)}</span>
            <span class="meta-item" title="Copies that exist in the network, yours included" data-testid="published-copies">
              {copies(r.holders_known)}
            </span>
            <span class="meta-item" title="Holders online, you included">
              <span class={r.available ? 'dot dot-on' : 'dot dot-off'} />
              {r.holders_online} online
            </span>
          </div>
        </div>
        {!editing && (
          <div class="published-actions">
            <button
              type="button"
              class="icon-btn"
              aria-label={`Edit ${r.title}`}
              title="Edit details"
              onClick={() => setEditing(true)}
              disabled={busy}
              data-testid="published-edit"
            >
              <EditIcon size={15} />
            </button>
            <UnpublishButton
              contentId={r.content_id}
              question="Remove from the catalog?"
              action={action}
              onRemoved={onRemoved}
              testId="published-unpublish"
            />
          </div>
        )}
      </div>
      {editing && (
        <ResourceEditor
          resource={r}
          onSaved={(saved) => {
            setEditing(false);
            onSaved(saved);
          }}
          onCancel={() => setEditing(false)}
        />
      )}
      {!editing && (
        <div class="published-folder">
          <OpenFolderButton contentId={r.content_id} quiet />
        </div>
      )}
      {error && (
        <p class="form-msg err" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}

// ---------------------------------------------------------------------------------------
// Shared folders

function FoldersCard({ library, onChanged }: { library: Library | null; onChanged: (lib: Library) => void }) {
  const backend = useBackend();
  const [path, setPath] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (op: () => Promise<Library>, onDone?: () => void) => {
    setBusy(true);
    setError(null);
    try {
      onChanged(await op());
      onDone?.();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const onAdd = (e: Event) => {
    e.preventDefault();
    const value = path.trim();
    if (!value) return;
    void run(() => backend.call('add_shared_folder', { path: value }), () => setPath(''));
  };

  return (
    <div class="card settings-card" data-testid="folders-card">
      <div class="card-head">
        <FolderIcon size={18} />
        <h2>Shared folders</h2>
        <span class="card-head-note">Files in these folders are published and kept up to date</span>
      </div>
      <div class="setting">
        {library && library.folders.length > 0 && (
          <ul class="addr-list" data-testid="folder-list">
            {library.folders.map((f) => (
              <li key={f} class="copy-line" data-testid="folder">
                <code class="mono wrap">{f}</code>
                {f === library.uploads_folder ? (
                  <span class="chip" title="Files published from a browser are kept here">
                    uploads
                  </span>
                ) : (
                  <button
                    type="button"
                    class="icon-btn"
                    title="Stop sharing this folder"
                    aria-label={`Stop sharing ${f}`}
                    disabled={busy}
                    onClick={() => void run(() => backend.call('remove_shared_folder', { path: f }))}
                    data-testid="folder-remove"
                  >
                    <CloseIcon size={15} />
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
        {library && library.folders.length === 0 && <p class="setting-help">No shared folders yet.</p>}
        {library && library.uploads_folder && (
          <p class="setting-help" data-testid="uploads-folder">
            Files published from a browser are kept in <code class="mono wrap">{library.uploads_folder}</code>
          </p>
        )}
        {!library && <p class="muted">Loading…</p>}
        <form class="input-row" onSubmit={onAdd}>
          <input
            class="input mono"
            type="text"
            placeholder="/home/me/Shared"
            autocomplete="off"
            spellcheck={false}
            value={path}
            onInput={(e) => {
              setPath(e.currentTarget.value);
              setError(null);
            }}
            aria-label="Folder on the node to share"
            data-testid="folder-path"
          />
          <button class="btn" type="submit" disabled={busy || !path.trim() || !library} data-testid="folder-add">
            <PlusIcon size={16} /> Add folder
          </button>
        </form>
        {error && (
          <p class="form-msg err" role="alert" data-testid="folder-error">
            {error}
          </p>
        )}
      </div>
    </div>
  );
}
