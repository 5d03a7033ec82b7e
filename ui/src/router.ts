import { useEffect, useState } from 'preact/hooks';

export const ROUTES = ['explore', 'library', 'downloads', 'chat', 'peers', 'settings'] as const;
export type Route = (typeof ROUTES)[number];
export const DEFAULT_ROUTE: Route = 'explore';

/** `#/peers` → `peers`. Anything unknown (including a `#token=…` fragment) → the default. */
export function parseRoute(hash: string): Route {
  const m = /^#\/([a-z]+)/.exec(hash);
  const name = m?.[1];
  return name && (ROUTES as readonly string[]).includes(name) ? (name as Route) : DEFAULT_ROUTE;
}

export function href(route: Route): string {
  return `#/${route}`;
}

/** The current route, following `hashchange`. */
export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
