import { describe, expect, it } from 'vitest';
import { DEFAULT_ROUTE, authorHref, parseLocation, parseRoute, resourceHref } from './router';
import { formatRtt, initials, relativeTime, snippet } from './util/format';

describe('routing', () => {
  it('reads the route from the hash', () => {
    expect(parseRoute('#/peers')).toBe('peers');
    expect(parseRoute('#/settings?x=1')).toBe('settings');
    expect(parseRoute('#/nope')).toBe(DEFAULT_ROUTE);
    expect(parseRoute('')).toBe(DEFAULT_ROUTE);
    expect(parseRoute('#token=abc')).toBe(DEFAULT_ROUTE);
  });

  it('reads a resource id and query parameters', () => {
    const id = 'a'.repeat(40);
    const loc = parseLocation(`#/resource/${id}`);
    expect(loc.route).toBe('resource');
    expect(loc.param).toBe(id);
    expect(parseLocation(resourceHref('x/y z')).param).toBe('x/y z');
    const explore = parseLocation('#/explore?q=noether%20rings&kind=paper,video');
    expect(explore.route).toBe('explore');
    expect(explore.param).toBeNull();
    expect(explore.query.get('q')).toBe('noether rings');
    expect(explore.query.get('kind')).toBe('paper,video');
  });

  it('sends a resource route without an id, or a broken one, to the default', () => {
    expect(parseLocation('#/resource').route).toBe(DEFAULT_ROUTE);
    expect(parseLocation('#/resource/').route).toBe(DEFAULT_ROUTE);
    expect(parseLocation('#/resource/%E0%A4%A').route).toBe(DEFAULT_ROUTE);
  });

  it('never keeps a token among the query parameters', () => {
    expect(parseLocation('#/explore?q=a&token=secret').query.has('token')).toBe(false);
  });

  it('links to a peer\'s items', () => {
    const loc = parseLocation(authorHref('12D3KooWAda'));
    expect(loc.route).toBe('explore');
    expect(loc.query.get('author')).toBe('12D3KooWAda');
  });
});

describe('formatting', () => {
  it('formats relative times', () => {
    const now = 10_000_000_000;
    expect(relativeTime(now - 5_000, now)).toBe('just now');
    expect(relativeTime(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(relativeTime(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(relativeTime(now - 24 * 3_600_000, now)).toBe('yesterday');
    expect(relativeTime(now - 4 * 86_400_000, now)).toBe('4 days ago');
    expect(relativeTime(now + 60_000, now)).toBe('just now');
  });

  it('formats round-trip times', () => {
    expect(formatRtt(0.4)).toBe('<1 ms');
    expect(formatRtt(12.6)).toBe('13 ms');
    expect(formatRtt(1234)).toBe('1.2 s');
  });

  it('cuts snippets at a word and builds initials', () => {
    expect(snippet('short bio', 100)).toBe('short bio');
    expect(snippet('one two three four five six', 12)).toBe('one two…');
    expect(initials('Ada Lovelace')).toBe('AL');
    expect(initials('ada')).toBe('A');
    expect(initials('  ')).toBe('?');
    expect(initials('Émile du Châtelet')).toBe('ÉC');
  });
});
