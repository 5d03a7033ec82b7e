import type {
  Download,
  DownloadState,
  Event,
  LocalState,
  Resource,
  ResourceKind,
  SearchRequest,
  SortOrder,
} from '../../api/types';

// ---------------------------------------------------------------------------------------
// Kinds

export const KINDS: readonly ResourceKind[] = ['paper', 'dataset', 'video', 'audio', 'image', 'other'];

const KIND_LABELS: Record<ResourceKind, { one: string; many: string }> = {
  paper: { one: 'Paper', many: 'Papers' },
  dataset: { one: 'Dataset', many: 'Datasets' },
  video: { one: 'Video', many: 'Videos' },
  audio: { one: 'Audio', many: 'Audio' },
  image: { one: 'Image', many: 'Images' },
  other: { one: 'Other', many: 'Other' },
};

export function kindLabel(kind: ResourceKind, plural = false): string {
  const l = KIND_LABELS[kind] ?? KIND_LABELS.other;
  return plural ? l.many : l.one;
}

export function isKind(v: unknown): v is ResourceKind {
  return typeof v === 'string' && (KINDS as readonly string[]).includes(v);
}

// ---------------------------------------------------------------------------------------
// The Explore query, and its place in the address (`#/explore?q=…&kind=…`)

export interface ExploreQuery {
  text: string;
  /** Any of these; empty = all kinds. */
  kinds: ResourceKind[];
  availableOnly: boolean;
  sort: SortOrder;
  /** Only what this peer publishes. */
  author: string | null;
}

export const EMPTY_QUERY: ExploreQuery = {
  text: '',
  kinds: [],
  availableOnly: false,
  sort: 'relevance',
  author: null,
};

/** Results asked for at a time. */
export const PAGE_SIZE = 30;
/** The node answers at most this many results at once. */
export const MAX_LIMIT = 200;

export function queryFromParams(p: URLSearchParams): ExploreQuery {
  const kinds = (p.get('kind') ?? '').split(',').filter(isKind);
  const author = p.get('author')?.trim();
  return {
    text: p.get('q') ?? '',
    kinds: KINDS.filter((k) => kinds.includes(k)),
    availableOnly: p.get('available') === '1',
    sort: p.get('sort') === 'newest' ? 'newest' : 'relevance',
    author: author ? author : null,
  };
}

/** The query as address parameters; defaults are left out. */
export function queryToParams(q: ExploreQuery): string {
  const p = new URLSearchParams();
  if (q.text) p.set('q', q.text);
  if (q.kinds.length > 0) p.set('kind', q.kinds.join(','));
  if (q.availableOnly) p.set('available', '1');
  if (q.sort !== 'relevance') p.set('sort', q.sort);
  if (q.author) p.set('author', q.author);
  return p.toString();
}

/** A stable key for "the same query" (text compared trimmed). */
export function queryKey(q: ExploreQuery): string {
  return queryToParams({ ...q, text: q.text.trim() });
}

/** True when the query asks for everything: no text and no filter. */
export function isUnfiltered(q: ExploreQuery): boolean {
  return q.text.trim() === '' && q.kinds.length === 0 && !q.availableOnly && q.author === null;
}

export function searchRequest(q: ExploreQuery, offset: number, limit: number): SearchRequest {
  return {
    text: q.text.trim(),
    kinds: [...q.kinds],
    author: q.author,
    available_only: q.availableOnly,
    sort: q.sort,
    offset,
    limit: Math.max(1, Math.min(MAX_LIMIT, limit)),
  };
}

// ---------------------------------------------------------------------------------------
// Search results kept live from events

/** One list of results as shown. Never mutated: every change makes a new one. */
export interface ResultsList {
  items: Resource[];
  total: number;
  /** `total` is a lower bound (the node stopped counting). */
  totalIsLowerBound: boolean;
}

export interface ResultsUpdate {
  list: ResultsList;
  /**
   * The event may change which resources match, which only the node can tell: the shown
   * results should be fetched again (the caller coalesces bursts of these).
   */
  refetch: boolean;
}

/** Whether a resource passes the filters that can be checked without the node (not the text). */
export function passesFilters(r: Resource, q: ExploreQuery): boolean {
  if (q.author !== null && r.author !== q.author) return false;
  if (q.kinds.length > 0 && !q.kinds.includes(r.kind)) return false;
  if (q.availableOnly && !r.available) return false;
  return true;
}

