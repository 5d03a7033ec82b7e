// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { FakeBackend, download } from '../../test/fake';
import { $, $$, click, mount, setupApp } from '../../test/app';
import { waitFor } from '../../test/dom';

setupApp();

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
