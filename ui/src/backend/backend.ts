import type { Event, PeerInfo, Profile, Settings, Status } from '../api/types';

/** Receives each event of the node's event stream, in order. */
export type EventHandler = (event: Event) => void;
/** Told `true` when the live event stream is (re)established, `false` when it is lost. */
export type ConnectionHandler = (connected: boolean) => void;

/**
 * Everything the UI can ask of a Hearth node. Components use only this interface;
 * how the node is reached (Tauri IPC or HTTP) is up to the implementation.
 *
 * Every method rejects with an `ApiError` on failure.
 */
export interface Backend {
  readonly kind: 'tauri' | 'http';

  status(): Promise<Status>;
  getProfile(): Promise<Profile>;
  setProfile(profile: Profile): Promise<Profile>;
  listPeers(): Promise<PeerInfo[]>;
  connect(addr: string): Promise<void>;
  blockPeer(peerId: string): Promise<void>;
  unblockPeer(peerId: string): Promise<void>;
  getSettings(): Promise<Settings>;
  addBootstrap(addr: string): Promise<Settings>;
  removeBootstrap(addr: string): Promise<Settings>;

  /**
   * Starts delivering live events. The implementation remembers the id of the last event
   * delivered and, after losing the stream, resumes with only the events after it; when
   * the node can no longer supply them it delivers a `resync` event and the caller
   * refetches its state. Returns a function that stops the subscription.
   */
  subscribe(onEvent: EventHandler, onConnectionChange: ConnectionHandler): () => void;
}
