import { useEffect, useRef, useState } from 'preact/hooks';
import type { Resource, ResourceKind, SortOrder } from '../../api/types';
import { EmptyState, PageHeader } from '../../components/common';
import { KindIcon, TagList, Thumb, authorName } from './components';
import { CloseIcon, CompassIcon, RefreshIcon, SearchIcon } from '../../components/icons';
import { useBackend, useNodeEvents, useNodeView } from '../../context';
import { href, parseRoute, replaceHash, resourceHref } from '../../router';
import {
  EMPTY_QUERY,
  KINDS,
  isUnfiltered,
  kindLabel,
  queryKey,
  queryToParams,
  type ExploreQuery,
} from './catalog';
import { onlineCount, peerName, shortId } from '../peers/peers';
import { SearchController, initialSearchState, type SearchState } from './search';
import { formatBytes, formatCount } from '../../util/format';
import './explore.css';

/**
 * What Explore showed last, so Back from a resource page returns to the same results at the
 * same place while they are refreshed.
 */
let memory: { key: string; state: SearchState; scrollY: number } | null = null;

/** The address of Explore as it was last left (with its search). */
export function lastExploreHref(): string {
  const params = memory ? queryToParams(memory.state.query) : '';
  return href('explore', params);
}

/** Forgets the remembered search (tests). */
export function forgetExploreMemory(): void {
  memory = null;
}

function useSearch(initialQuery: ExploreQuery) {
  const backend = useBackend();
  const [restored] = useState(() => {
    const m = memory;
    return m && m.key === queryKey(initialQuery) ? m : null;
  });
  const [state, setState] = useState<SearchState>(() => restored?.state ?? initialSearchState(initialQuery));
  const [controller] = useState(
    () =>
      new SearchController(restored?.state ?? initialSearchState(initialQuery), {
        run: (req) => backend.call('search', req),
        onChange: setState,
      }),
  );
  useEffect(() => {
    // Remembered results show at once and are brought up to date soon after.
    if (restored?.state.loaded) controller.scheduleRefresh();
    else controller.reload();
    return () => controller.dispose();
  }, [controller]);
  useNodeEvents((e) => controller.applyEvent(e));
  return { state, controller, restored };
}

