// @vitest-environment happy-dom
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import {
  ADA_ID,
  BOB_ID,
  CAROL_ID,
  SELF_ID,
  FakeBackend,
  download,
  follow,
  holder,
  peerInfo,
  resource,
  searchResult,
  settings,
  status,
} from '../test/fake';
import { forgetExploreMemory } from './catalog/ExplorePage';
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
  vi.restoreAllMocks();
});

const HASH = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

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

describe('Resource page', () => {
  it('shows details, holders, and live download progress', async () => {
    const b = new FakeBackend();
    const r = resource({ title: 'Mark I timings', description: 'Line one\n<b>Line two</b>', tags: ['csv'] });
    b.on.get_resource.mockResolvedValue(r);
    b.on.list_holders.mockResolvedValue([holder(), holder({ peer_id: SELF_ID, name: 'Me', is_self: true })]);
    b.on.list_downloads.mockResolvedValue([download({ content_id: r.content_id, progress: 0.42, have_bytes: 1_260_000, eta_secs: 3 })]);
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
    b.on.get_resource.mockResolvedValue(r);
    await mount(b, `#/resource/${r.content_id}`);
    const button = await waitFor(() => $('download-button') as HTMLButtonElement);
    expect(button.disabled).toBe(false);
    click(button);
    await waitFor(() => expect($('download-progress').getAttribute('aria-valuenow')).toBe('0'));
    expect(b.on.start_download).toHaveBeenCalledWith({ content_id: r.content_id, magnet: null, peers: [] });
    b.emit({ type: 'download_progress', download: download({ content_id: r.content_id, progress: 0.5 }) });
    await waitFor(() => expect($('download-progress').getAttribute('aria-valuenow')).toBe('50'));
  });

  it('disables Download, with the reason, when no holder is online', async () => {
    const b = new FakeBackend();
    const r = resource({ available: false, holders_online: 0, holders_known: 3 });
    b.on.get_resource.mockResolvedValue(r);
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
    b.on.get_resource.mockResolvedValue(r);
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
    expect(b.on.update_resource).toHaveBeenCalledWith({
      content_id: r.content_id,
      title: 'Mine, revised',
      description: '',
      kind: 'paper',
      tags: ['a', 'b'],
    });
    click($('resource-unpublish'));
    click(await waitFor(() => $('resource-unpublish-confirm')));
    await waitFor(() => $('resource-missing'));
    expect(b.on.unpublish).toHaveBeenCalledWith({ content_id: r.content_id });
  });

  it('counts the holders online and marks mirrors', async () => {
    const b = new FakeBackend();
    const r = resource({ holders_known: 3, holders_online: 2 });
    b.on.get_resource.mockResolvedValue(r);
    b.on.list_holders.mockResolvedValue([
      holder(),
      holder({ peer_id: BOB_ID, name: 'Bob', mirror: true }),
      holder({ peer_id: CAROL_ID, name: '<i>Carol</i>', online: false, mirror: true }),
    ]);
    await mount(b, `#/resource/${r.content_id}`);
    await waitFor(() => expect($$('holder')).toHaveLength(3));
    expect($('holders-online').textContent).toBe('2 of 3 online');
    const mirrors = $$('holder').filter((h) => h.querySelector('[data-testid="holder-mirror"]'));
    expect(mirrors.map((h) => h.dataset.peerId)).toEqual([BOB_ID, CAROL_ID]);
    expect($('holder-mirror', mirrors[0]!).textContent).toBe('mirror');
    expect(root.querySelector('i')).toBeNull();
    expect(mirrors[1]!.textContent).toMatch(/<i>Carol<\/i>/);
    // papers have no player
    expect(root.querySelector('[data-testid="play"]')).toBeNull();
  });

  it('plays a video from the node when play is pressed, and follows the download it starts', async () => {
    const b = new FakeBackend();
    const r = resource({ kind: 'video', title: 'Lecture 1', thumbnail_hash: HASH, duration_ms: 61_000, mime: 'video/mp4', files: [{ path: 'lecture.mp4', size: 3_000_000 }] });
    b.on.get_resource.mockResolvedValue(r);
    const play = vi.spyOn(window.HTMLMediaElement.prototype, 'play');
    await mount(b, `#/resource/${r.content_id}`);
    const video = (await waitFor(() => $('player'))) as HTMLVideoElement;
    expect(video.tagName).toBe('VIDEO');
    expect(video.hasAttribute('controls')).toBe(true);
    expect(video.getAttribute('preload')).toBe('auto');
    expect(video.getAttribute('poster')).toBe(`/thumbs/${r.content_id}/${HASH}?token=t`);
    // nothing is asked of the node before play is pressed
    expect(video.getAttribute('src')).toBeNull();
    expect(b.mediaUrl).not.toHaveBeenCalled();
    expect($('play').textContent).toMatch('1:01');
    const listed = b.on.list_downloads.mock.calls.length;
    // the node starts a download by itself when the video is played
    b.on.list_downloads.mockResolvedValue([download({ content_id: r.content_id, progress: 0.1 })]);
    click($('play'));
    await waitFor(() => expect(root.querySelector('[data-testid="play"]')).toBeNull());
    expect(b.mediaUrl).toHaveBeenCalledWith(r.content_id, undefined);
    expect($('player')).toBe(video);
    expect(video.getAttribute('src')).toBe(`/media/${r.content_id}?token=t`);
    expect(play).toHaveBeenCalledTimes(1);
    // once it plays, the download's progress shows
    await waitFor(() => expect(b.on.list_downloads.mock.calls.length).toBeGreaterThan(listed));
    await waitFor(() => expect($('download-progress').getAttribute('aria-valuenow')).toBe('10'));

    // a stall shows a quiet note until it plays again
    video.dispatchEvent(new Event('waiting'));
    await waitFor(() => expect($('player-buffering').textContent).toMatch('Buffering…'));
    video.dispatchEvent(new Event('playing'));
    await waitFor(() => expect(root.querySelector('[data-testid="player-buffering"]')).toBeNull());
  });

  it('offers the system player when the video cannot be played here', async () => {
    const b = new FakeBackend();
    const r = resource({ kind: 'video', title: 'Old codec', local: 'complete' });
    b.on.get_resource.mockResolvedValue(r);
    b.on.open_file.mockResolvedValue('/home/me/Downloads/old.avi');
    await mount(b, `#/resource/${r.content_id}`);
    click(await waitFor(() => $('play')));
    const video = await waitFor(() => {
      const v = $('player') as HTMLVideoElement;
      expect(v.getAttribute('src')).not.toBeNull();
      return v;
    });
    Object.defineProperty(video, 'error', { value: { code: 4, message: 'MEDIA_ERR_SRC_NOT_SUPPORTED' }, configurable: true });
    video.dispatchEvent(new Event('error'));
    const error = await waitFor(() => $('player-error'));
    expect(error.textContent).toMatch("This video can't be played in Hearth's player (its format or codec isn't supported here).");
    expect(root.querySelector('video')).toBeNull();
    // the element let go of the file
    expect(video.getAttribute('src')).toBeNull();
    click($('open-system-player'));
    await waitFor(() => expect($('player-opened').textContent).toMatch('Opened/home/me/Downloads/old.avi'));
    expect(b.on.open_file).toHaveBeenCalledWith({ content_id: r.content_id });
    // in a browser the file is on the node's computer
    expect($('player-opened').textContent).toMatch(/on the node's computer/);
  });

  it('says when the system player cannot be opened either', async () => {
    const b = new FakeBackend();
    const r = resource({ kind: 'video' });
    b.on.get_resource.mockResolvedValue(r);
    const { ApiError } = await import('../backend/errors');
    b.on.open_file.mockRejectedValue(new ApiError('conflict', 'not downloaded yet', 409));
    await mount(b, `#/resource/${r.content_id}`);
    click(await waitFor(() => $('play')));
    const video = $('player');
    // The address is asked of the backend first; an error can only follow it.
    await waitFor(() => expect(video.getAttribute('src')).toBeTruthy());
    Object.defineProperty(video, 'error', { value: { code: 3 }, configurable: true });
    video.dispatchEvent(new Event('error'));
    click(await waitFor(() => $('open-system-player')));
    await waitFor(() => expect($('player-open-error').textContent).toMatch('not downloaded yet'));
  });

  it('plays audio in an audio element', async () => {
    const b = new FakeBackend();
    const r = resource({ kind: 'audio', files: [{ path: 'cover.jpg', size: 1 }, { path: 'talk.ogg', size: 2 }] });
    b.on.get_resource.mockResolvedValue(r);
    await mount(b, `#/resource/${r.content_id}`);
    const audio = (await waitFor(() => $('player'))) as HTMLAudioElement;
    expect(audio.tagName).toBe('AUDIO');
    expect(audio.hidden).toBe(true);
    click($('play'));
    await waitFor(() => expect(audio.getAttribute('src')).toBe(`/media/${r.content_id}/1?token=t`));
    expect(audio.hidden).toBe(false);
  });

  it('says when the resource is not in the catalog', async () => {
    const b = new FakeBackend();
    const { ApiError } = await import('../backend/errors');
    b.on.get_resource.mockRejectedValue(new ApiError('not_found', 'no such resource', 404));
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
    b.on.list_downloads.mockResolvedValue([paused, active]);
    await mount(b, '#/downloads');
    await waitFor(() => expect($$('download-row')).toHaveLength(2));
    const [first, second] = $$('download-row') as [HTMLElement, HTMLElement];
    expect($('download-title', first).textContent).toBe('Active');
    expect($('download-progress', first).getAttribute('aria-valuenow')).toBe('25');
    expect($('download-progress', second).getAttribute('aria-valuenow')).toBe('60');
    expect($('download-resume', second)).toBeTruthy();
    await waitFor(() => expect($('nav-downloads-count').textContent).toBe('1'));

    click($('download-pause', first));
    await waitFor(() => expect(b.on.pause_download).toHaveBeenCalledWith({ content_id: active.content_id }));
    // the node answers, and tells that it paused
    await b.on.pause_download.mock.results[0]!.value;
    await waitFor(() => expect($('download-resume', $$('download-row')[1]!)).toBeTruthy());

    b.emit({ type: 'download_progress', download: { ...active, progress: 0.8 } });
    await waitFor(() => expect($('download-progress', $$('download-row')[0]!).getAttribute('aria-valuenow')).toBe('80'));
    b.emit({ type: 'download_removed', content_id: paused.content_id });
    await waitFor(() => expect($$('download-row')).toHaveLength(1));
  });

  it('marks what is fetched as a mirror', async () => {
    const b = new FakeBackend();
    const mine = download({ title: 'Chosen', started_ms: 2 });
    const mirrored = download({ title: 'Mirrored', mirror: true, started_ms: 1 });
    b.on.list_downloads.mockResolvedValue([mine, mirrored]);
    await mount(b, '#/downloads');
    await waitFor(() => expect($$('download-row')).toHaveLength(2));
    const [first, second] = $$('download-row') as [HTMLElement, HTMLElement];
    expect(first.querySelector('[data-testid="download-mirror"]')).toBeNull();
    expect($('download-mirror', second).textContent).toBe('mirror');
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
    const calls = b.on.get_library.mock.calls.length;
    $('publish-form').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => $('publish-done'));
    expect(b.upload).toHaveBeenCalledTimes(1);
    const [sent, meta] = b.upload.mock.calls[0]!;
    expect(sent).toBe(file);
    expect(meta).toEqual({ title: 'Difference engines', description: 'Notes', kind: null, tags: ['history', 'engines'] });
    await waitFor(() => expect(b.on.get_library.mock.calls.length).toBeGreaterThan(calls));
  });

  it('publishes paths dropped on the desktop window', async () => {
    const b = new FakeBackend();
    await mount(b, '#/library');
    await waitFor(() => expect(b.watchingDrops).toBe(true));
    b.dropPaths(['/home/ada/data/set.csv']);
    const title = await waitFor(() => $('publish-title') as HTMLInputElement);
    expect(title.value).toBe('set.csv');
    $('publish-form').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => expect(b.on.publish).toHaveBeenCalled());
    expect(b.on.publish.mock.calls[0]![0]).toEqual({ path: '/home/ada/data/set.csv', title: 'set.csv', description: null, kind: null, tags: [] });
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
    await waitFor(() => expect(b.on.publish).toHaveBeenCalledTimes(1));
    expect(b.on.publish.mock.calls[0]![0]).toMatchObject({ path: '/home/ada/films/lecture.mp4' });
    await waitFor(() => expect(($('publish-title') as HTMLInputElement).value).toBe('notes.pdf'));
    expect(b.upload).not.toHaveBeenCalled();
  });

  it('lists my items and shared folders, and adds a folder', async () => {
    const b = new FakeBackend();
    const mine = resource({ author: SELF_ID, local: 'published', title: 'My dataset' });
    b.on.get_library.mockResolvedValue({ folders: ['/up', '/srv/papers'], uploads_folder: '/up', published: [mine] });
    await mount(b, '#/library');
    await waitFor(() => expect($$('published-item')).toHaveLength(1));
    expect($('published-title').textContent).toBe('My dataset');
    expect($$('folder')).toHaveLength(2);
    // the uploads folder cannot be removed, the others can
    expect($$('folder-remove')).toHaveLength(1);
    await type($('folder-path') as HTMLInputElement, '/srv/more');
    $('folder-path').closest('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => expect(b.on.add_shared_folder).toHaveBeenCalledWith({ path: '/srv/more' }));
  });

  it('says how many copies of each item exist', async () => {
    const b = new FakeBackend();
    const one = resource({ author: SELF_ID, local: 'published', title: 'Alone', holders_known: 1, created_ms: 2 });
    const many = resource({ author: SELF_ID, local: 'published', title: 'Mirrored', holders_known: 4, created_ms: 1 });
    b.on.get_library.mockResolvedValue({ folders: ['/up'], uploads_folder: '/up', published: [one, many] });
    await mount(b, '#/library');
    await waitFor(() => expect($$('published-item')).toHaveLength(2));
    expect($$('published-copies').map((e) => e.textContent)).toEqual(['1 copy', '4 copies']);
  });

  it('makes a preview of a published video in the page when the node cannot', async () => {
    const b = new FakeBackend();
    b.on.status.mockResolvedValue(status({ video_previews: false }));
    const film = resource({ kind: 'video', author: SELF_ID, local: 'published', title: 'film.webm', thumbnail_hash: null });
    b.upload.mockResolvedValue(film);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    await mount(b, '#/library');
    await waitFor(() => expect(b.on.status).toHaveBeenCalled());
    await tick(20);
    const input = await waitFor(() => $('publish-file-input') as HTMLInputElement);
    Object.defineProperty(input, 'files', { value: [new File([new Uint8Array(64)], 'film.webm', { type: 'video/webm' })], configurable: true });
    input.dispatchEvent(new Event('change', { bubbles: true }));
    await waitFor(() => $('publish-form'));
    $('publish-form').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    // publishing is done at once; the preview is taken on the side
    await waitFor(() => $('publish-done'));
    const hidden = await waitFor(() => {
      const v = document.body.querySelector('video[aria-hidden="true"]') as HTMLVideoElement | null;
      expect(v).not.toBeNull();
      return v!;
    });
    expect(b.mediaUrl).toHaveBeenCalledWith(film.content_id, undefined);
    expect(hidden.getAttribute('src')).toBe(`/media/${film.content_id}?token=t`);
    expect(hidden.muted).toBe(true);
    // a video the page cannot read: logged, nothing else
    hidden.dispatchEvent(new Event('error'));
    await waitFor(() => expect(warn).toHaveBeenCalled());
    expect(String(warn.mock.calls[0]![0])).toMatch(/No preview image for “film.webm”/);
    expect(b.on.set_preview).not.toHaveBeenCalled();
    expect(document.body.querySelector('video[aria-hidden="true"]')).toBeNull();
  });

  it('leaves previews to the node when it can make them', async () => {
    const b = new FakeBackend();
    b.upload.mockResolvedValue(resource({ kind: 'video', author: SELF_ID, local: 'published', thumbnail_hash: null }));
    await mount(b, '#/library');
    const input = await waitFor(() => $('publish-file-input') as HTMLInputElement);
    Object.defineProperty(input, 'files', { value: [new File([new Uint8Array(8)], 'film.mp4')], configurable: true });
    input.dispatchEvent(new Event('change', { bubbles: true }));
    await waitFor(() => $('publish-form'));
    $('publish-form').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => $('publish-done'));
    await tick(20);
    expect(b.mediaUrl).not.toHaveBeenCalled();
    expect(document.body.querySelector('video')).toBeNull();
  });

  it('says when nothing is published', async () => {
    const b = new FakeBackend();
    await mount(b, '#/library');
    await waitFor(() => $('library-empty'));
  });
});

