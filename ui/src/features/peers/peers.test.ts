import { describe, expect, it } from 'vitest';
import type { Event, EventKind, PeerInfo, Profile, Status } from '../../api/types';
import {
  applyEvent,
  comparePeers,
  initialState,
  onlineCount,
  peerName,
  reducer,
  shortId,
  sortedPeers,
  type NodeState,
} from './peers';

const SELF = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelfSelf';

function profile(name: string, extra: Partial<Profile> = {}): Profile {
  return { display_name: name, affiliation: '', bio: '', ...extra };
}

function peer(id: string, extra: Partial<PeerInfo> = {}): PeerInfo {
  return {
    peer_id: id,
    profile: null,
    addrs: [],
    rtt_ms: null,
    online: true,
    connected: true,
    last_seen_ms: 1000,
    blocked: false,
    connection: null,
    relay: null,
    last_dial_error: null,
    hole_punch_error: null,
    ...extra,
  };
}

function status(extra: Partial<Status> = {}): Status {
  return {
    peer_id: SELF,
    version: '0.1.0',
    profile: profile('Me'),
    listen_addrs: [],
    peers_online: 0,
    peers_connected: 0,
    uptime_secs: 1,
    nat: 'unknown',
    relay_reservations: [],
    relay_service: { enabled: true, active: false, reservations: 0, circuits: 0, refused_reservations: 0, refused_circuits: 0 },
    bt_port: 0,
    bt_streams: 0,
    bt_streams_total: 0,
    video_previews: true,
    refused: { connections: 0, gossip_throttled: 0, gossip_unvalidated: 0, presence_ignored: 0, presence_dials_skipped: 0 },
    ...extra,
  };
}

let nextId = 1;
function ev(kind: EventKind, time_ms = 5000): Event {
  return { id: nextId++, time_ms, ...kind } as Event;
}

function withSelf(): NodeState {
  return reducer(initialState, { type: 'status', status: status(), at: 0 });
}

