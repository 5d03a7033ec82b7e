import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Event } from '../../api/types';
import { ADA, DEMO_SELF, demoNode } from './demo';

const search = { text: '', kinds: [], author: null, available_only: false, sort: 'newest' as const, offset: 0, limit: 50 };

describe('the demo node', () => {
  let node: ReturnType<typeof demoNode>;
  beforeEach(() => {
    vi.useFakeTimers();
    node = demoNode(1_700_000_000_000);
  });
  afterEach(() => {
    node.stop();
    vi.useRealTimers();
  });

  it('knows peers, a catalog, downloads and a library, and keeps chat locked', async () => {
    expect((await node.call('status')).peer_id).toBe(DEMO_SELF);
    expect(await node.call('list_peers')).toHaveLength(5);
    const found = node.call('search', search);
    await vi.advanceTimersByTimeAsync(200);
    const result = await found;
    expect(result.total).toBe(5);
    // thumbnails are images the page can show under the CSP
    const withThumb = result.items.filter((r) => r.thumbnail_hash !== null);
    expect(withThumb).toHaveLength(2);
    for (const r of withThumb) expect(node.thumbnailUrl(r.content_id, r.thumbnail_hash!)).toMatch(/^data:image\//);
    expect((await node.call('list_downloads')).map((d) => d.state).sort()).toEqual(['failed', 'paused']);
    expect((await node.call('get_library')).folders).toHaveLength(2);
    expect(await node.call('chat_status')).toEqual({ unlocked: false, has_passphrase: true });
    await expect(node.call('list_rooms')).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('downloads a resource to the end, telling each step', async () => {
    const events: Event[] = [];
    node.subscribe((e) => events.push(e), () => {});
    const found = node.call('search', { ...search, text: 'plotted' });
    await vi.advanceTimersByTimeAsync(200);
    const [plot] = (await found).items;
    await node.call('start_download', { content_id: plot!.content_id, magnet: null, peers: [] });
    await vi.advanceTimersByTimeAsync(330 * 13);
    const last = events.filter((e) => e.type === 'download_progress').at(-1);
    expect(last).toMatchObject({ download: { content_id: plot!.content_id, state: 'complete', progress: 1 } });
    expect((await node.call('get_resource', { content_id: plot!.content_id })).local).toBe('complete');
  });

  it('unlocks chat, delivers my question in a room and answers it', async () => {
    const unlocking = node.call('unlock_chat', { passphrase: 'correct horse' });
    await vi.advanceTimersByTimeAsync(600);
    expect((await unlocking).unlocked).toBe(true);
    const reading = (await node.call('list_rooms')).find((r) => r.name === 'Reading group')!;
    expect(reading.unread).toBe(2);
    const sent = await node.call('send_message', { room_id: reading.room_id, body: 'Is Note G in it?' });
    expect(sent.state).toBe('sending');
    await vi.advanceTimersByTimeAsync(2600);
    const page = await node.call('room_history', { room_id: reading.room_id, before: null, limit: null });
    expect(page.messages.find((m) => m.id === sent.id)).toMatchObject({ state: 'delivered' });
    expect(page.messages.at(-1)).toMatchObject({ sender: ADA, body: 'Good question! Let me look at my notes.' });
    expect((await node.call('list_dms')).map((d) => d.unread)).toEqual([1, 0]);
  });
});
