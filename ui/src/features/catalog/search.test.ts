import { manualTimers } from '../../test/timers';
import { describe, expect, it } from 'vitest';
import type { SearchRequest, SearchResult } from '../../api/types';
import { ApiError } from '../../backend/errors';
import { deferred, ev, resource, searchResult } from '../../test/fake';
import { EMPTY_QUERY, type ExploreQuery } from './catalog';
import { SearchController, initialSearchState, type SearchState } from './search';

const flush = () => new Promise((r) => setTimeout(r, 0));

/** A controller whose searches and timers the test answers by hand. */
function harness(opts: { pageSize?: number; initial?: SearchState } = {}) {
  const calls: { req: SearchRequest; answer: ReturnType<typeof deferred<SearchResult>> }[] = [];
  const clock = manualTimers();
  const states: SearchState[] = [];
  const c = new SearchController(opts.initial ?? initialSearchState(EMPTY_QUERY), {
    run: (req) => {
      const answer = deferred<SearchResult>();
      calls.push({ req, answer });
      return answer.promise;
    },
    onChange: (s) => states.push(s),
    debounceMs: 250,
    refreshDelayMs: 600,
    pageSize: opts.pageSize ?? 2,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
  });
  const answer = async (i: number, res: SearchResult) => {
    calls[i]!.answer.resolve(res);
    await flush();
  };
  const fail = async (i: number, e: unknown) => {
    calls[i]!.answer.reject(e);
    await flush();
  };
  return { c, calls, timers: clock.timers, states, fire: clock.fire, answer, fail, state: () => c.current };
}

const text = (t: string): ExploreQuery => ({ ...EMPTY_QUERY, text: t });

describe('search as you type', () => {
  it('waits for a pause in typing and sends only the last text', async () => {
    const h = harness();
    h.c.setQuery(text('e'), { debounce: true });
    h.c.setQuery(text('en'), { debounce: true });
    h.c.setQuery(text('eng'), { debounce: true });
    expect(h.calls).toHaveLength(0);
    expect(h.state().query.text).toBe('eng'); // the box shows what was typed at once
    expect(h.state().searching).toBe(true);
    expect(h.timers).toHaveLength(1);
    expect(h.fire()).toBe(250);
    expect(h.calls.map((c) => c.req.text)).toEqual(['eng']);
    const r = resource({ title: 'Engines' });
    await h.answer(0, searchResult([r]));
    expect(h.state()).toMatchObject({ items: [r], total: 1, loaded: true, searching: false });
  });

  it('never lets an older answer overwrite a newer one', async () => {
    const h = harness();
    h.c.setQuery(text('a'));
    h.c.setQuery(text('ab'));
    expect(h.calls.map((c) => c.req.text)).toEqual(['a', 'ab']);
    const newer = resource({ title: 'ab' });
    await h.answer(1, searchResult([newer]));
    await h.answer(0, searchResult([resource({ title: 'a' })])); // late and stale
    expect(h.state().items).toEqual([newer]);
    expect(h.state().query.text).toBe('ab');
  });

  it('drops an answer to an earlier query even when nothing newer has arrived yet', async () => {
    const h = harness();
    h.c.setQuery(text('old'));
    h.c.setQuery(text('new'), { debounce: true });
    await h.answer(0, searchResult([resource({ title: 'old' })]));
    expect(h.state().items).toEqual([]);
    expect(h.state().searching).toBe(true);
  });

  it('drops a stale failure too', async () => {
    const h = harness();
    h.c.setQuery(text('a'));
    h.c.setQuery(text('b'));
    await h.answer(1, searchResult([resource()]));
    await h.fail(0, new ApiError('unavailable', 'gone'));
    expect(h.state().error).toBeNull();
  });

  it('does not search again for the same words with other spacing, but Enter skips the wait', async () => {
    const h = harness();
    h.c.setQuery(text('rings'));
    await h.answer(0, searchResult([]));
    h.c.setQuery(text('rings '), { debounce: true });
    expect(h.timers).toHaveLength(0);
    expect(h.calls).toHaveLength(1);
    h.c.setQuery(text('ringsx'), { debounce: true });
    h.c.setQuery(text('ringsx')); // Enter
    expect(h.timers).toHaveLength(0);
    expect(h.calls.map((c) => c.req.text)).toEqual(['rings', 'ringsx']);
  });

  it('shows a failed search with no results, and tries again on reload', async () => {
    const h = harness();
    h.c.setQuery(text('x'));
    await h.fail(0, new ApiError('unavailable', 'Cannot reach the node'));
    expect(h.state()).toMatchObject({ items: [], loaded: true, searching: false, error: 'Cannot reach the node' });
    h.c.reload();
    await h.answer(1, searchResult([resource()]));
    expect(h.state().error).toBeNull();
    expect(h.state().items).toHaveLength(1);
  });
});

