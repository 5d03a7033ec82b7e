import type { Event, SearchRequest, SearchResult } from '../../api/types';
import { describeError } from '../../backend/errors';
import {
  PAGE_SIZE,
  MAX_LIMIT,
  appendPage,
  applyResultsEvent,
  queryKey,
  searchRequest,
  type ExploreQuery,
  type ResultsList,
} from './catalog';

/** What Explore shows. Never mutated: every change makes a new one. */
export interface SearchState extends ResultsList {
  query: ExploreQuery;
  /** At least one answer for this query (or an equivalent one) has arrived. */
  loaded: boolean;
  /** A new query's first page is on its way (older results stay shown meanwhile). */
  searching: boolean;
  loadingMore: boolean;
  /** The last answer was shorter than asked for: there is nothing further to page to. */
  endReached: boolean;
  /** Why the last request failed, until one succeeds. */
  error: string | null;
  tookMs: number | null;
}

export function initialSearchState(query: ExploreQuery): SearchState {
  return {
    query,
    items: [],
    total: 0,
    totalIsLowerBound: false,
    loaded: false,
    searching: false,
    loadingMore: false,
    endReached: false,
    error: null,
    tookMs: null,
  };
}

export interface SearchControllerOptions {
  run: (req: SearchRequest) => Promise<SearchResult>;
  onChange: (state: SearchState) => void;
  /** Wait after the last keystroke before searching. */
  debounceMs?: number;
  /** Wait after an event before fetching the shown results again (bursts make one fetch). */
  refreshDelayMs?: number;
  pageSize?: number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/**
 * Runs Explore's searches: debounces typing, pages, refreshes after events, and makes sure
 * an answer never overwrites a newer one. Every request carries the query generation it was
 * made for and a sequence number: an answer for an older generation is dropped, and a full
 * answer older than one already shown is dropped.
 */
export class SearchController {
  private state: SearchState;
  private readonly opts: Required<Omit<SearchControllerOptions, 'run' | 'onChange'>> &
    Pick<SearchControllerOptions, 'run' | 'onChange'>;
  private generation = 0;
  private seq = 0;
  /** Sequence number of the last full (first page or refresh) answer shown. */
  private shownSeq = 0;
  private debounceTimer: unknown = null;
  private refreshTimer: unknown = null;
  private disposed = false;

  constructor(initial: SearchState, opts: SearchControllerOptions) {
    this.state = initial;
    this.opts = {
      debounceMs: 250,
      refreshDelayMs: 600,
      pageSize: PAGE_SIZE,
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
      ...opts,
    };
  }

  get current(): SearchState {
    return this.state;
  }

  private set(patch: Partial<SearchState>) {
    this.state = { ...this.state, ...patch };
    if (!this.disposed) this.opts.onChange(this.state);
  }

  /**
   * Shows results for `query`. With `debounce` (typing), the search waits until the typing
   * pauses; results shown so far stay until the answer arrives.
   */
  setQuery(query: ExploreQuery, { debounce = false }: { debounce?: boolean } = {}): void {
    if (this.disposed) return;
    if (queryKey(query) === queryKey(this.state.query)) {
      // Same search (e.g. a trailing space): keep what is shown and what is on its way,
      // but an explicit search (Enter) need not wait for the typing pause.
      this.set({ query });
      if (!debounce && this.debounceTimer !== null) {
        this.cancelTimer('debounceTimer');
        this.fetchFirst();
      }
      return;
    }
    this.cancelTimer('debounceTimer');
    this.generation++;
    this.cancelTimer('refreshTimer');
    this.set({ query, searching: true, loadingMore: false });
    if (debounce) {
      this.debounceTimer = this.opts.setTimeout(() => {
        this.debounceTimer = null;
        this.fetchFirst();
      }, this.opts.debounceMs);
    } else {
      this.fetchFirst();
    }
  }

