import { describe, expect, it } from 'vitest';
import { TOKEN_KEY, clearToken, loadToken, stripTokenFromHash, tokenFromHash, type TokenEnv } from './token';

function fakeEnv(url: string, stored: Record<string, string> = {}) {
  const u = new URL(url);
  const store = new Map(Object.entries(stored));
  const replaced: string[] = [];
  const env: TokenEnv = {
    location: { hash: u.hash, pathname: u.pathname, search: u.search },
    history: {
      state: null,
      replaceState: (_data: unknown, _unused: string, target?: string | URL | null) => {
        replaced.push(String(target));
      },
    },
    storage: {
      getItem: (k) => store.get(k) ?? null,
      setItem: (k, v) => void store.set(k, v),
      removeItem: (k) => void store.delete(k),
    },
  };
  return { env, store, replaced };
}

describe('token in the address fragment', () => {
  it('is read from #token=…', () => {
    expect(tokenFromHash('#token=abc123')).toBe('abc123');
    expect(tokenFromHash('#token=a%2Bb')).toBe('a+b');
    expect(tokenFromHash('#/peers?token=xyz')).toBe('xyz');
    expect(tokenFromHash('#foo=1&token=xyz')).toBe('xyz');
  });

  it('is absent otherwise', () => {
    expect(tokenFromHash('')).toBeNull();
    expect(tokenFromHash('#/peers')).toBeNull();
    expect(tokenFromHash('#token=')).toBeNull();
    expect(tokenFromHash('#notatoken=abc')).toBeNull();
  });

  it('is stripped, keeping the rest of the fragment', () => {
    expect(stripTokenFromHash('#token=abc')).toBe('');
    expect(stripTokenFromHash('#/peers?token=abc')).toBe('#/peers');
    expect(stripTokenFromHash('#/peers?x=1&token=abc')).toBe('#/peers?x=1');
    expect(stripTokenFromHash('#token=abc&x=1')).toBe('#x=1');
  });
});

describe('loadToken', () => {
  it('saves a fragment token in session storage and removes it from the address bar', () => {
    const { env, store, replaced } = fakeEnv('http://127.0.0.1:4000/#token=sekret');
    expect(loadToken(env)).toBe('sekret');
    expect(store.get(TOKEN_KEY)).toBe('sekret');
    expect(replaced).toEqual(['/']);
  });

  it('keeps the route when the token came with one', () => {
    const { env, replaced } = fakeEnv('http://127.0.0.1:4000/?a=b#/settings?token=t1');
    expect(loadToken(env)).toBe('t1');
    expect(replaced).toEqual(['/?a=b#/settings']);
  });

  it('prefers a new fragment token over the saved one', () => {
    const { env, store } = fakeEnv('http://127.0.0.1:4000/#token=new', { [TOKEN_KEY]: 'old' });
    expect(loadToken(env)).toBe('new');
    expect(store.get(TOKEN_KEY)).toBe('new');
  });

  it('falls back to the saved token without touching the address bar', () => {
    const { env, replaced } = fakeEnv('http://127.0.0.1:4000/#/peers', { [TOKEN_KEY]: 'saved' });
    expect(loadToken(env)).toBe('saved');
    expect(replaced).toEqual([]);
  });

  it('returns null when no token is known', () => {
    const { env } = fakeEnv('http://127.0.0.1:4000/');
    expect(loadToken(env)).toBeNull();
  });

  it('clearToken forgets the saved token', () => {
    const { env, store } = fakeEnv('http://127.0.0.1:4000/', { [TOKEN_KEY]: 'saved' });
    clearToken(env);
    expect(store.has(TOKEN_KEY)).toBe(false);
    expect(loadToken(env)).toBeNull();
  });
});
