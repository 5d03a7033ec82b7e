import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Download, Holder, Resource } from '../../api/types';
import { ApiError, describeError } from '../../backend';
import { Avatar, CopyButton, EmptyState } from '../../components/common';
import { ResourceEditor, TagList, Thumb, authorName } from '../catalog/components';
import { DownloadStats, OpenFolderButton, ProgressBar, toneOf } from '../downloads/components';
import {
  ArrowLeftIcon,
  DownloadIcon,
  EditIcon,
  PeersIcon,
  SearchIcon,
} from '../../components/icons';
import { MediaPlayer } from '../video/MediaPlayer';
import { DownloadControls } from '../downloads/components';
import { useAction } from '../../util/useAction';
import { useBackend, useDownloadsView, useNodeEvents, useNodeView } from '../../context';
import { authorHref, href } from '../../router';
import { applyResourceEvent, downloadBlocker, kindLabel } from '../catalog/catalog';
import { shortId } from '../peers/peers';
import { formatBytes, formatDate, percent } from '../../util/format';
import { lastExploreHref } from '../catalog/ExplorePage';
import { UnpublishButton } from '../catalog/components';
import './resource.css';

type Loaded =
  | { status: 'loading' }
  | { status: 'ready'; resource: Resource }
  | { status: 'removed'; title: string | null }
  | { status: 'error'; message: string; notFound: boolean };

