// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { SELF_ID, FakeBackend, resource, searchResult } from '../../test/fake';
import { $, $$, click, mount, root, type, setupApp } from '../../test/app';
import { waitFor } from '../../test/dom';

setupApp();

const HASH = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

describe('Explore', () => {
  it('greys out results that no online holder has, and shows peer text as text', async () => {
    const b = new FakeBackend();
    const on = resource({ title: 'Available paper', holders_online: 2 });
    const off = resource({ title: '<img src=x onerror=alert(1)>', available: false, holders_online: 0, author_name: null });
    b.on.search.mockResolvedValue(searchResult([on, off]));
    await mount(b, '#/explore');
    const rows = await waitFor(() => {
      const r = $$('result');
      expect(r).toHaveLength(2);
      return r;
    });
    const [first, second] = rows as [HTMLElement, HTMLElement];
    expect(first.classList.contains('is-unavailable')).toBe(false);
    expect($('result-holders', first).textContent).toBe('2 holders online');
    expect(second.classList.contains('is-unavailable')).toBe(true);
    expect(second.dataset.available).toBe('false');
    expect($('result-unavailable', second).textContent).toMatch(/no holder online/);
    expect($('result-title', second).textContent).toBe('<img src=x onerror=alert(1)>');
    expect(second.querySelector('img[src="x"]')).toBeNull();
    // no author name yet: the short peer id
    expect($('result-author', second).textContent).toBe('12D3Ko…AdaAda');
    expect($('results-count').textContent).toBe('2 results');
    expect(first.querySelector('a')!.getAttribute('href')).toBe(`#/resource/${on.content_id}`);
  });

  it('shows thumbnails lazily from the node, and the length of videos over them', async () => {
    const b = new FakeBackend();
    const film = resource({ title: 'Lecture', kind: 'video', thumbnail_hash: HASH, duration_ms: 3_723_000 });
    const song = resource({ title: 'Song', kind: 'audio', duration_ms: 245_000 });
    const paper = resource({ title: 'Paper', thumbnail_hash: '../../api/status' });
    b.on.search.mockResolvedValue(searchResult([film, song, paper]));
    await mount(b, '#/explore');
    await waitFor(() => expect($$('result')).toHaveLength(3));
    const [first, second, third] = $$('result') as [HTMLElement, HTMLElement, HTMLElement];
    const img = $('thumb', first) as HTMLImageElement;
    expect(img.getAttribute('src')).toBe(`/thumbs/${film.content_id}/${HASH}?token=t`);
    expect(img.getAttribute('loading')).toBe('lazy');
    expect(b.thumbnailUrl).toHaveBeenCalledWith(film.content_id, HASH);
    expect($('thumb-duration', first).textContent).toBe('1:02:03');
    // no image: the kind's tile, still with the length
    expect(second.querySelector('img')).toBeNull();
    expect($('thumb-duration', second).textContent).toBe('4:05');
    // a hash that is not one is not put in an address
    expect(third.querySelector('img')).toBeNull();
    expect(third.querySelector('[data-testid="thumb-duration"]')).toBeNull();
  });

  it('says when the catalog is empty', async () => {
    const b = new FakeBackend();
    await mount(b, '#/explore');
    await waitFor(() => $('explore-empty'));
    expect(root.textContent).toMatch(/Nothing shared yet/);
  });

  it('says when nothing matches, and searches as you type', async () => {
    const b = new FakeBackend();
    b.on.search.mockResolvedValue(searchResult([]));
    await mount(b, '#/explore?q=zebra');
    await waitFor(() => $('explore-no-matches'));
    expect(b.on.search.mock.calls[0]![0]).toMatchObject({ text: 'zebra', offset: 0 });
    expect(root.textContent).toMatch(/Nothing in the catalog matches “zebra”/);

    const found = resource({ title: 'Zebrafish atlas' });
    b.on.search.mockResolvedValue(searchResult([found]));
    await type($('explore-search') as HTMLInputElement, 'zebrafish');
    await waitFor(() => expect($$('result')).toHaveLength(1));
    expect(b.on.search.mock.calls.at(-1)![0]).toMatchObject({ text: 'zebrafish' });
    expect(window.location.hash).toBe('#/explore?q=zebrafish');
  });

  it('filters by kind, availability and author from the address', async () => {
    const b = new FakeBackend();
    await mount(b, `#/explore?kind=dataset&available=1&author=${SELF_ID}`);
    await waitFor(() => expect(b.on.search).toHaveBeenCalled());
    expect(b.on.search.mock.calls[0]![0]).toMatchObject({ kinds: ['dataset'], available_only: true, author: SELF_ID });
    expect($('kind-dataset').getAttribute('aria-pressed')).toBe('true');
    expect(($('available-only') as HTMLInputElement).checked).toBe(true);
    await waitFor(() => expect($('author-filter').textContent).toMatch(/Shared by you/));
  });

  it('keeps results live from events without refetching what it can patch', async () => {
    const b = new FakeBackend();
    const a = resource({ title: 'A' });
    const c = resource({ title: 'C' });
    b.on.search.mockResolvedValue(searchResult([a, c]));
    await mount(b, '#/explore');
    await waitFor(() => expect($$('result')).toHaveLength(2));
    const calls = b.on.search.mock.calls.length;
    b.emit({ type: 'availability_changed', content_id: a.content_id, available: false, holders_online: 0 });
    await waitFor(() => expect($$('result')[0]!.classList.contains('is-unavailable')).toBe(true));
    b.emit({ type: 'resource_removed', content_id: c.content_id });
    await waitFor(() => expect($$('result')).toHaveLength(1));
    expect(b.on.search.mock.calls.length).toBe(calls);
  });

  it('pages with "More results"', async () => {
    const b = new FakeBackend();
    const first = Array.from({ length: 30 }, (_, i) => resource({ title: `R${i}` }));
    b.on.search.mockResolvedValueOnce(searchResult(first, { total: 31 }));
    await mount(b, '#/explore');
    await waitFor(() => expect($$('result')).toHaveLength(30));
    b.on.search.mockResolvedValueOnce(searchResult([resource({ title: 'R30' })], { total: 31 }));
    click($('results-more'));
    await waitFor(() => expect($$('result')).toHaveLength(31));
    expect(b.on.search.mock.calls[1]![0]).toMatchObject({ offset: 30 });
    expect(root.querySelector('[data-testid="results-more"]')).toBeNull();
  });
});