describe('paging', () => {
  it('asks for the next page from the end of the list and appends it', async () => {
    const h = harness({ pageSize: 2 });
    h.c.reload();
    const [a, b, c] = [resource(), resource(), resource()];
    await h.answer(0, searchResult([a, b], { total: 3 }));
    expect(h.state().endReached).toBe(false);
    h.c.more();
    h.c.more(); // ignored while a page is on its way
    expect(h.calls).toHaveLength(2);
    expect(h.calls[1]!.req).toMatchObject({ offset: 2, limit: 2 });
    await h.answer(1, searchResult([c], { total: 3 }));
    expect(h.state().items).toEqual([a, b, c]);
    expect(h.state().endReached).toBe(true);
    expect(h.state().loadingMore).toBe(false);
  });

  it('drops a page that belongs to an older query', async () => {
    const h = harness({ pageSize: 2 });
    h.c.reload();
    await h.answer(0, searchResult([resource(), resource()], { total: 5 }));
    h.c.more();
    h.c.setQuery(text('other'));
    const fresh = resource();
    await h.answer(2, searchResult([fresh]));
    await h.answer(1, searchResult([resource(), resource()], { total: 5 }));
    expect(h.state().items).toEqual([fresh]);
  });

  it('asks again when an event removed a shown result while a page was on its way', async () => {
    const h = harness({ pageSize: 2 });
    h.c.reload();
    const [a, b] = [resource(), resource()];
    await h.answer(0, searchResult([a, b], { total: 4 }));
    h.c.more();
    h.c.applyEvent(ev({ type: 'resource_removed', content_id: a.content_id }));
    await h.answer(1, searchResult([resource(), resource()], { total: 4 }));
    expect(h.calls).toHaveLength(3);
    expect(h.calls[2]!.req.offset).toBe(1);
  });
});

describe('live results', () => {
  it('patches shown results in place without a request', async () => {
    const h = harness();
    const a = resource({ available: true });
    h.c.reload();
    await h.answer(0, searchResult([a]));
    h.c.applyEvent(ev({ type: 'availability_changed', content_id: a.content_id, available: false, holders_online: 0 }));
    expect(h.state().items[0]!.available).toBe(false);
    expect(h.timers).toHaveLength(0);
  });

  it('coalesces a burst of catalog events into one refresh of everything shown', async () => {
    const h = harness({ pageSize: 2 });
    h.c.reload();
    await h.answer(0, searchResult([resource(), resource()], { total: 4 }));
    h.c.more();
    await h.answer(1, searchResult([resource(), resource()], { total: 4 }));
    for (let i = 0; i < 50; i++) h.c.applyEvent(ev({ type: 'resource_added', resource: resource() }));
    h.c.applyEvent(ev({ type: 'catalog_changed' }));
    expect(h.timers).toHaveLength(1);
    expect(h.fire()).toBe(600);
    expect(h.calls).toHaveLength(3);
    expect(h.calls[2]!.req).toMatchObject({ offset: 0, limit: 4 }); // keeps the pages shown
    const fresh = [resource(), resource(), resource(), resource(), resource()];
    await h.answer(2, searchResult(fresh.slice(0, 4), { total: 5 }));
    expect(h.state().items).toEqual(fresh.slice(0, 4));
    expect(h.state().endReached).toBe(false);
  });

  it('keeps the shown results when a background refresh fails', async () => {
    const h = harness();
    const a = resource();
    h.c.reload();
    await h.answer(0, searchResult([a]));
    h.c.applyEvent(ev({ type: 'catalog_changed' }));
    h.fire();
    await h.fail(1, new ApiError('unavailable', 'down'));
    expect(h.state().items).toEqual([a]);
    expect(h.state().error).toBe('down');
  });

  it('an older refresh answer does not overwrite a newer one', async () => {
    const h = harness();
    h.c.reload();
    await h.answer(0, searchResult([]));
    h.c.scheduleRefresh();
    h.fire();
    h.c.scheduleRefresh();
    h.fire();
    const newer = resource({ title: 'newer' });
    await h.answer(2, searchResult([newer]));
    await h.answer(1, searchResult([resource({ title: 'older' })]));
    expect(h.state().items).toEqual([newer]);
  });

  it('stops after dispose', async () => {
    const h = harness();
    h.c.reload();
    h.c.applyEvent(ev({ type: 'catalog_changed' }));
    h.c.dispose();
    expect(h.timers).toHaveLength(0);
    const before = h.states.length;
    await h.answer(0, searchResult([resource()]));
    expect(h.states.length).toBe(before);
  });

  it('starts from a remembered state without losing it', () => {
    const a = resource();
    const initial = { ...initialSearchState(EMPTY_QUERY), items: [a], total: 1, loaded: true };
    const h = harness({ initial });
    expect(h.state().items).toEqual([a]);
    h.c.scheduleRefresh();
    expect(h.calls).toHaveLength(0);
    h.fire();
    expect(h.calls).toHaveLength(1);
  });
});
