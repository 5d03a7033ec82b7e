import { useEffect, useState } from 'preact/hooks';

export const ROUTES = ['explore', 'library', 'downloads', 'chat', 'peers', 'settings', 'resource'] as const;
export type Route = (typeof ROUTES)[number];
export const DEFAULT_ROUTE: Route = 'explore';

/** Where the app is: `#/resource/<id>?x=1` → route `resource`, param `<id>`, query `x=1`. */
export interface AppLocation {
  route: Route;
  /** The path segment after the route, decoded (e.g. a resource's content id). */
  param: string | null;
  query: URLSearchParams;
  /** The hash it was read from (a cheap value to compare). */
  hash: string;
  /** Counts navigations (`hashchange`), even back to the same address. */
  seq: number;
}

/**
 * Reads the location from the hash. Anything unknown (including a `#token=…` fragment, or a
 * resource route without an id) is the default route.
 */
export function parseLocation(hash: string): AppLocation {
  const m = /^#\/([a-z]+)(?:\/([^?]*))?(?:\?(.*))?$/.exec(hash);
  const name = m?.[1];
  if (!m || !name || !(ROUTES as readonly string[]).includes(name)) {
    return { route: DEFAULT_ROUTE, param: null, query: new URLSearchParams(), hash, seq: 0 };
  }
  let param: string | null = null;
  if (m[2]) {
    try {
      param = decodeURIComponent(m[2]);
    } catch {
      param = null;
    }
  }
  const query = new URLSearchParams(m[3] ?? '');
  query.delete('token');
  if (name === 'resource' && !param) {
    return { route: DEFAULT_ROUTE, param: null, query: new URLSearchParams(), hash, seq: 0 };
  }
  return { route: name as Route, param, query, hash, seq: 0 };
}

/** `#/peers` → `peers`. */
export function parseRoute(hash: string): Route {
  return parseLocation(hash).route;
}

export function href(route: Route, query?: string): string {
  return query ? `#/${route}?${query}` : `#/${route}`;
}

/** The page of one resource. */
export function resourceHref(contentId: string): string {
  return `#/resource/${encodeURIComponent(contentId)}`;
}

/** Explore, showing only what one peer publishes. */
export function authorHref(peerId: string): string {
  return href('explore', new URLSearchParams({ author: peerId }).toString());
}

/** The current location, following `hashchange`. */
export function useLocation(): AppLocation {
  const [at, setAt] = useState(() => ({ hash: window.location.hash, seq: 0 }));
  useEffect(() => {
    const onChange = () => setAt((old) => ({ hash: window.location.hash, seq: old.seq + 1 }));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return { ...parseLocation(at.hash), seq: at.seq };
}

/** The current route, following `hashchange`. */
export function useRoute(): Route {
  return useLocation().route;
}

/**
 * Rewrites the address without a navigation (no history entry, no `hashchange`): used to
 * keep a page's state, such as a search, in the address so Back returns to it.
 */
export function replaceHash(hash: string): void {
  if (window.location.hash === hash) return;
  window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search + hash);
}
