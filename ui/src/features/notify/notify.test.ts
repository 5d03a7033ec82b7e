import { describe, expect, it } from 'vitest';
import type { Event, EventKind } from '../../api/types';
import { ADA_ID, BOB_ID, download, peerInfo, resource } from '../../test/fake/builders';
import { DEFAULT_NOTIFICATIONS, NEWS_MS, NoticeMemory, ONLINE_AGAIN_MS, noticeFor, type NoticeContext } from './notify';

const NOW = 1_800_000_000_000;
let nextId = 1;
const ev = (kind: EventKind): Event => ({ id: nextId++, time_ms: NOW, ...kind }) as Event;

function ctx(extra: Partial<NoticeContext> = {}): NoticeContext {
  return {
    settings: DEFAULT_NOTIFICATIONS,
    followed: new Set([ADA_ID]),
    selfId: 'me',
    nameOf: (id) => (id === ADA_ID ? 'Ada' : id),
    nowMs: NOW,
    ...extra,
  };
}

describe('notifications', () => {
  it('announce a download that finished while the app watched it, once', () => {
    const m = new NoticeMemory();
    const d = download({ content_id: 'a'.repeat(40), title: 'Field notes' });
    // Complete at once (a restart's snapshot): not news.
    expect(noticeFor(ev({ type: 'download_progress', download: { ...d, state: 'complete' } }), ctx(), m)).toBeNull();
    expect(noticeFor(ev({ type: 'download_progress', download: d }), ctx(), m)).toBeNull();
    expect(noticeFor(ev({ type: 'download_progress', download: { ...d, state: 'complete' } }), ctx(), m)).toEqual({
      title: 'Download finished',
      body: 'Field notes',
    });
    expect(noticeFor(ev({ type: 'download_progress', download: { ...d, state: 'complete' } }), ctx(), m)).toBeNull();
  });

  it('leave out mirror copies and respect the switch', () => {
    const m = new NoticeMemory();
    const mirror = download({ content_id: 'b'.repeat(40), mirror: true });
    noticeFor(ev({ type: 'download_progress', download: mirror }), ctx(), m);
    expect(noticeFor(ev({ type: 'download_progress', download: { ...mirror, state: 'complete' } }), ctx(), m)).toBeNull();
    const d = download({ content_id: 'c'.repeat(40) });
    const off = ctx({ settings: { ...DEFAULT_NOTIFICATIONS, downloads: false } });
    noticeFor(ev({ type: 'download_progress', download: d }), off, m);
    expect(noticeFor(ev({ type: 'download_progress', download: { ...d, state: 'complete' } }), off, m)).toBeNull();
  });

  it('announce new items from followed peers only, recent ones, once', () => {
    const m = new NoticeMemory();
    const fresh = resource({ author: ADA_ID, author_name: 'Ada L.', title: 'Engine notes', created_ms: NOW - 1000 });
    expect(noticeFor(ev({ type: 'resource_added', resource: fresh }), ctx(), m)).toEqual({
      title: 'New from Ada L.',
      body: 'Engine notes',
    });
    expect(noticeFor(ev({ type: 'resource_added', resource: fresh }), ctx(), m)).toBeNull();
    const old = resource({ author: ADA_ID, created_ms: NOW - NEWS_MS - 1 });
    expect(noticeFor(ev({ type: 'resource_added', resource: old }), ctx(), m)).toBeNull();
    const stranger = resource({ author: BOB_ID, created_ms: NOW });
    expect(noticeFor(ev({ type: 'resource_added', resource: stranger }), ctx(), m)).toBeNull();
    const off = ctx({ settings: { ...DEFAULT_NOTIFICATIONS, followed_items: false } });
    const another = resource({ author: ADA_ID, created_ms: NOW });
    expect(noticeFor(ev({ type: 'resource_added', resource: another }), off, m)).toBeNull();
  });

  it('say when the mirror quota is full', () => {
    const n = noticeFor(ev({ type: 'mirror_quota_full', left_out: 3, quota_bytes: 2_000_000_000 }), ctx(), new NoticeMemory());
    expect(n?.title).toBe('Mirror quota is full');
    expect(n?.body).toBe('3 items from the peers you mirror do not fit in 2 GB. Raise the quota in Settings.');
    const off = ctx({ settings: { ...DEFAULT_NOTIFICATIONS, mirror_full: false } });
    expect(noticeFor(ev({ type: 'mirror_quota_full', left_out: 1, quota_bytes: 1 }), off, new NoticeMemory())).toBeNull();
  });

  it('announce followed peers coming online only when switched on, not on every flap', () => {
    const m = new NoticeMemory();
    const online = ev({ type: 'peer_online', peer: peerInfo(ADA_ID, 'Ada') });
    expect(noticeFor(online, ctx(), m)).toBeNull(); // off by default
    const on = { ...DEFAULT_NOTIFICATIONS, followed_online: true };
    expect(noticeFor(online, ctx({ settings: on }), m)).toEqual({ title: 'Ada is online', body: 'Someone you follow is online now.' });
    expect(noticeFor(online, ctx({ settings: on, nowMs: NOW + 1000 }), m)).toBeNull();
    expect(noticeFor(online, ctx({ settings: on, nowMs: NOW + ONLINE_AGAIN_MS + 2000 }), m)).not.toBeNull();
    const bob = ev({ type: 'peer_online', peer: peerInfo(BOB_ID, 'Bob') });
    expect(noticeFor(bob, ctx({ settings: on }), m)).toBeNull();
  });
});
