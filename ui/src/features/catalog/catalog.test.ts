import { describe, expect, it } from 'vitest';
import { ADA_ID, SELF_ID, download, ev, resource } from '../../test/fake';
import {
  EMPTY_QUERY,
  activeCount,
  appendPage,
  applyDownloadEvent,
  applyResourceEvent,
  applyResultsEvent,
  downloadBlocker,
  downloadsReducer,
  initialDownloads,
  isUnfiltered,
  playableFile,
  queryFromParams,
  queryKey,
  queryToParams,
  searchRequest,
  sortedDownloads,
  touchesLibrary,
  type ExploreQuery,
  type ResultsList,
} from './catalog';

function list(...items: ReturnType<typeof resource>[]): ResultsList {
  return { items, total: items.length, totalIsLowerBound: false };
}

const q = (extra: Partial<ExploreQuery> = {}): ExploreQuery => ({ ...EMPTY_QUERY, ...extra });

describe('explore query', () => {
  it('round-trips through the address, leaving defaults out', () => {
    const query = q({ text: 'noether rings', kinds: ['video', 'paper'], availableOnly: true, sort: 'newest', author: ADA_ID });
    const params = queryToParams(query);
    expect(params).toBe(`q=noether+rings&kind=video%2Cpaper&available=1&sort=newest&author=${ADA_ID}`);
    // kinds come back in the canonical order
    expect(queryFromParams(new URLSearchParams(params))).toEqual({ ...query, kinds: ['paper', 'video'] });
    expect(queryToParams(EMPTY_QUERY)).toBe('');
  });

  it('ignores unknown values in the address', () => {
    const parsed = queryFromParams(new URLSearchParams('kind=paper,bogus&sort=weird&available=yes&author=%20'));
    expect(parsed).toEqual(q({ kinds: ['paper'] }));
  });

  it('treats queries that differ only in outer spaces as the same', () => {
    expect(queryKey(q({ text: 'engine ' }))).toBe(queryKey(q({ text: 'engine' })));
    expect(queryKey(q({ text: 'engine' }))).not.toBe(queryKey(q({ text: 'engines' })));
  });

  it('knows when nothing is filtered', () => {
    expect(isUnfiltered(q())).toBe(true);
    expect(isUnfiltered(q({ text: '  ' }))).toBe(true);
    expect(isUnfiltered(q({ sort: 'newest' }))).toBe(true);
    expect(isUnfiltered(q({ availableOnly: true }))).toBe(false);
    expect(isUnfiltered(q({ kinds: ['image'] }))).toBe(false);
  });

  it('builds the search request', () => {
    expect(searchRequest(q({ text: ' rings ', kinds: ['paper'], author: ADA_ID, availableOnly: true }), 30, 30)).toEqual({
      text: 'rings',
      kinds: ['paper'],
      author: ADA_ID,
      available_only: true,
      sort: 'relevance',
      offset: 30,
      limit: 30,
    });
    expect(searchRequest(q(), 0, 5000).limit).toBe(200);
    expect(searchRequest(q(), 0, 0).limit).toBe(1);
  });
});