export function ResourcePage({ contentId }: { contentId: string }) {
  const backend = useBackend();
  const { state: node } = useNodeView();
  const downloads = useDownloadsView();
  const [loaded, setLoaded] = useState<Loaded>({ status: 'loading' });
  const [holders, setHolders] = useState<Holder[] | null>(null);
  const [holdersError, setHoldersError] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const holdersTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const alive = useRef(true);

  const loadHolders = useCallback(async () => {
    try {
      const list = await backend.call('list_holders', { content_id: contentId });
      if (!alive.current) return;
      setHolders(list);
      setHoldersError(null);
    } catch (e) {
      if (alive.current) setHoldersError(describeError(e));
    }
  }, [backend, contentId]);

  const load = useCallback(async () => {
    try {
      const r = await backend.call('get_resource', { content_id: contentId });
      if (alive.current) setLoaded({ status: 'ready', resource: r });
    } catch (e) {
      if (!alive.current) return;
      const notFound = e instanceof ApiError && e.code === 'not_found';
      setLoaded({ status: 'error', message: describeError(e), notFound });
    }
  }, [backend, contentId]);

  useEffect(() => {
    alive.current = true;
    void load();
    void loadHolders();
    return () => {
      alive.current = false;
      if (holdersTimer.current) clearTimeout(holdersTimer.current);
    };
  }, [load, loadHolders]);

  /** Who holds a copy changes in bursts (peers come and go): ask once things settle. */
  const reloadHoldersSoon = () => {
    if (holdersTimer.current) return;
    holdersTimer.current = setTimeout(() => {
      holdersTimer.current = null;
      void loadHolders();
    }, 500);
  };

  useNodeEvents((event) => {
    switch (event.type) {
      case 'resync':
        void load();
        reloadHoldersSoon();
        return;
      case 'peer_online':
      case 'peer_offline':
        reloadHoldersSoon();
        break;
      case 'availability_changed':
        if (event.content_id === contentId) reloadHoldersSoon();
        break;
      case 'download_progress':
        // Our own node becomes a holder as the first pieces arrive.
        if (event.download.content_id === contentId && event.download.state === 'complete') reloadHoldersSoon();
        break;
    }
    setLoaded((old) => {
      if (old.status !== 'ready') return old;
      const next = applyResourceEvent(old.resource, event);
      if (next === 'removed') return { status: 'removed', title: old.resource.title };
      return next === old.resource ? old : { status: 'ready', resource: next };
    });
  });

  if (loaded.status === 'loading') {
    return (
      <section class="page" data-testid="page-resource">
        <BackLink />
        <p class="muted" role="status">
          Loading…
        </p>
      </section>
    );
  }

  if (loaded.status === 'removed' || loaded.status === 'error') {
    const removed = loaded.status === 'removed';
    return (
      <section class="page" data-testid="page-resource">
        <BackLink />
        <EmptyState
          icon={<SearchIcon size={30} />}
          title={removed || loaded.notFound ? 'Not in the catalog' : 'Could not load this resource'}
          testId="resource-missing"
        >
          {removed ? (
            <p>
              {loaded.title ? (
                <>
                  “<span class="quoted">{loaded.title}</span>” was unpublished.
                </>
              ) : (
                'This resource was unpublished.'
              )}
            </p>
          ) : loaded.notFound ? (
            <p>Your node does not know this resource (or no longer does): it may have been unpublished.</p>
          ) : (
            <p>{loaded.message}</p>
          )}
          <p>
            <a href={lastExploreHref()}>Back to Explore</a>
          </p>
        </EmptyState>
      </section>
    );
  }

  const r = loaded.resource;
  const selfId = node.self?.peer_id ?? null;
  const mine = selfId !== null && r.author === selfId;
  const download = downloads.state.byId[r.content_id];
  const playable = r.kind === 'video' || r.kind === 'audio';

  return (
    <section class="page" data-testid="page-resource" data-content-id={r.content_id}>
      <BackLink />
      <article class="card res-card">
        {playable && (
          // Playing makes the node fetch the resource: its download shows below.
          <MediaPlayer resource={r} onStarted={() => void downloads.refresh()} />
        )}
        <header class="res-head">
          {!playable && <Thumb resource={r} size={84} />}
          <div class="res-head-text">
            <h1 class="res-title" data-testid="resource-title">
              {r.title}
            </h1>
            <div class="res-meta">
              <span>{kindLabel(r.kind)}</span>
              <span>{formatBytes(r.size)}</span>
              <span class="res-author">
                by <Avatar id={r.author} name={authorName(r, selfId)} size={20} />{' '}
                <a href={authorHref(r.author)} title={`Everything ${authorName(r, selfId)} shares`} data-testid="resource-author">
                  {authorName(r, selfId)}
                </a>
              </span>
              <span title={new Date(r.created_ms).toLocaleString()}>{formatDate(r.created_ms)}</span>
            </div>
            <Availability resource={r} />
          </div>
        </header>

        <DownloadArea resource={r} download={download} />

        {r.description.trim() && (
          <div class="res-section">
            <h2 class="res-h2">Description</h2>
            <p class="description" data-testid="resource-description">
              {r.description}
            </p>
          </div>
        )}
        {r.tags.length > 0 && (
          <div class="res-section">
            <TagList tags={r.tags} />
          </div>
        )}
      </article>

      {mine && (
        <div class="card res-card" data-testid="resource-manage">
          <div class="card-head">
            <EditIcon size={18} />
            <h2>Your resource</h2>
            <span class="card-head-note">Changes reach your peers with your next announcement</span>
          </div>
          {editing ? (
            <ResourceEditor
              resource={r}
              onSaved={(saved) => {
                setLoaded({ status: 'ready', resource: saved });
                setEditing(false);
              }}
              onCancel={() => setEditing(false)}
            />
          ) : (
            <ManageActions resource={r} onEdit={() => setEditing(true)} onRemoved={() => setLoaded({ status: 'removed', title: r.title })} />
          )}
        </div>
      )}

      <div class="res-columns">
        <div class="card res-card" data-testid="resource-details">
          <div class="card-head">
            <h2>Details</h2>
          </div>
          <dl class="details">
            <dt>Size</dt>
            <dd>
              {formatBytes(r.size)} <span class="muted">({r.size.toLocaleString()} bytes)</span>
            </dd>
            <dt>Type</dt>
            <dd class="mono wrap">{r.mime || 'unknown'}</dd>
            <dt>Published</dt>
            <dd>{new Date(r.created_ms).toLocaleString()}</dd>
            <dt>Content id</dt>
            <dd class="copy-inline">
              <code class="mono wrap">{r.content_id}</code>
              <CopyButton text={r.content_id} label="Copy content id" />
            </dd>
            <dt>Magnet link</dt>
            <dd class="copy-inline">
              <span class="muted">for any BitTorrent client</span>
              <CopyButton text={r.magnet} label="Copy magnet link" />
            </dd>
          </dl>
          <FileList resource={r} />
        </div>

        <div class="card res-card" data-testid="resource-holders">
          <div class="card-head">
            <PeersIcon size={18} />
            <h2>Holders</h2>
            <span class="card-head-note" data-testid="holders-online">
              {holders
                ? `${holders.filter((h) => h.online).length} of ${holders.length} online`
                : `${r.holders_online} of ${r.holders_known} online`}
            </span>
          </div>
          <HolderList holders={holders} error={holdersError} />
        </div>
      </div>
    </section>
  );
}

function BackLink() {
  return (
    <nav class="crumbs" aria-label="Breadcrumb">
      <a href={lastExploreHref()} class="back-link" data-testid="back-to-explore">
        <ArrowLeftIcon size={15} /> Explore
      </a>
    </nav>
  );
}

function Availability({ resource: r }: { resource: Resource }) {
  return r.available ? (
    <p class="availability on" data-testid="resource-availability">
      <span class="dot dot-on" />
      Available · {r.holders_online} {r.holders_online === 1 ? 'holder' : 'holders'} online
    </p>
  ) : (
    <p class="availability off" data-testid="resource-availability">
      <span class="dot dot-off" />
      Unavailable – no holder online
      {r.holders_known > 0 && (
        <span class="muted">
          {' '}
          ({r.holders_known} {r.holders_known === 1 ? 'holder' : 'holders'} known)
        </span>
      )}
    </p>
  );
}