describe('peers reducer', () => {
  it('peer_online inserts a new peer', () => {
    const s = applyEvent(withSelf(), ev({ type: 'peer_online', peer: peer('A', { profile: profile('Ada') }) }));
    expect(Object.keys(s.peers)).toEqual(['A']);
    expect(s.peers.A!.profile?.display_name).toBe('Ada');
  });

  it('peer_updated replaces the existing entry and does not mutate the old state', () => {
    const s1 = applyEvent(withSelf(), ev({ type: 'peer_online', peer: peer('A', { rtt_ms: 10 }) }));
    const s2 = applyEvent(s1, ev({ type: 'peer_updated', peer: peer('A', { rtt_ms: 42, connected: false }) }));
    expect(s2.peers.A!.rtt_ms).toBe(42);
    expect(s2.peers.A!.connected).toBe(false);
    expect(s1.peers.A!.rtt_ms).toBe(10);
    expect(s1).not.toBe(s2);
  });

  it('peer_updated for an unknown peer upserts it', () => {
    const s = applyEvent(withSelf(), ev({ type: 'peer_updated', peer: peer('B') }));
    expect(s.peers.B).toBeDefined();
  });

  it('peer_offline marks the peer offline and keeps its profile', () => {
    const s1 = applyEvent(withSelf(), ev({ type: 'peer_online', peer: peer('A', { profile: profile('Ada'), rtt_ms: 5 }) }));
    const s2 = applyEvent(s1, ev({ type: 'peer_offline', peer_id: 'A' }));
    expect(s2.peers.A!.online).toBe(false);
    expect(s2.peers.A!.connected).toBe(false);
    expect(s2.peers.A!.rtt_ms).toBeNull();
    expect(s2.peers.A!.profile?.display_name).toBe('Ada');
    expect(s2.peers.A!.last_seen_ms).toBe(1000);
  });

  it('peer_offline uses the event time when the peer was never seen', () => {
    const s1 = applyEvent(withSelf(), ev({ type: 'peer_online', peer: peer('A', { last_seen_ms: null }) }));
    const s2 = applyEvent(s1, ev({ type: 'peer_offline', peer_id: 'A' }, 7777));
    expect(s2.peers.A!.last_seen_ms).toBe(7777);
  });

  it('peer_offline for an unknown peer changes nothing', () => {
    const s1 = withSelf();
    expect(applyEvent(s1, ev({ type: 'peer_offline', peer_id: 'nobody' }))).toBe(s1);
  });

  it('profile_changed updates a peer profile', () => {
    const s1 = applyEvent(withSelf(), ev({ type: 'peer_online', peer: peer('A') }));
    const s2 = applyEvent(s1, ev({ type: 'profile_changed', peer_id: 'A', profile: profile('Ada', { bio: 'hi' }) }));
    expect(s2.peers.A!.profile).toEqual(profile('Ada', { bio: 'hi' }));
    expect(s2.peers.A!.online).toBe(true);
  });

  it('profile_changed with our own id updates our profile, not the peer list', () => {
    const s = applyEvent(withSelf(), ev({ type: 'profile_changed', peer_id: SELF, profile: profile('New me') }));
    expect(s.self!.profile.display_name).toBe('New me');
    expect(s.peers[SELF]).toBeUndefined();
  });

  it('profile_changed for an unknown peer is ignored', () => {
    const s1 = withSelf();
    expect(applyEvent(s1, ev({ type: 'profile_changed', peer_id: 'X', profile: profile('X') }))).toBe(s1);
  });

  it('never lists this node among its peers', () => {
    const s = applyEvent(withSelf(), ev({ type: 'peer_online', peer: peer(SELF) }));
    expect(s.peers[SELF]).toBeUndefined();
    const s2 = reducer(withSelf(), { type: 'snapshot', peers: [peer(SELF), peer('A')] });
    expect(Object.keys(s2.peers)).toEqual(['A']);
  });

  it('leaves catalog events to the catalog stores', () => {
    const s1 = applyEvent(withSelf(), ev({ type: 'peer_online', peer: peer('A') }));
    expect(applyEvent(s1, ev({ type: 'catalog_changed' }))).toBe(s1);
    expect(applyEvent(s1, ev({ type: 'resource_removed', content_id: 'x' }))).toBe(s1);
  });

  it('resync leaves the state alone', () => {
    const s1 = withSelf();
    expect(applyEvent(s1, ev({ type: 'resync' }))).toBe(s1);
  });

  it('snapshot replaces the whole list', () => {
    const s1 = applyEvent(withSelf(), ev({ type: 'peer_online', peer: peer('A') }));
    const s2 = reducer(s1, { type: 'snapshot', peers: [peer('B'), peer('C')] });
    expect(Object.keys(s2.peers).sort()).toEqual(['B', 'C']);
  });

  it('replaying the same events in order ends in the same state', () => {
    const events = [
      ev({ type: 'peer_online', peer: peer('A') }),
      ev({ type: 'profile_changed', peer_id: 'A', profile: profile('Ada') }),
      ev({ type: 'peer_offline', peer_id: 'A' }),
    ];
    const once = events.reduce(applyEvent, withSelf());
    const twice = events.reduce(applyEvent, once);
    expect(twice.peers).toEqual(once.peers);
  });
});

describe('peer display helpers', () => {
  it('names a peer by display name, or short id before a profile arrives', () => {
    const id = '12D3KooWAbCdEfGhIjKlMnOpQrStUvWxYz0123456789';
    expect(peerName(peer(id, { profile: profile('Ada') }))).toBe('Ada');
    expect(peerName(peer(id))).toBe(shortId(id));
    expect(peerName(peer(id, { profile: profile('   ') }))).toBe(shortId(id));
    expect(shortId(id)).toBe('12D3Ko…456789');
    expect(shortId('short')).toBe('short');
  });

  it('sorts online first, then direct connections, named peers, then by name', () => {
    let s = withSelf();
    s = reducer(s, {
      type: 'snapshot',
      peers: [
        peer('1', { online: false, connected: false, profile: profile('Aaron') }),
        peer('2', { online: true, connected: false, profile: profile('Bea') }),
        peer('3', { online: true, connected: true, profile: profile('zed') }),
        peer('4', { online: true, connected: true, profile: profile('Carl') }),
        peer('0', { online: true, connected: true, profile: null }),
      ],
    });
    expect(sortedPeers(s).map((p) => p.peer_id)).toEqual(['4', '3', '0', '2', '1']);
    expect(comparePeers(s.peers['1']!, s.peers['1']!)).toBe(0);
  });

  it('counts online, unblocked peers', () => {
    const s = reducer(withSelf(), {
      type: 'snapshot',
      peers: [peer('1'), peer('2', { online: false }), peer('3', { blocked: true })],
    });
    expect(onlineCount(s)).toBe(1);
  });
});
