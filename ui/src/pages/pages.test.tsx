// @vitest-environment happy-dom
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { App } from '../App';
import { SELF_ID, FakeBackend, download, holder, resource, searchResult } from '../test/fake';
import { forgetExploreMemory } from './ExplorePage';
import { allByTestId, byTestId, tick, waitFor } from '../test/dom';

let root: HTMLElement;

beforeEach(() => {
  forgetExploreMemory();
  root = document.createElement('div');
  document.body.appendChild(root);
});

afterEach(() => {
  render(null, root);
  root.remove();
  window.location.hash = '';
});

async function mount(backend: FakeBackend, hash: string) {
  window.location.hash = hash;
  render(<App backend={backend} />, root);
  await tick();
}



const $ = (testId: string, within: ParentNode = root) => byTestId(within, testId);
const $$ = (testId: string, within: ParentNode = root) => allByTestId(within, testId);

/** Types into a field, then lets Preact render (as it would before the person's next action). */
async function type(input: HTMLInputElement | HTMLTextAreaElement, value: string) {
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  await tick();
}

function click(el: HTMLElement) {
  el.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true }));
}

describe('Explore', () => {
  it('greys out results that no online holder has, and shows peer text as text', async () => {
    const b = new FakeBackend();
    const on = resource({ title: 'Available paper', holders_online: 2 });
    const off = resource({ title: '<img src=x onerror=alert(1)>', available: false, holders_online: 0, author_name: null });
    b.search.mockResolvedValue(searchResult([on, off]));
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

  it('says when the catalog is empty', async () => {
    const b = new FakeBackend();
    await mount(b, '#/explore');
    await waitFor(() => $('explore-empty'));
    expect(root.textContent).toMatch(/Nothing shared yet/);
  });

  it('says when nothing matches, and searches as you type', async () => {
    const b = new FakeBackend();
    b.search.mockResolvedValue(searchResult([]));
    await mount(b, '#/explore?q=zebra');
    await waitFor(() => $('explore-no-matches'));
    expect(b.search.mock.calls[0]![0]).toMatchObject({ text: 'zebra', offset: 0 });
    expect(root.textContent).toMatch(/Nothing in the catalog matches “zebra”/);

    const found = resource({ title: 'Zebrafish atlas' });
    b.search.mockResolvedValue(searchResult([found]));
    await type($('explore-search') as HTMLInputElement, 'zebrafish');
    await waitFor(() => expect($$('result')).toHaveLength(1));
    expect(b.search.mock.calls.at(-1)![0]).toMatchObject({ text: 'zebrafish' });
    expect(window.location.hash).toBe('#/explore?q=zebrafish');
  });

  it('filters by kind, availability and author from the address', async () => {
    const b = new FakeBackend();
    await mount(b, `#/explore?kind=dataset&available=1&author=${SELF_ID}`);
    await waitFor(() => expect(b.search).toHaveBeenCalled());
    expect(b.search.mock.calls[0]![0]).toMatchObject({ kinds: ['dataset'], available_only: true, author: SELF_ID });
    expect($('kind-dataset').getAttribute('aria-pressed')).toBe('true');
    expect(($('available-only') as HTMLInputElement).checked).toBe(true);
    await waitFor(() => expect($('author-filter').textContent).toMatch(/Shared by you/));
  });

  it('keeps results live from events without refetching what it can patch', async () => {
    const b = new FakeBackend();
    const a = resource({ title: 'A' });
    const c = resource({ title: 'C' });
    b.search.mockResolvedValue(searchResult([a, c]));
    await mount(b, '#/explore');
    await waitFor(() => expect($$('result')).toHaveLength(2));
    const calls = b.search.mock.calls.length;
    b.emit({ type: 'availability_changed', content_id: a.content_id, available: false, holders_online: 0 });
    await waitFor(() => expect($$('result')[0]!.classList.contains('is-unavailable')).toBe(true));
    b.emit({ type: 'resource_removed', content_id: c.content_id });
    await waitFor(() => expect($$('result')).toHaveLength(1));
    expect(b.search.mock.calls.length).toBe(calls);
  });

  it('pages with "More results"', async () => {
    const b = new FakeBackend();
    const first = Array.from({ length: 30 }, (_, i) => resource({ title: `R${i}` }));
    b.search.mockResolvedValueOnce(searchResult(first, { total: 31 }));
    await mount(b, '#/explore');
    await waitFor(() => expect($$('result')).toHaveLength(30));
    b.search.mockResolvedValueOnce(searchResult([resource({ title: 'R30' })], { total: 31 }));
    click($('results-more'));
    await waitFor(() => expect($$('result')).toHaveLength(31));
    expect(b.search.mock.calls[1]![0]).toMatchObject({ offset: 30 });
    expect(root.querySelector('[data-testid="results-more"]')).toBeNull();
  });
});

describe('Resource page', () => {
  it('shows details, holders, and live download progress', async () => {
    const b = new FakeBackend();
    const r = resource({ title: 'Mark I timings', description: 'Line one\n<b>Line two</b>', tags: ['csv'] });
    b.getResource.mockResolvedValue(r);
    b.listHolders.mockResolvedValue([holder(), holder({ peer_id: SELF_ID, name: 'Me', is_self: true })]);
    b.listDownloads.mockResolvedValue([download({ content_id: r.content_id, progress: 0.42, have_bytes: 1_260_000, eta_secs: 3 })]);
    await mount(b, `#/resource/${r.content_id}`);
    const bar = await waitFor(() => $('download-progress'));
    expect(bar.getAttribute('role')).toBe('progressbar');
    expect(bar.getAttribute('aria-valuenow')).toBe('42');
    expect($('download-stats').textContent).toMatch(/1\.3 MB of 3 MB.*1 MB\/s.*2 peers.*3 s left/);
    expect($('resource-title').textContent).toBe('Mark I timings');
    const desc = $('resource-description');
    expect(desc.textContent).toBe('Line one\n<b>Line two</b>');
    expect(desc.querySelector('b')).toBeNull();
    await waitFor(() => expect($$('holder')).toHaveLength(2));
    expect($$('holder')[0]!.textContent).toMatch(/Me.*you/);

    b.emit({ type: 'download_progress', download: download({ content_id: r.content_id, state: 'complete', progress: 1, have_bytes: 3_000_000 }) });
    await waitFor(() => expect($('download-progress').getAttribute('aria-valuenow')).toBe('100'));
    expect($('download-state').textContent).toBe('Complete');
    expect($('open-folder')).toBeTruthy();
  });

  it('starts a download and shows its progress', async () => {
    const b = new FakeBackend();
    const r = resource();
    b.getResource.mockResolvedValue(r);
    await mount(b, `#/resource/${r.content_id}`);
    const button = await waitFor(() => $('download-button') as HTMLButtonElement);
    expect(button.disabled).toBe(false);
    click(button);
    await waitFor(() => expect($('download-progress').getAttribute('aria-valuenow')).toBe('0'));
    expect(b.startDownload).toHaveBeenCalledWith({ content_id: r.content_id, magnet: null, peers: [] });
    b.emit({ type: 'download_progress', download: download({ content_id: r.content_id, progress: 0.5 }) });
    await waitFor(() => expect($('download-progress').getAttribute('aria-valuenow')).toBe('50'));
  });

  it('disables Download, with the reason, when no holder is online', async () => {
    const b = new FakeBackend();
    const r = resource({ available: false, holders_online: 0, holders_known: 3 });
    b.getResource.mockResolvedValue(r);
    await mount(b, `#/resource/${r.content_id}`);
    const button = await waitFor(() => $('download-button') as HTMLButtonElement);
    expect(button.disabled).toBe(true);
    expect(button.getAttribute('aria-describedby')).toBe('download-blocker');
    expect($('download-blocked').textContent).toMatch(/no holder is online/);
    expect($('resource-availability').textContent).toMatch(/Unavailable.*3 holders known/);
    // a holder comes back
    b.emit({ type: 'availability_changed', content_id: r.content_id, available: true, holders_online: 1 });
    await waitFor(() => expect(($('download-button') as HTMLButtonElement).disabled).toBe(false));
  });

  it('lets me edit and unpublish my own resource', async () => {
    const b = new FakeBackend();
    const r = resource({ author: SELF_ID, local: 'published', title: 'Mine' });
    b.getResource.mockResolvedValue(r);
    await mount(b, `#/resource/${r.content_id}`);
    await waitFor(() => $('resource-manage'));
    expect($('download-blocked').textContent).toMatch(/You publish this/);
    click($('resource-edit'));
    const title = await waitFor(() => $('edit-title') as HTMLInputElement);
    expect(title.value).toBe('Mine');
    await type(title, 'Mine, revised');
    await type($('edit-tags') as HTMLInputElement, 'a, b, a');
    $('resource-editor').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => expect($('resource-title').textContent).toBe('Mine, revised'));
    expect(b.updateResource).toHaveBeenCalledWith({
      content_id: r.content_id,
      title: 'Mine, revised',
      description: '',
      kind: 'paper',
      tags: ['a', 'b'],
    });
    click($('resource-unpublish'));
    click(await waitFor(() => $('resource-unpublish-confirm')));
    await waitFor(() => $('resource-missing'));
    expect(b.unpublish).toHaveBeenCalledWith(r.content_id);
  });

  it('says when the resource is not in the catalog', async () => {
    const b = new FakeBackend();
    const { ApiError } = await import('../backend/errors');
    b.getResource.mockRejectedValue(new ApiError('not_found', 'no such resource', 404));
    await mount(b, `#/resource/${'f'.repeat(40)}`);
    await waitFor(() => expect($('resource-missing').textContent).toMatch(/Not in the catalog/));
  });
});

describe('Downloads', () => {
  it('has an empty state', async () => {
    const b = new FakeBackend();
    await mount(b, '#/downloads');
    await waitFor(() => $('downloads-empty'));
  });

  it('lists downloads with their progress, and follows events', async () => {
    const b = new FakeBackend();
    const active = download({ title: 'Active', progress: 0.25, started_ms: 2 });
    const paused = download({ title: 'Paused', state: 'paused', progress: 0.6, started_ms: 3 });
    b.listDownloads.mockResolvedValue([paused, active]);
    await mount(b, '#/downloads');
    await waitFor(() => expect($$('download-row')).toHaveLength(2));
    const [first, second] = $$('download-row') as [HTMLElement, HTMLElement];
    expect($('download-title', first).textContent).toBe('Active');
    expect($('download-progress', first).getAttribute('aria-valuenow')).toBe('25');
    expect($('download-progress', second).getAttribute('aria-valuenow')).toBe('60');
    expect($('download-resume', second)).toBeTruthy();
    await waitFor(() => expect($('nav-downloads-count').textContent).toBe('1'));

    click($('download-pause', first));
    await waitFor(() => expect(b.pauseDownload).toHaveBeenCalledWith(active.content_id));

    b.emit({ type: 'download_progress', download: { ...active, progress: 0.8 } });
    await waitFor(() => expect($('download-progress', $$('download-row')[0]!).getAttribute('aria-valuenow')).toBe('80'));
    b.emit({ type: 'download_removed', content_id: paused.content_id });
    await waitFor(() => expect($$('download-row')).toHaveLength(1));
  });
});

describe('Library', () => {
  it('publishes a picked file with the details given', async () => {
    const b = new FakeBackend();
    await mount(b, '#/library');
    const input = await waitFor(() => $('publish-file-input') as HTMLInputElement);
    const file = new File([new Uint8Array(2048)], 'engines.pdf', { type: 'application/pdf' });
    Object.defineProperty(input, 'files', { value: [file], configurable: true });
    input.dispatchEvent(new Event('change', { bubbles: true }));
    const title = await waitFor(() => $('publish-title') as HTMLInputElement);
    expect(title.value).toBe('engines.pdf');
    await type(title, 'Difference engines');
    await type($('publish-description') as HTMLTextAreaElement, 'Notes');
    await type($('publish-tags') as HTMLInputElement, 'history, engines');
    const calls = b.getLibrary.mock.calls.length;
    $('publish-form').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => $('publish-done'));
    expect(b.upload).toHaveBeenCalledTimes(1);
    const [sent, meta] = b.upload.mock.calls[0]!;
    expect(sent).toBe(file);
    expect(meta).toEqual({ title: 'Difference engines', description: 'Notes', kind: null, tags: ['history', 'engines'] });
    await waitFor(() => expect(b.getLibrary.mock.calls.length).toBeGreaterThan(calls));
  });

  it('publishes paths dropped on the desktop window', async () => {
    const b = new FakeBackend();
    await mount(b, '#/library');
    await waitFor(() => expect(b.watchingDrops).toBe(true));
    b.dropPaths(['/home/ada/data/set.csv']);
    const title = await waitFor(() => $('publish-title') as HTMLInputElement);
    expect(title.value).toBe('set.csv');
    $('publish-form').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => expect(b.publish).toHaveBeenCalled());
    expect(b.publish.mock.calls[0]![0]).toEqual({ path: '/home/ada/data/set.csv', title: 'set.csv', description: null, kind: null, tags: [] });
  });

  it('publishes files chosen with the desktop file picker by path', async () => {
    const b = new FakeBackend();
    b.pickedPaths = ['/home/ada/films/lecture.mp4', '/home/ada/papers/notes.pdf'];
    await mount(b, '#/library');
    expect(document.querySelector('[data-testid="publish-file-input"]')).toBeNull();
    click(await waitFor(() => $('publish-pick')));
    const title = await waitFor(() => $('publish-title') as HTMLInputElement);
    expect(title.value).toBe('lecture.mp4');
    $('publish-form').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => expect(b.publish).toHaveBeenCalledTimes(1));
    expect(b.publish.mock.calls[0]![0]).toMatchObject({ path: '/home/ada/films/lecture.mp4' });
    await waitFor(() => expect(($('publish-title') as HTMLInputElement).value).toBe('notes.pdf'));
    expect(b.upload).not.toHaveBeenCalled();
  });

  it('lists my items and shared folders, and adds a folder', async () => {
    const b = new FakeBackend();
    const mine = resource({ author: SELF_ID, local: 'published', title: 'My dataset' });
    b.getLibrary.mockResolvedValue({ folders: ['/up', '/srv/papers'], uploads_folder: '/up', published: [mine] });
    await mount(b, '#/library');
    await waitFor(() => expect($$('published-item')).toHaveLength(1));
    expect($('published-title').textContent).toBe('My dataset');
    expect($$('folder')).toHaveLength(2);
    // the uploads folder cannot be removed, the others can
    expect($$('folder-remove')).toHaveLength(1);
    await type($('folder-path') as HTMLInputElement, '/srv/more');
    $('folder-path').closest('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => expect(b.addSharedFolder).toHaveBeenCalledWith('/srv/more'));
  });

  it('says when nothing is published', async () => {
    const b = new FakeBackend();
    await mount(b, '#/library');
    await waitFor(() => $('library-empty'));
  });
});