export function ExplorePage({ initialQuery = EMPTY_QUERY }: { initialQuery?: ExploreQuery }) {
  const { state, controller, restored } = useSearch(initialQuery);
  const q = state.query;
  const scrollY = useRef(restored?.scrollY ?? 0);

  // Keep the search in the address (without adding history), so Back comes back to it.
  useEffect(() => {
    if (parseRoute(window.location.hash) !== 'explore') return;
    const params = queryToParams(q);
    replaceHash(params ? `#/explore?${params}` : '#/explore');
  }, [queryKey(q)]);

  // Remember the results and the reading position for the next visit (kept current, as
  // the next page may ask for them before this one is gone).
  useEffect(() => {
    memory = {
      key: queryKey(state.query),
      state: { ...state, searching: false, loadingMore: false },
      scrollY: scrollY.current,
    };
  }, [state]);
  useEffect(() => {
    let frame = 0;
    const onScroll = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        scrollY.current = window.scrollY;
        if (memory) memory.scrollY = scrollY.current;
      });
    };
    window.addEventListener('scroll', onScroll, { passive: true });
    if (restored && restored.scrollY > 0) {
      requestAnimationFrame(() => window.scrollTo(0, restored.scrollY));
    }
    return () => {
      window.removeEventListener('scroll', onScroll);
      if (frame) cancelAnimationFrame(frame);
    };
  }, []);

  const update = (patch: Partial<ExploreQuery>, debounce = false) =>
    controller.setQuery({ ...q, ...patch }, { debounce });

  const toggleKind = (k: ResourceKind) => {
    const kinds = q.kinds.includes(k) ? q.kinds.filter((x) => x !== k) : [...q.kinds, k];
    update({ kinds: KINDS.filter((x) => kinds.includes(x)) });
  };

  return (
    <section class="page" data-testid="page-explore">
      <PageHeader title="Explore" subtitle="What people on the network share" />

      <div class="explore-controls">
        <div class="search-box">
          <SearchIcon size={17} class="search-icon" />
          <input
            class="input search-input"
            type="search"
            placeholder="Search titles, descriptions, tags and authors"
            aria-label="Search the catalog"
            autocomplete="off"
            spellcheck={false}
            value={q.text}
            onInput={(e) => update({ text: e.currentTarget.value }, true)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') controller.setQuery({ ...q, text: e.currentTarget.value });
            }}
            data-testid="explore-search"
          />
        </div>

        <div class="chips" role="group" aria-label="Kinds">
          <button
            type="button"
            class="chip-btn"
            aria-pressed={q.kinds.length === 0}
            onClick={() => update({ kinds: [] })}
            data-testid="kind-all"
          >
            All
          </button>
          {KINDS.map((k) => (
            <button
              key={k}
              type="button"
              class="chip-btn"
              aria-pressed={q.kinds.includes(k)}
              onClick={() => toggleKind(k)}
              data-testid={`kind-${k}`}
            >
              <KindIcon kind={k} size={14} />
              {kindLabel(k, true)}
            </button>
          ))}
        </div>
        {q.author && <AuthorFilter peerId={q.author} onClear={() => update({ author: null })} />}
      </div>

      <div class="results-bar">
        <ResultsCount state={state} />
        <div class="filter-tools">
          <label class="switch">
            <input
              type="checkbox"
              checked={q.availableOnly}
              onChange={(e) => update({ availableOnly: e.currentTarget.checked })}
              data-testid="available-only"
            />
            <span class="switch-track" aria-hidden="true" />
            Available only
          </label>
          <label class="sort">
            <span class="sort-label">Sort</span>
            <select
              class="input select select-sm"
              value={q.sort}
              onChange={(e) => update({ sort: e.currentTarget.value as SortOrder })}
              data-testid="sort"
            >
              <option value="relevance">Relevance</option>
              <option value="newest">Newest</option>
            </select>
          </label>
        </div>
      </div>

      <Results state={state} controller={controller} />
    </section>
  );
}

function AuthorFilter({ peerId, onClear }: { peerId: string; onClear: () => void }) {
  const { state } = useNodeView();
  const self = state.self?.peer_id === peerId;
  const peer = state.peers[peerId];
  const name = self ? 'you' : peer ? peerName(peer) : shortId(peerId);
  return (
    <div class="author-filter" data-testid="author-filter">
      <span>
        Shared by <strong>{name}</strong>
      </span>
      <button type="button" class="icon-btn" aria-label="Show everyone's" title="Show everyone's" onClick={onClear}>
        <CloseIcon size={15} />
      </button>
    </div>
  );
}

function Results({ state, controller }: { state: SearchState; controller: SearchController }) {
  const { state: node } = useNodeView();
  const selfId = node.self?.peer_id ?? null;
  const q = state.query;

  if (!state.loaded) {
    return (
      <p class="results-loading muted" role="status">
        {state.error ? '' : 'Looking through the catalog…'}
      </p>
    );
  }

  if (state.items.length === 0) {
    if (state.error) return <SearchError message={state.error} onRetry={() => controller.reload()} />;
    if (isUnfiltered(q)) {
      const online = onlineCount(node);
      return (
        <EmptyState icon={<CompassIcon size={30} />} title="Nothing shared yet" testId="explore-empty">
          <p>
            Papers, datasets, recordings and images that you and your peers publish appear here,
            with search across everything shared on the network.
          </p>
          <p>
            <a href={href('library')}>Publish something from your Library</a>
          </p>
          <p class="hint">
            {online === 0
              ? 'No peers are online right now. '
              : `${online} ${online === 1 ? 'peer is' : 'peers are'} online right now. `}
            <a href={href('peers')}>See who is around</a>
          </p>
        </EmptyState>
      );
    }
    return (
      <EmptyState icon={<SearchIcon size={30} />} title="No matches" testId="explore-no-matches">
        <p>
          {q.text.trim() ? (
            <>
              Nothing in the catalog matches “<span class="quoted">{q.text.trim()}</span>”
              {q.kinds.length > 0 || q.availableOnly || q.author ? ' with these filters.' : '.'}
            </>
          ) : (
            'Nothing in the catalog passes these filters.'
          )}
        </p>
        <p>
          <button
            type="button"
            class="btn btn-quiet"
            onClick={() => controller.setQuery({ ...EMPTY_QUERY, sort: q.sort })}
            data-testid="clear-filters"
          >
            Clear search and filters
          </button>
        </p>
      </EmptyState>
    );
  }

  const more = !state.endReached && (state.items.length < state.total || state.totalIsLowerBound);
  return (
    <div class={state.searching ? 'results is-searching' : 'results'}>
      {state.error && <SearchError message={state.error} onRetry={() => controller.reload()} inline />}
      <ul class="list-col result-list" data-testid="results">
        {state.items.map((r) => (
          <ResultRow key={r.content_id} resource={r} selfId={selfId} />
        ))}
      </ul>
      {more && (
        <div class="results-more">
          <button
            type="button"
            class="btn"
            onClick={() => controller.more()}
            disabled={state.loadingMore}
            data-testid="results-more"
          >
            {state.loadingMore ? 'Loading…' : 'More results'}
          </button>
        </div>
      )}
    </div>
  );
}

