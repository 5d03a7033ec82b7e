// @vitest-environment happy-dom
import { describe, expect, it, vi } from 'vitest';
import { BOB_ID, CAROL_ID, SELF_ID, FakeBackend, download, holder, resource } from '../../test/fake';
import { $, $$, click, mount, root, type, setupApp } from '../../test/app';
import { waitFor } from '../../test/dom';

setupApp();

const HASH = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

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
    const { ApiError } = await import('../../backend/errors');
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
    const { ApiError } = await import('../../backend/errors');
    b.on.get_resource.mockRejectedValue(new ApiError('not_found', 'no such resource', 404));
    await mount(b, `#/resource/${'f'.repeat(40)}`);
    await waitFor(() => expect($('resource-missing').textContent).toMatch(/Not in the catalog/));
  });
});