function replaceAt(items: Resource[], i: number, r: Resource): Resource[] {
  const next = items.slice();
  next[i] = r;
  return next;
}

function removeAt(list: ResultsList, i: number): ResultsList {
  const items = list.items.slice();
  items.splice(i, 1);
  return { ...list, items, total: Math.max(items.length, list.total - 1) };
}

/** The local state a download implies for its resource. */
export function localFromDownload(state: DownloadState): LocalState {
  return state === 'complete' ? 'complete' : 'downloading';
}

/**
 * Applies one event to the shown results of `query`. Changes to a shown resource are made
 * in place, so the list keeps its order (and the reader their place in it); anything that
 * may add a result asks for a refetch.
 */
export function applyResultsEvent(list: ResultsList, query: ExploreQuery, event: Event): ResultsUpdate {
  const same = { list, refetch: false };
  switch (event.type) {
    case 'resource_added': {
      const r = event.resource;
      const i = list.items.findIndex((x) => x.content_id === r.content_id);
      if (i >= 0) {
        if (!passesFilters(r, query)) return { list: removeAt(list, i), refetch: false };
        return { list: { ...list, items: replaceAt(list.items, i, r) }, refetch: false };
      }
      return { list, refetch: passesFilters(r, query) };
    }
    case 'resource_removed': {
      const i = list.items.findIndex((x) => x.content_id === event.content_id);
      return i >= 0 ? { list: removeAt(list, i), refetch: false } : same;
    }
    case 'availability_changed': {
      const i = list.items.findIndex((x) => x.content_id === event.content_id);
      if (i < 0) {
        // Under "available only", a resource coming back may now belong in the list.
        return { list, refetch: query.availableOnly && event.available };
      }
      const r = { ...list.items[i]!, available: event.available, holders_online: event.holders_online };
      if (query.availableOnly && !r.available) return { list: removeAt(list, i), refetch: false };
      return { list: { ...list, items: replaceAt(list.items, i, r) }, refetch: false };
    }
    case 'download_progress': {
      const d = event.download;
      const i = list.items.findIndex((x) => x.content_id === d.content_id);
      if (i < 0) return same;
      const old = list.items[i]!;
      const local = localFromDownload(d.state);
      if (old.local === local || old.local === 'published') return same;
      return { list: { ...list, items: replaceAt(list.items, i, { ...old, local }) }, refetch: false };
    }
    case 'download_removed': {
      const i = list.items.findIndex((x) => x.content_id === event.content_id);
      if (i < 0 || list.items[i]!.local !== 'downloading') return same;
      return { list: { ...list, items: replaceAt(list.items, i, { ...list.items[i]!, local: 'none' }) }, refetch: false };
    }
    case 'catalog_changed':
    case 'resync':
      return { list, refetch: true };
    default:
      return same;
  }
}

/** Adds a further page, skipping anything already shown (the catalog may shift between pages). */
export function appendPage(list: ResultsList, page: ResultsList): ResultsList {
  const seen = new Set(list.items.map((r) => r.content_id));
  const fresh = page.items.filter((r) => !seen.has(r.content_id));
  return { items: [...list.items, ...fresh], total: page.total, totalIsLowerBound: page.totalIsLowerBound };
}

// ---------------------------------------------------------------------------------------
// One resource (its page) kept live from events

/**
 * Applies one event to a resource shown on its own page: `'removed'` when it was
 * unpublished; the same object when the event is not about it.
 */
export function applyResourceEvent(r: Resource, event: Event): Resource | 'removed' {
  switch (event.type) {
    case 'resource_added':
      return event.resource.content_id === r.content_id ? event.resource : r;
    case 'resource_removed':
      return event.content_id === r.content_id ? 'removed' : r;
    case 'availability_changed':
      if (event.content_id !== r.content_id) return r;
      if (r.available === event.available && r.holders_online === event.holders_online) return r;
      return { ...r, available: event.available, holders_online: event.holders_online };
    case 'download_progress': {
      if (event.download.content_id !== r.content_id || r.local === 'published') return r;
      const local = localFromDownload(event.download.state);
      return r.local === local ? r : { ...r, local };
    }
    case 'download_removed':
      return event.content_id === r.content_id && r.local === 'downloading' ? { ...r, local: 'none' } : r;
    default:
      return r;
  }
}