function DownloadArea({ resource: r, download }: { resource: Resource; download: Download | undefined }) {
  const backend = useBackend();
  const downloads = useDownloadsView();
  const action = useAction();
  const { busy, error, run } = action;

  const start = () =>
    run(async () => {
      const d = await backend.call('start_download', { content_id: r.content_id, magnet: null, peers: [] });
      downloads.upsert(d);
    });

  let body;
  if (r.local === 'published') {
    body = (
      <div class="dl-area-row">
        <p class="dl-note" data-testid="download-blocked">
          You publish this: your node keeps it and shares it with peers.
        </p>
        <OpenFolderButton contentId={r.content_id} />
      </div>
    );
  } else if (download) {
    body = (
      <div class="dl-area-live">
        <ProgressBar
          value={percent(download.progress)}
          label={`Download of ${r.title}`}
          tone={toneOf(download)}
          testId="download-progress"
        />
        <DownloadStats download={download} />
        {download.error && (
          <p class="form-msg err" role="alert">
            {download.error}
          </p>
        )}
        <div class="dl-actions">
          <DownloadControls download={download} action={action} />
          <OpenFolderButton contentId={r.content_id} quiet />
        </div>
      </div>
    );
  } else if (r.local === 'complete') {
    body = (
      <div class="dl-area-row">
        <p class="dl-note" data-testid="download-blocked">
          Downloaded: your node keeps a copy and shares it with peers.
        </p>
        <OpenFolderButton contentId={r.content_id} />
      </div>
    );
  } else {
    const blocker = downloadBlocker(r, download);
    body = (
      <div class="dl-area-row">
        <button
          type="button"
          class="btn btn-primary"
          disabled={busy || blocker !== null}
          aria-describedby={blocker ? 'download-blocker' : undefined}
          onClick={start}
          data-testid="download-button"
        >
          <DownloadIcon size={16} /> {busy ? 'Starting…' : 'Download'}
        </button>
        {blocker ? (
          <p class="dl-note" id="download-blocker" data-testid="download-blocked">
            {blocker}
          </p>
        ) : (
          <p class="dl-note muted">
            {formatBytes(r.size)} from {r.holders_online} {r.holders_online === 1 ? 'holder' : 'holders'}
          </p>
        )}
      </div>
    );
  }

  return (
    <div class="dl-area" data-testid="download-area">
      {body}
      {error && (
        <p class="form-msg err" role="alert" data-testid="download-error">
          {error}
        </p>
      )}
    </div>
  );
}

function ManageActions({
  resource: r,
  onEdit,
  onRemoved,
}: {
  resource: Resource;
  onEdit: () => void;
  onRemoved: () => void;
}) {
  const action = useAction();
  const { busy, error } = action;
  return (
    <div class="manage-row">
      <button type="button" class="btn" onClick={onEdit} disabled={busy} data-testid="resource-edit">
        <EditIcon size={15} /> Edit details
      </button>
      <UnpublishButton
        contentId={r.content_id}
        question="Remove it from the catalog? Copies others made stay theirs."
        action={action}
        onRemoved={onRemoved}
        testId="resource-unpublish"
      />
      <a class="manage-link" href={href('library')}>
        Manage in Library
      </a>
      {error && (
        <p class="form-msg err" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

const MAX_FILES_SHOWN = 100;

function FileList({ resource: r }: { resource: Resource }) {
  if (r.files.length === 0) return null;
  const shown = r.files.slice(0, MAX_FILES_SHOWN);
  return (
    <div class="files">
      <div class="setting-label">
        {r.files.length === 1 ? 'File' : `${r.files.length.toLocaleString()} files`}
      </div>
      <ul class="file-list" data-testid="file-list">
        {shown.map((f) => (
          <li key={f.path}>
            <span class="file-path mono" title={f.path}>
              {f.path}
            </span>
            <span class="file-size">{formatBytes(f.size)}</span>
          </li>
        ))}
        {shown.length < r.files.length && (
          <li class="muted">and {(r.files.length - shown.length).toLocaleString()} more</li>
        )}
      </ul>
    </div>
  );
}

function HolderList({ holders, error }: { holders: Holder[] | null; error: string | null }) {
  if (holders === null) {
    return <p class={error ? 'form-msg err' : 'muted'}>{error ?? 'Loading…'}</p>;
  }
  if (holders.length === 0) {
    return <p class="muted holders-empty">No holder is known yet.</p>;
  }
  const sorted = [...holders].sort(
    (a, b) => Number(b.is_self) - Number(a.is_self) || Number(b.online) - Number(a.online),
  );
  return (
    <ul class="holder-list" data-testid="holders">
      {sorted.map((h) => {
        const name = h.name?.trim();
        return (
          <li key={h.peer_id} class={h.online ? 'holder' : 'holder is-offline'} data-testid="holder" data-peer-id={h.peer_id}>
            <span class={h.online ? 'dot dot-on' : 'dot dot-off'} aria-hidden="true" />
            <span class={name ? 'holder-name' : 'holder-name mono'} title={h.peer_id}>
              {name || shortId(h.peer_id)}
            </span>
            {h.is_self && <span class="chip chip-accent">you</span>}
            {h.mirror && (
              <span class="chip chip-mirror" title="Keeps a copy because it mirrors the publisher" data-testid="holder-mirror">
                mirror
              </span>
            )}
            <span class="holder-state">{h.online ? 'online' : 'offline'}</span>
          </li>
        );
      })}
    </ul>
  );
}