describe('results reducer', () => {
  it('replaces a shown resource in place when it is added again (edited)', () => {
    const a = resource({ title: 'A' });
    const b = resource({ title: 'B' });
    const before = list(a, b);
    const { list: after, refetch } = applyResultsEvent(before, q(), ev({ type: 'resource_added', resource: { ...a, title: 'A2' } }));
    expect(refetch).toBe(false);
    expect(after.items.map((r) => r.title)).toEqual(['A2', 'B']);
    expect(before.items[0]!.title).toBe('A'); // not mutated
  });

  it('asks for a refetch when a new resource may match, not when the filters exclude it', () => {
    const shown = list(resource());
    const added = resource({ kind: 'video', author: ADA_ID });
    expect(applyResultsEvent(shown, q(), ev({ type: 'resource_added', resource: added })).refetch).toBe(true);
    expect(applyResultsEvent(shown, q({ kinds: ['paper'] }), ev({ type: 'resource_added', resource: added })).refetch).toBe(false);
    expect(applyResultsEvent(shown, q({ author: SELF_ID }), ev({ type: 'resource_added', resource: added })).refetch).toBe(false);
    const unavailable = { ...added, available: false };
    expect(applyResultsEvent(shown, q({ availableOnly: true }), ev({ type: 'resource_added', resource: unavailable })).refetch).toBe(false);
  });

  it('drops a shown resource edited out of the filters', () => {
    const a = resource({ kind: 'paper' });
    const { list: after } = applyResultsEvent(list(a), q({ kinds: ['paper'] }), ev({ type: 'resource_added', resource: { ...a, kind: 'dataset' } }));
    expect(after.items).toEqual([]);
    expect(after.total).toBe(0);
  });

  it('removes an unpublished resource and counts one less', () => {
    const a = resource();
    const b = resource();
    const before = { ...list(a, b), total: 10 };
    const { list: after, refetch } = applyResultsEvent(before, q(), ev({ type: 'resource_removed', content_id: a.content_id }));
    expect(after.items).toEqual([b]);
    expect(after.total).toBe(9);
    expect(refetch).toBe(false);
    const same = applyResultsEvent(after, q(), ev({ type: 'resource_removed', content_id: 'unknown' }));
    expect(same.list).toBe(after);
  });

  it('greys out and back in when availability changes', () => {
    const a = resource({ available: true, holders_online: 2 });
    const off = applyResultsEvent(list(a), q(), ev({ type: 'availability_changed', content_id: a.content_id, available: false, holders_online: 0 }));
    expect(off.list.items[0]).toMatchObject({ available: false, holders_online: 0 });
    expect(off.refetch).toBe(false);
    const on = applyResultsEvent(off.list, q(), ev({ type: 'availability_changed', content_id: a.content_id, available: true, holders_online: 1 }));
    expect(on.list.items[0]).toMatchObject({ available: true, holders_online: 1 });
  });

  it('under "available only", drops what becomes unavailable and refetches for what comes back', () => {
    const a = resource();
    const gone = applyResultsEvent(list(a), q({ availableOnly: true }), ev({ type: 'availability_changed', content_id: a.content_id, available: false, holders_online: 0 }));
    expect(gone.list.items).toEqual([]);
    const back = applyResultsEvent(gone.list, q({ availableOnly: true }), ev({ type: 'availability_changed', content_id: a.content_id, available: true, holders_online: 1 }));
    expect(back.refetch).toBe(true);
    const elsewhere = applyResultsEvent(gone.list, q(), ev({ type: 'availability_changed', content_id: a.content_id, available: true, holders_online: 1 }));
    expect(elsewhere.refetch).toBe(false);
  });

  it('follows downloads in the local state of a shown resource', () => {
    const a = resource();
    const started = applyResultsEvent(list(a), q(), ev({ type: 'download_progress', download: download({ content_id: a.content_id }) }));
    expect(started.list.items[0]!.local).toBe('downloading');
    const done = applyResultsEvent(started.list, q(), ev({ type: 'download_progress', download: download({ content_id: a.content_id, state: 'complete', progress: 1 }) }));
    expect(done.list.items[0]!.local).toBe('complete');
    const cancelled = applyResultsEvent(started.list, q(), ev({ type: 'download_removed', content_id: a.content_id }));
    expect(cancelled.list.items[0]!.local).toBe('none');
    // my own resources stay "published"
    const mine = resource({ local: 'published' });
    const m = applyResultsEvent(list(mine), q(), ev({ type: 'download_progress', download: download({ content_id: mine.content_id }) }));
    expect(m.list.items[0]!.local).toBe('published');
  });

  it('refetches on catalog_changed and resync, and ignores presence events', () => {
    const l = list(resource());
    expect(applyResultsEvent(l, q(), ev({ type: 'catalog_changed' }))).toEqual({ list: l, refetch: true });
    expect(applyResultsEvent(l, q(), ev({ type: 'resync' }))).toEqual({ list: l, refetch: true });
    expect(applyResultsEvent(l, q(), ev({ type: 'peer_offline', peer_id: 'x' }))).toEqual({ list: l, refetch: false });
  });

  it('appends a page without repeating what is shown', () => {
    const a = resource();
    const b = resource();
    const c = resource();
    const next = appendPage({ ...list(a, b), total: 3 }, { items: [b, c], total: 4, totalIsLowerBound: true });
    expect(next.items).toEqual([a, b, c]);
    expect(next.total).toBe(4);
    expect(next.totalIsLowerBound).toBe(true);
  });
});