// ---------------------------------------------------------------------------------------
// Playing

const VIDEO_EXT = /\.(mp4|m4v|webm|mkv|mov|ogv|avi|mpe?g|ts|m2ts|3gp|wmv|flv)$/i;
const AUDIO_EXT = /\.(mp3|m4a|aac|ogg|oga|opus|flac|wav|weba|wma|aiff?)$/i;

/**
 * Which file of a resource to play: the first that looks like its kind (a video folder may
 * hold subtitles or notes first), `undefined` for the first file.
 */
export function playableFile(r: Pick<Resource, 'kind' | 'files'>): number | undefined {
  if (r.files.length <= 1) return undefined;
  const ext = r.kind === 'audio' ? AUDIO_EXT : VIDEO_EXT;
  const i = r.files.findIndex((f) => ext.test(f.path));
  return i > 0 ? i : undefined;
}

/** Why the Download button is off for a resource, or `null` when it can be downloaded. */
export function downloadBlocker(r: Resource, download: Download | undefined): string | null {
  if (r.local === 'published') return 'You publish this: it is already on your disk.';
  if (r.local === 'complete' || download?.state === 'complete') return 'Already downloaded.';
  if (download || r.local === 'downloading') return 'Already downloading.';
  if (!r.available) return 'Unavailable: no holder is online right now.';
  return null;
}

// ---------------------------------------------------------------------------------------
// Downloads kept live from events

export interface DownloadsState {
  /** By content id. */
  byId: Readonly<Record<string, Download>>;
}

export const initialDownloads: DownloadsState = { byId: {} };

export type DownloadsAction =
  | { type: 'snapshot'; downloads: Download[] }
  | { type: 'upsert'; download: Download }
  | { type: 'remove'; contentId: string }
  | { type: 'event'; event: Event };

export function downloadsReducer(state: DownloadsState, action: DownloadsAction): DownloadsState {
  switch (action.type) {
    case 'snapshot': {
      const byId: Record<string, Download> = {};
      for (const d of action.downloads) byId[d.content_id] = d;
      return { byId };
    }
    case 'upsert':
      return { byId: { ...state.byId, [action.download.content_id]: action.download } };
    case 'remove': {
      if (!(action.contentId in state.byId)) return state;
      const byId = { ...state.byId };
      delete byId[action.contentId];
      return { byId };
    }
    case 'event':
      return applyDownloadEvent(state, action.event);
  }
}

/** Applies one event; `resync` leaves the state as is (the caller refetches). */
export function applyDownloadEvent(state: DownloadsState, event: Event): DownloadsState {
  switch (event.type) {
    case 'download_progress':
      return downloadsReducer(state, { type: 'upsert', download: event.download });
    case 'download_removed':
      return downloadsReducer(state, { type: 'remove', contentId: event.content_id });
    default:
      return state;
  }
}

const STATE_ORDER: Record<DownloadState, number> = {
  downloading: 0,
  starting: 0,
  paused: 1,
  failed: 2,
  complete: 3,
};

/** Display order: active transfers first, then paused, failed and complete; newest first within each. */
export function sortedDownloads(state: DownloadsState): Download[] {
  return Object.values(state.byId).sort(
    (a, b) =>
      STATE_ORDER[a.state] - STATE_ORDER[b.state] ||
      b.started_ms - a.started_ms ||
      (a.content_id < b.content_id ? -1 : a.content_id > b.content_id ? 1 : 0),
  );
}

/** Transfers still in progress (for the sidebar badge). */
export function activeCount(state: DownloadsState): number {
  let n = 0;
  for (const d of Object.values(state.byId)) if (d.state === 'downloading' || d.state === 'starting') n++;
  return n;
}

export function downloadStateLabel(state: DownloadState): string {
  switch (state) {
    case 'starting':
      return 'Starting';
    case 'downloading':
      return 'Downloading';
    case 'paused':
      return 'Paused';
    case 'complete':
      return 'Complete';
    case 'failed':
      return 'Failed';
  }
}

/** Whether an event may change this node's library (what it publishes). */
export function touchesLibrary(event: Event, selfId: string | null): boolean {
  switch (event.type) {
    case 'resource_added':
      return selfId !== null && event.resource.author === selfId;
    case 'resource_removed':
    case 'catalog_changed':
    case 'resync':
      return true;
    default:
      return false;
  }
}
