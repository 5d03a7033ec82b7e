// Test helpers: builders for API values and a Backend that tests drive by hand.
import { vi } from 'vitest';
import type {
  Download,
  Event,
  EventKind,
  Holder,
  Library,
  PeerInfo,
  Resource,
  SearchRequest,
  SearchResult,
  Status,
} from '../api/types';
import type { Backend, ConnectionHandler, EventHandler, FileDropEvent } from '../backend/backend';

export const SELF_ID = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelfSelf';
export const ADA_ID = '12D3KooWAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAda';

let counter = 0;
/** A fresh 40-hex-digit content id. */
export function cid(n = ++counter): string {
  return n.toString(16).padStart(40, '0');
}

export function resource(extra: Partial<Resource> = {}): Resource {
  const content_id = extra.content_id ?? cid();
  return {
    content_id,
    magnet: `magnet:?xt=urn:btih:${content_id}`,
    title: 'Notes on the Analytical Engine',
    description: '',
    kind: 'paper',
    tags: [],
    size: 3_000_000,
    mime: 'application/pdf',
    files: [{ path: 'notes.pdf', size: 3_000_000 }],
    created_ms: 1_700_000_000_000,
    author: ADA_ID,
    author_name: 'Ada',
    thumbnail: null,
    holders_known: 1,
    holders_online: 1,
    available: true,
    local: 'none',
    ...extra,
  };
}

export function download(extra: Partial<Download> = {}): Download {
  return {
    content_id: cid(),
    title: 'Notes on the Analytical Engine',
    state: 'downloading',
    have_bytes: 1_500_000,
    total_bytes: 3_000_000,
    progress: 0.5,
    down_bps: 1_000_000,
    up_bps: 0,
    uploaded_bytes: 0,
    peers: 2,
    eta_secs: 2,
    path: '/home/me/Downloads/notes.pdf',
    error: null,
    started_ms: 1_700_000_000_000,
    ...extra,
  };
}

export function holder(extra: Partial<Holder> = {}): Holder {
  return { peer_id: ADA_ID, name: 'Ada', online: true, is_self: false, bt_addr: '127.0.0.1:6881', ...extra };
}

export function status(extra: Partial<Status> = {}): Status {
  return {
    peer_id: SELF_ID,
    version: '0.1.0',
    profile: { display_name: 'Me', affiliation: '', bio: '' },
    listen_addrs: [],
    peers_online: 0,
    peers_connected: 0,
    uptime_secs: 1,
    nat: 'unknown',
    bt_port: 6881,
    ...extra,
  };
}

export function peerInfo(id: string, name: string | null): PeerInfo {
  return {
    peer_id: id,
    profile: name === null ? null : { display_name: name, affiliation: '', bio: '' },
    addrs: [],
    rtt_ms: null,
    online: true,
    connected: true,
    last_seen_ms: null,
    blocked: false,
  };
}

let nextEventId = 1;
export function ev(kind: EventKind, time_ms = 5000): Event {
  return { id: nextEventId++, time_ms, ...kind } as Event;
}

export function searchResult(items: Resource[], extra: Partial<SearchResult> = {}): SearchResult {
  return { total: items.length, total_is_lower_bound: false, items, took_ms: 1, ...extra };
}

/** A promise with its resolve and reject at hand. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A Backend whose answers the test sets (`vi.fn` mocks, so calls can be inspected) and
 * whose event stream the test feeds with `emit`.
 */
export class FakeBackend implements Backend {
  readonly kind = 'http' as const;
  private handlers: EventHandler[] = [];
  private drops: ((e: FileDropEvent) => void) | null = null;

  status = vi.fn(async () => status());
  getProfile = vi.fn(async () => status().profile);
  setProfile = vi.fn(async (p: Status['profile']) => p);
  listPeers = vi.fn(async (): Promise<PeerInfo[]> => []);
  connect = vi.fn(async () => {});
  blockPeer = vi.fn(async () => {});
  unblockPeer = vi.fn(async () => {});
  getSettings = vi.fn(async () => ({ bootstrap: [], mdns: true, listen: [], data_dir: '/d', download_dir: '/dl' }));
  addBootstrap = vi.fn(async () => ({ bootstrap: [], mdns: true, listen: [], data_dir: '/d', download_dir: '/dl' }));
  removeBootstrap = vi.fn(async () => ({ bootstrap: [], mdns: true, listen: [], data_dir: '/d', download_dir: '/dl' }));

  publish = vi.fn(async (req: { path: string; title: string | null }) => resource({ title: req.title ?? req.path, author: SELF_ID, local: 'published' }));
  upload = vi.fn(async (file: File, meta: { title?: string | null }, onProgress?: (s: number, t: number) => void) => {
    onProgress?.(file.size, file.size);
    return resource({ title: meta.title ?? file.name, author: SELF_ID, local: 'published' });
  });
  unpublish = vi.fn(async () => {});
  updateResource = vi.fn(async (req: { content_id: string; title: string }) => resource({ content_id: req.content_id, title: req.title, author: SELF_ID }));
  search = vi.fn(async (_req: SearchRequest): Promise<SearchResult> => searchResult([]));
  getResource = vi.fn(async (id: string) => resource({ content_id: id }));
  listHolders = vi.fn(async (): Promise<Holder[]> => [holder()]);
  catalogStats = vi.fn(async () => ({
    resources: 0,
    feeds: 0,
    entries: 0,
    queued_announcements: 0,
    rejected: { bad_signature: 0, broken_chain: 0, fork: 0, oversize: 0, malformed: 0, invalid: 0 },
  }));
  startDownload = vi.fn(async (req: { content_id: string | null }) => download({ content_id: req.content_id ?? cid(), progress: 0, have_bytes: 0 }));
  pauseDownload = vi.fn(async () => {});
  resumeDownload = vi.fn(async () => {});
  cancelDownload = vi.fn(async () => {});
  listDownloads = vi.fn(async (): Promise<Download[]> => []);
  openFolder = vi.fn(async () => '/home/me/Downloads');
  getLibrary = vi.fn(async (): Promise<Library> => ({ folders: ['/up'], uploads_folder: '/up', published: [] }));
  addSharedFolder = vi.fn(async (path: string): Promise<Library> => ({ folders: ['/up', path], uploads_folder: '/up', published: [] }));
  removeSharedFolder = vi.fn(async (): Promise<Library> => ({ folders: ['/up'], uploads_folder: '/up', published: [] }));

  /** Paths the next `pickFiles` returns; `null` makes it behave like a browser (no picker). */
  pickedPaths: string[] | null = null;
  get pickFiles(): (() => Promise<string[]>) | null {
    const paths = this.pickedPaths;
    return paths === null ? null : async () => paths;
  }

  watchFileDrops(onDrop: (e: FileDropEvent) => void): (() => void) | null {
    this.drops = onDrop;
    return () => {
      if (this.drops === onDrop) this.drops = null;
    };
  }

  subscribe(onEvent: EventHandler, onConnectionChange: ConnectionHandler): () => void {
    this.handlers.push(onEvent);
    queueMicrotask(() => onConnectionChange(true));
    return () => {
      this.handlers = this.handlers.filter((h) => h !== onEvent);
    };
  }

  /** Delivers an event on the stream. */
  emit(kind: EventKind): void {
    const e = ev(kind);
    for (const h of this.handlers) h(e);
  }

  get watchingDrops(): boolean {
    return this.drops !== null;
  }

  /** Simulates files dropped on the desktop window. */
  dropPaths(paths: string[]): void {
    this.drops?.({ type: 'drop', paths });
  }
}