describe('resource page reducer', () => {
  it('follows edits, availability, downloads and unpublishing of its resource only', () => {
    const r = resource({ available: true, holders_online: 1 });
    const other = resource();
    expect(applyResourceEvent(r, ev({ type: 'resource_added', resource: other }))).toBe(r);
    expect(applyResourceEvent(r, ev({ type: 'resource_added', resource: { ...r, title: 'New' } }))).toMatchObject({ title: 'New' });
    expect(applyResourceEvent(r, ev({ type: 'availability_changed', content_id: r.content_id, available: false, holders_online: 0 }))).toMatchObject({ available: false });
    expect(applyResourceEvent(r, ev({ type: 'availability_changed', content_id: r.content_id, available: true, holders_online: 1 }))).toBe(r);
    expect(applyResourceEvent(r, ev({ type: 'download_progress', download: download({ content_id: r.content_id, state: 'complete' }) }))).toMatchObject({ local: 'complete' });
    expect(applyResourceEvent(r, ev({ type: 'resource_removed', content_id: other.content_id }))).toBe(r);
    expect(applyResourceEvent(r, ev({ type: 'resource_removed', content_id: r.content_id }))).toBe('removed');
  });

  it('says why a resource cannot be downloaded', () => {
    expect(downloadBlocker(resource(), undefined)).toBeNull();
    expect(downloadBlocker(resource({ available: false }), undefined)).toMatch(/no holder is online/);
    expect(downloadBlocker(resource({ local: 'published' }), undefined)).toMatch(/You publish this/);
    expect(downloadBlocker(resource({ local: 'complete' }), undefined)).toMatch(/Already downloaded/);
    const r = resource();
    expect(downloadBlocker(r, download({ content_id: r.content_id }))).toMatch(/Already downloading/);
    expect(downloadBlocker(r, download({ content_id: r.content_id, state: 'complete' }))).toMatch(/Already downloaded/);
  });
});

describe('downloads reducer', () => {
  it('takes a snapshot, then progress and removal events', () => {
    const a = download({ progress: 0.1 });
    const b = download();
    let s = downloadsReducer(initialDownloads, { type: 'snapshot', downloads: [a, b] });
    expect(Object.keys(s.byId)).toEqual([a.content_id, b.content_id]);
    const before = s;
    s = applyDownloadEvent(s, ev({ type: 'download_progress', download: { ...a, progress: 0.7 } }));
    expect(s.byId[a.content_id]!.progress).toBe(0.7);
    expect(before.byId[a.content_id]!.progress).toBe(0.1); // not mutated
    s = applyDownloadEvent(s, ev({ type: 'download_removed', content_id: b.content_id }));
    expect(Object.keys(s.byId)).toEqual([a.content_id]);
  });

  it('adds a download it did not know, and ignores unrelated events', () => {
    const s0 = initialDownloads;
    const d = download();
    expect(applyDownloadEvent(s0, ev({ type: 'download_progress', download: d })).byId[d.content_id]).toEqual(d);
    expect(applyDownloadEvent(s0, ev({ type: 'download_removed', content_id: 'nothing' }))).toBe(s0);
    expect(applyDownloadEvent(s0, ev({ type: 'catalog_changed' }))).toBe(s0);
  });

  it('lists active transfers first, newest first', () => {
    const done = download({ state: 'complete', started_ms: 5 });
    const paused = download({ state: 'paused', started_ms: 4 });
    const old = download({ state: 'downloading', started_ms: 1 });
    const fresh = download({ state: 'starting', started_ms: 3 });
    const failed = download({ state: 'failed', started_ms: 9 });
    const s = downloadsReducer(initialDownloads, { type: 'snapshot', downloads: [done, paused, old, fresh, failed] });
    expect(sortedDownloads(s).map((d) => d.state)).toEqual(['starting', 'downloading', 'paused', 'failed', 'complete']);
    expect(activeCount(s)).toBe(2);
  });
});

describe('library events', () => {
  it('are my resources being added, anything removed, and catalog changes', () => {
    expect(touchesLibrary(ev({ type: 'resource_added', resource: resource({ author: SELF_ID }) }), SELF_ID)).toBe(true);
    expect(touchesLibrary(ev({ type: 'resource_added', resource: resource({ author: ADA_ID }) }), SELF_ID)).toBe(false);
    expect(touchesLibrary(ev({ type: 'resource_removed', content_id: 'x' }), SELF_ID)).toBe(true);
    expect(touchesLibrary(ev({ type: 'catalog_changed' }), null)).toBe(true);
    expect(touchesLibrary(ev({ type: 'peer_offline', peer_id: 'x' }), SELF_ID)).toBe(false);
  });
});

describe('playableFile', () => {
  const files = (...paths: string[]) => paths.map((path) => ({ path, size: 1 }));
  it('plays the first file unless another looks like the kind', () => {
    expect(playableFile({ kind: 'video', files: files('film.mp4') })).toBeUndefined();
    expect(playableFile({ kind: 'video', files: files('film.mkv', 'film.srt') })).toBeUndefined();
    expect(playableFile({ kind: 'video', files: files('README.txt', 'subs/en.srt', 'Film.MKV') })).toBe(2);
    expect(playableFile({ kind: 'audio', files: files('cover.jpg', 'track.flac') })).toBe(1);
    expect(playableFile({ kind: 'video', files: files('notes.txt', 'data.csv') })).toBeUndefined();
    expect(playableFile({ kind: 'video', files: [] })).toBeUndefined();
  });
});
