/** The access token of the headless node's HTTP API, as found in the page address. */

export const TOKEN_KEY = 'hearth.token';

/** The parts of `window` the token handling needs (so tests can supply their own). */
export interface TokenEnv {
  location: Pick<Location, 'hash' | 'pathname' | 'search'>;
  history: Pick<History, 'replaceState' | 'state'>;
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
}

/** Extracts `token=…` from a fragment such as `#token=abc` or `#/peers?token=abc`. */
export function tokenFromHash(hash: string): string | null {
  const m = /(?:^#?|[&?])token=([^&?#]*)/.exec(hash);
  if (!m) return null;
  let value: string;
  try {
    value = decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
  value = value.trim();
  return value.length > 0 ? value : null;
}

/** The fragment with the `token=…` part removed (`''` when nothing else is left). */
export function stripTokenFromHash(hash: string): string {
  const body = hash.startsWith('#') ? hash.slice(1) : hash;
  const [route, query] = splitOnce(body, '?');
  if (query !== null) {
    // `#/peers?token=abc&x=1`
    const rest = query
      .split('&')
      .filter((p) => p.length > 0 && !p.startsWith('token='))
      .join('&');
    return '#' + route + (rest ? '?' + rest : '');
  }
  // `#token=abc` or `#token=abc&x=1`
  const rest = body
    .split('&')
    .filter((p) => p.length > 0 && !p.startsWith('token='))
    .join('&');
  return rest ? '#' + rest : '';
}

function splitOnce(s: string, sep: string): [string, string | null] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, null] : [s.slice(0, i), s.slice(i + 1)];
}

/**
 * Finds the API token: a token in the address fragment wins (it is saved in session
 * storage and removed from the address bar); otherwise the one saved earlier in this tab.
 */
export function loadToken(env: TokenEnv): string | null {
  const fromHash = tokenFromHash(env.location.hash);
  if (fromHash) {
    try {
      env.storage.setItem(TOKEN_KEY, fromHash);
    } catch {
      // storage may be unavailable; the token still works for this page load
    }
    const { pathname, search } = env.location;
    env.history.replaceState(env.history.state, '', pathname + search + stripTokenFromHash(env.location.hash));
    return fromHash;
  }
  try {
    return env.storage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Forgets the saved token (after the node rejected it). */
export function clearToken(env: Pick<TokenEnv, 'storage'>): void {
  try {
    env.storage.removeItem(TOKEN_KEY);
  } catch {
    // ignore
  }
}

export function browserTokenEnv(): TokenEnv {
  return { location: window.location, history: window.history, storage: window.sessionStorage };
}