  /** Runs the current query now (first load, or "try again" after an error). */
  reload(): void {
    if (this.disposed) return;
    this.cancelTimer('debounceTimer');
    this.set({ searching: true });
    this.fetchFirst();
  }

  /** Fetches the next page. */
  more(): void {
    const s = this.state;
    if (this.disposed || s.loadingMore || s.searching || this.debounceTimer !== null) return;
    const gen = this.generation;
    const afterSeq = this.shownSeq;
    const offset = s.items.length;
    this.set({ loadingMore: true });
    this.opts.run(searchRequest(s.query, offset, this.opts.pageSize)).then(
      (res) => {
        if (this.disposed || gen !== this.generation) return;
        if (this.shownSeq !== afterSeq) return; // a full answer replaced the list meanwhile
        if (this.state.items.length !== offset) {
          // An event removed a shown result: this page no longer follows on. Ask again.
          this.set({ loadingMore: false });
          this.more();
          return;
        }
        this.set({
          ...appendPage(this.state, {
            items: res.items,
            total: res.total,
            totalIsLowerBound: res.total_is_lower_bound,
          }),
          loadingMore: false,
          endReached: res.items.length < this.opts.pageSize,
          error: null,
        });
      },
      (e: unknown) => {
        if (this.disposed || gen !== this.generation) return;
        this.set({ loadingMore: false, error: describeError(e) });
      },
    );
  }

  /** Applies a live event to the shown results, and schedules a refresh when it may add some. */
  applyEvent(event: Event): void {
    if (this.disposed) return;
    const { list, refetch } = applyResultsEvent(this.state, this.state.query, event);
    if (list !== this.state && list.items !== this.state.items) {
      this.set({ items: list.items, total: list.total, totalIsLowerBound: list.totalIsLowerBound });
    }
    if (refetch) this.scheduleRefresh();
  }

  /** Fetches the shown results again soon, as many as are shown (so "more" pages stay). */
  scheduleRefresh(): void {
    if (this.disposed || this.refreshTimer !== null) return;
    this.refreshTimer = this.opts.setTimeout(() => {
      this.refreshTimer = null;
      // Not while a new query is still waiting to be sent: its own answer will be fresh.
      if (this.debounceTimer !== null) return;
      this.fetchFull(Math.max(this.state.items.length, this.opts.pageSize), false);
    }, this.opts.refreshDelayMs);
  }

  dispose(): void {
    this.disposed = true;
    this.cancelTimer('debounceTimer');
    this.cancelTimer('refreshTimer');
  }

  private fetchFirst() {
    this.fetchFull(this.opts.pageSize, true);
  }

  private fetchFull(limit: number, first: boolean) {
    const gen = this.generation;
    const seq = ++this.seq;
    const query = this.state.query;
    const asked = Math.min(limit, MAX_LIMIT);
    this.opts.run(searchRequest(query, 0, asked)).then(
      (res) => {
        if (this.disposed || gen !== this.generation || seq < this.shownSeq) return;
        this.shownSeq = seq;
        this.set({
          items: res.items,
          total: res.total,
          totalIsLowerBound: res.total_is_lower_bound,
          tookMs: res.took_ms,
          loaded: true,
          searching: false,
          loadingMore: false,
          endReached: res.items.length < asked,
          error: null,
        });
      },
      (e: unknown) => {
        if (this.disposed || gen !== this.generation || seq < this.shownSeq) return;
        // A failed refresh keeps the results shown; a failed search shows none (the old
        // ones answered another question).
        const clear = first ? { items: [], total: 0, totalIsLowerBound: false, loaded: true } : {};
        this.set({ searching: false, loadingMore: false, error: describeError(e), ...clear });
      },
    );
  }

  private cancelTimer(which: 'debounceTimer' | 'refreshTimer') {
    const t = this[which];
    if (t !== null) this.opts.clearTimeout(t);
    this[which] = null;
  }
}
