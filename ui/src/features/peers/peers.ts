import type { Event, PeerInfo, Profile, Status } from '../../api/types';

/** What the UI knows about this node and its peers. Never mutated: every change makes a new one. */
export interface NodeState {
  /** This node, once its status has been fetched. */
  self: Status | null;
  /** When `self` was fetched (Unix ms), to keep its uptime current. */
  selfAt: number;
  /** Peers by id (never includes this node). */
  peers: Readonly<Record<string, PeerInfo>>;
}

export const initialState: NodeState = { self: null, selfAt: 0, peers: {} };

export type Action =
  | { type: 'status'; status: Status; at: number }
  | { type: 'snapshot'; peers: PeerInfo[] }
  | { type: 'peer'; peer: PeerInfo }
  | { type: 'event'; event: Event };

export function reducer(state: NodeState, action: Action): NodeState {
  switch (action.type) {
    case 'status':
      return { ...state, self: action.status, selfAt: action.at };
    case 'snapshot':
      return replacePeers(state, action.peers);
    case 'peer':
      return upsertPeer(state, action.peer);
    case 'event':
      return applyEvent(state, action.event);
  }
}

/** Replaces the whole peer list (after fetching it). */
export function replacePeers(state: NodeState, list: PeerInfo[]): NodeState {
  const peers: Record<string, PeerInfo> = {};
  for (const p of list) {
    if (state.self && p.peer_id === state.self.peer_id) continue;
    peers[p.peer_id] = p;
  }
  return { ...state, peers };
}

export function upsertPeer(state: NodeState, peer: PeerInfo): NodeState {
  if (state.self && peer.peer_id === state.self.peer_id) return state;
  return { ...state, peers: { ...state.peers, [peer.peer_id]: peer } };
}

/** Applies one event of the node's stream. `resync` leaves the state as is (the caller refetches). */
export function applyEvent(state: NodeState, event: Event): NodeState {
  switch (event.type) {
    case 'peer_online':
    case 'peer_updated':
      return upsertPeer(state, event.peer);
    case 'peer_offline': {
      const existing = state.peers[event.peer_id];
      if (!existing) return state;
      if (!existing.online && !existing.connected) return state;
      return {
        ...state,
        peers: {
          ...state.peers,
          [event.peer_id]: {
            ...existing,
            online: false,
            connected: false,
            rtt_ms: null,
            last_seen_ms: existing.last_seen_ms ?? event.time_ms,
          },
        },
      };
    }
    case 'profile_changed':
      return changeProfile(state, event.peer_id, event.profile);
    case 'resource_added':
    case 'resource_removed':
    case 'availability_changed':
    case 'catalog_changed':
    case 'download_progress':
    case 'download_removed':
      return state; // the catalog's, kept by its own stores
    case 'follows_changed':
    case 'mirror_quota_full':
      return state; // kept where follows are shown
    case 'settings_changed':
      return state; // kept where settings are shown
    case 'chat_message':
    case 'message_state':
    case 'room_updated':
    case 'dm_updated':
    case 'chat_status_changed':
    case 'requests_changed':
      return state; // the chat's, kept by its own store
    case 'resync':
      return state;
  }
}

function changeProfile(state: NodeState, peerId: string, profile: Profile): NodeState {
  if (state.self && state.self.peer_id === peerId) {
    return { ...state, self: { ...state.self, profile } };
  }
  const existing = state.peers[peerId];
  if (!existing) return state; // a peer_online with the full info will follow
  return { ...state, peers: { ...state.peers, [peerId]: { ...existing, profile } } };
}

/** The name to show for a peer: its display name, or its short id before a profile arrives. */
export function peerName(p: Pick<PeerInfo, 'peer_id' | 'profile'>): string {
  const name = p.profile?.display_name.trim();
  return name ? name : shortId(p.peer_id);
}

/** `12D3Ko…x9Qa`: enough of a peer id to tell peers apart at a glance. */
export function shortId(peerId: string): string {
  if (peerId.length <= 14) return peerId;
  return `${peerId.slice(0, 6)}…${peerId.slice(-6)}`;
}

/** Peers in display order: online first, then direct connections, named ones, then by name. */
export function sortedPeers(state: NodeState): PeerInfo[] {
  return Object.values(state.peers).sort(comparePeers);
}

export function comparePeers(a: PeerInfo, b: PeerInfo): number {
  if (a.online !== b.online) return a.online ? -1 : 1;
  if (a.blocked !== b.blocked) return a.blocked ? 1 : -1;
  if (a.connected !== b.connected) return a.connected ? -1 : 1;
  const aNamed = !!a.profile?.display_name.trim();
  const bNamed = !!b.profile?.display_name.trim();
  if (aNamed !== bNamed) return aNamed ? -1 : 1;
  const byName = peerName(a).localeCompare(peerName(b), undefined, { sensitivity: 'base' });
  if (byName !== 0) return byName;
  return a.peer_id < b.peer_id ? -1 : a.peer_id > b.peer_id ? 1 : 0;
}

export function onlineCount(state: NodeState): number {
  let n = 0;
  for (const p of Object.values(state.peers)) if (p.online && !p.blocked) n++;
  return n;
}

/** How a connection reaches a peer, in the words the Peers page uses. */
export function linkLabel(connection: string): string {
  switch (connection) {
    case 'lan':
      return 'LAN';
    case 'hole_punched':
      return 'direct (hole-punched)';
    case 'relayed':
      return 'relayed';
    default:
      return 'direct';
  }
}