describe('Peers: following and mirrors', () => {
  it('follows a peer, then mirrors it', async () => {
    const b = new FakeBackend();
    b.on.list_peers.mockResolvedValue([peerInfo(ADA_ID, 'Ada'), peerInfo(BOB_ID, 'Bob')]);
    await mount(b, '#/peers');
    await waitFor(() => expect($$('peer-row')).toHaveLength(2));
    const ada = () => $$('peer-row').find((r) => r.dataset.peerId === ADA_ID)!;
    const button = await waitFor(() => {
      const el = $('peer-follow', ada()) as HTMLButtonElement;
      expect(el.disabled).toBe(false);
      return el;
    });
    expect(button.textContent).toBe('Follow');
    expect(button.getAttribute('aria-pressed')).toBe('false');
    expect(ada().querySelector('[data-testid="peer-mirror"]')).toBeNull();
    expect(root.querySelector('[data-testid="following-card"]')).toBeNull();

    click(button);
    await waitFor(() => expect($('peer-follow', ada()).textContent).toBe('Following'));
    expect(b.on.follow).toHaveBeenCalledWith({ peer_id: ADA_ID });
    expect($('peer-follow', ada()).getAttribute('aria-pressed')).toBe('true');
    expect(ada().textContent).toMatch('Keep copies of everything they publish, within your mirror quota');
    const mirror = $('peer-mirror', ada()) as HTMLInputElement;
    expect(mirror.type).toBe('checkbox');
    expect(mirror.checked).toBe(false);
    expect($$('follow-row').map((r) => r.dataset.peerId)).toEqual([ADA_ID]);

    mirror.click();
    await waitFor(() => expect(b.on.set_mirror).toHaveBeenCalledWith({ peer_id: ADA_ID, on: true }));
    await waitFor(() => expect(($('peer-mirror', ada()) as HTMLInputElement).checked).toBe(true));
    expect($('peer-mirrored', ada()).textContent).toBe('nothing mirrored yet');

    // the node reports what it mirrors
    b.emit({ type: 'follows_changed', follows: [follow({ peer_id: ADA_ID, mirror: true, mirrored_items: 3, mirrored_bytes: 1_500_000_000 })] });
    await waitFor(() => expect($('peer-mirrored', ada()).textContent).toBe('3 items · 1.5 GB mirrored'));
    expect($('follow-mirrored').textContent).toBe('3 items · 1.5 GB mirrored');
    // Bob stays unfollowed
    const bob = $$('peer-row').find((r) => r.dataset.peerId === BOB_ID)!;
    expect($('peer-follow', bob).textContent).toBe('Follow');
  });

  it('lists followed peers even when they are not around, and unfollows', async () => {
    const b = new FakeBackend();
    b.follows = [
      follow({ peer_id: CAROL_ID, name: '<b>Carol</b>', online: false, mirror: true, mirrored_items: 1, mirrored_bytes: 2_000_000 }),
    ];
    await mount(b, '#/peers');
    const row = await waitFor(() => $('follow-row'));
    expect(row.dataset.peerId).toBe(CAROL_ID);
    expect(row.textContent).toMatch('<b>Carol</b>');
    expect(row.querySelector('b')).toBeNull();
    expect(row.textContent).toMatch('offline');
    expect(($('follow-mirror', row) as HTMLInputElement).checked).toBe(true);
    expect($('follow-mirrored', row).textContent).toBe('1 item · 2 MB mirrored');
    expect($('follow-toggle', row).getAttribute('title')).toMatch(/deletes the 1 mirrored copy/);
    click($('follow-toggle', row));
    await waitFor(() => expect(root.querySelector('[data-testid="following-card"]')).toBeNull());
    expect(b.on.unfollow).toHaveBeenCalledWith({ peer_id: CAROL_ID });
  });

  it('keeps follows from the event stream, not from the peer list', async () => {
    const b = new FakeBackend();
    b.on.list_peers.mockResolvedValue([peerInfo(ADA_ID, 'Ada')]);
    await mount(b, '#/peers');
    await waitFor(() => expect(($('peer-follow') as HTMLButtonElement).disabled).toBe(false));
    b.emit({ type: 'follows_changed', follows: [follow({ peer_id: ADA_ID })] });
    await waitFor(() => expect($('peer-follow').textContent).toBe('Following'));
    b.emit({ type: 'follows_changed', follows: [] });
    await waitFor(() => expect($('peer-follow').textContent).toBe('Follow'));
    expect(b.on.follow).not.toHaveBeenCalled();
  });
});

