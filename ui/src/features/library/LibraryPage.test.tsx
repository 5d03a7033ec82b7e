// @vitest-environment happy-dom
import { describe, expect, it, vi } from 'vitest';
import { SELF_ID, FakeBackend, resource, status } from '../../test/fake';
import { $, $$, click, mount, type, setupApp } from '../../test/app';
import { tick, waitFor } from '../../test/dom';

setupApp();

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