function ResultsCount({ state }: { state: SearchState }) {
  const n = Math.max(state.total, state.items.length);
  return (
    <div class="results-count" role="status" aria-live="polite">
      {state.loaded && state.items.length > 0 && (
        <span data-testid="results-count">
          {state.totalIsLowerBound ? 'At least ' : ''}
          {formatCount(n)} {n === 1 ? 'result' : 'results'}
        </span>
      )}
      {state.searching && <span class="muted">Searching…</span>}
    </div>
  );
}

function SearchError({ message, onRetry, inline }: { message: string; onRetry: () => void; inline?: boolean }) {
  return (
    <div class={inline ? 'notice notice-err' : 'notice notice-err notice-block'} role="alert" data-testid="search-error">
      <span>Search failed: {message}</span>
      <button type="button" class="btn btn-quiet" onClick={onRetry}>
        <RefreshIcon size={15} /> Try again
      </button>
    </div>
  );
}

function localChip(r: Resource) {
  switch (r.local) {
    case 'published':
      return <span class="chip chip-accent">yours</span>;
    case 'complete':
      return <span class="chip chip-on">downloaded</span>;
    case 'downloading':
      return <span class="chip chip-accent">downloading</span>;
    default:
      return null;
  }
}

export function ResultRow({ resource: r, selfId }: { resource: Resource; selfId: string | null }) {
  const classes = r.available ? 'result card' : 'result card is-unavailable';
  return (
    <li class={classes} data-testid="result" data-content-id={r.content_id} data-available={String(r.available)}>
      <a
        class="result-link"
        href={resourceHref(r.content_id)}
        aria-labelledby={`rt-${r.content_id}`}
        aria-describedby={`rm-${r.content_id}`}
      >
        <Thumb resource={r} size={52} duration />
        <div class="result-main">
          <div class="result-title">
            <span class="result-name" id={`rt-${r.content_id}`} data-testid="result-title" title={r.title}>
              {r.title}
            </span>
            {localChip(r)}
          </div>
          <div class="result-meta" id={`rm-${r.content_id}`}>
            <span class="meta-item">{kindLabel(r.kind)}</span>
            <span class="meta-item" data-testid="result-author">
              {authorName(r, selfId)}
            </span>
            <span class="meta-item">{formatBytes(r.size)}</span>
            {r.available ? (
              <span class="meta-item holders-on" data-testid="result-holders">
                <span class="dot dot-on" />
                {r.holders_online} {r.holders_online === 1 ? 'holder' : 'holders'} online
              </span>
            ) : (
              <span class="meta-item unavailable-hint" data-testid="result-unavailable">
                <span class="dot dot-off" />
                Unavailable – no holder online
              </span>
            )}
          </div>
          <TagList tags={r.tags} max={6} />
        </div>
      </a>
    </li>
  );
}