describe('Settings: mirror quota', () => {
  it('shows the space mirrors use and saves a new quota in GB', async () => {
    const b = new FakeBackend();
    b.settingsNow = settings({ mirror_quota_bytes: 20_000_000_000, mirror_used_bytes: 1_500_000_000 });
    await mount(b, '#/settings');
    const input = await waitFor(() => {
      const el = $('mirror-quota') as HTMLInputElement;
      expect(el.value).toBe('20');
      return el;
    });
    expect($('mirror-used').textContent).toBe('used 1.5 GB of 20 GB');
    expect(($('mirror-quota-save') as HTMLButtonElement).disabled).toBe(true);
    await type(input, '2.5');
    expect(($('mirror-quota-save') as HTMLButtonElement).disabled).toBe(false);
    $('mirror-card').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => $('mirror-quota-saved'));
    expect(b.on.set_mirror_quota).toHaveBeenCalledWith({ bytes: 2_500_000_000 });
    expect($('mirror-used').textContent).toBe('used 1.5 GB of 2.5 GB');
    expect(($('mirror-quota') as HTMLInputElement).value).toBe('2.5');
  });

  it('refuses a quota that is not a number of GB', async () => {
    const b = new FakeBackend();
    await mount(b, '#/settings');
    const input = await waitFor(() => {
      const el = $('mirror-quota') as HTMLInputElement;
      expect(el.disabled).toBe(false);
      return el;
    });
    await type(input, '-3');
    $('mirror-card').dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => expect($('mirror-quota-error').textContent).toMatch(/in gigabytes/));
    expect(b.on.set_mirror_quota).not.toHaveBeenCalled();
  });

  it('asks again how much space mirrors use when mirrors change', async () => {
    const b = new FakeBackend();
    await mount(b, '#/settings');
    await waitFor(() => $('mirror-used'));
    b.settingsNow = settings({ mirror_used_bytes: 3_000_000_000 });
    b.emit({ type: 'follows_changed', follows: [] });
    await waitFor(() => expect($('mirror-used').textContent).toBe('used 3 GB of 20 GB'), 3000);
  });
});
