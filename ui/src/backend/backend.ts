import type {
  CatalogStats,
  ChatMessage,
  ChatStatus,
  CreateRoomRequest,
  DmConversation,
  DmHistoryRequest,
  Download,
  DownloadRequest,
  Event,
  Follow,
  HistoryPage,
  HistoryRequest,
  Holder,
  Library,
  PeerInfo,
  PreviewRequest,
  Profile,
  PublishRequest,
  Resource,
  ResourceKind,
  RoomInfo,
  SearchRequest,
  SearchResult,
  Settings,
  Status,
  UpdateResourceRequest,
} from '../api/types';

/** Receives each event of the node's event stream, in order. */
export type EventHandler = (event: Event) => void;

/** Told `true` when the live event stream is (re)established, `false` when it is lost. */
export type ConnectionHandler = (connected: boolean) => void;

/** How to describe a file published from the browser; the node fills in what is left out. */
export interface UploadMeta {
  /** Defaults to the file name. */
  title?: string | null;
  description?: string | null;
  /** Defaults to the node's guess from the file's type. */
  kind?: ResourceKind | null;
  tags?: string[];
}

/** Told how many bytes of an upload have been sent so far. */
export type UploadProgressHandler = (sentBytes: number, totalBytes: number) => void;

/** Files dragged over or dropped on the desktop app's window, as paths on this machine. */
export type FileDropEvent = { type: 'hover' } | { type: 'leave' } | { type: 'drop'; paths: string[] };

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

  // ---- catalog: publishing ----
  /** Publishes a file or folder that is already on the node's disk. */
  publish(req: PublishRequest): Promise<Resource>;
  /** Sends a file picked or dropped in the page to the node, which keeps and publishes it. */
  upload(file: File, meta: UploadMeta, onProgress?: UploadProgressHandler): Promise<Resource>;
  unpublish(contentId: string): Promise<void>;
  updateResource(req: UpdateResourceRequest): Promise<Resource>;

  // ---- catalog: finding ----
  search(req: SearchRequest): Promise<SearchResult>;
  getResource(contentId: string): Promise<Resource>;
  listHolders(contentId: string): Promise<Holder[]>;
  catalogStats(): Promise<CatalogStats>;

  // ---- downloads ----
  startDownload(req: DownloadRequest): Promise<Download>;
  pauseDownload(contentId: string): Promise<void>;
  resumeDownload(contentId: string): Promise<void>;
  cancelDownload(contentId: string): Promise<void>;
  listDownloads(): Promise<Download[]>;
  /** The folder that holds a resource's data; the node also opens it in the file manager when it can. */
  openFolder(contentId: string): Promise<string>;
  /**
   * The path of a resource's file on the node's disk; the node also opens it with the system's
   * default app (e.g. a video player) when it can.
   */
  openFile(contentId: string): Promise<string>;

  // ---- media ----
  /**
   * Where a `<video>` or `<audio>` element reads a resource's bytes (file `file` of a
   * multi-file resource, else its first), with byte ranges. The node starts downloading the
   * resource itself when it is not on its disk yet, fetching what is played first.
   */
  mediaUrl(contentId: string, file?: number): Promise<string>;
  /** Where an `<img>` loads a resource's thumbnail, named by its hash (cacheable forever). */
  thumbnailUrl(contentId: string, hash: string): string;
  /** Gives one of my resources a preview image (and play length) taken in the page. */
  setPreview(req: PreviewRequest): Promise<Resource>;

  // ---- follows and mirrors ----
  listFollows(): Promise<Follow[]>;
  /** Each of these answers the whole list of follows as it is afterwards. */
  follow(peerId: string): Promise<Follow[]>;
  unfollow(peerId: string): Promise<Follow[]>;
  /** Keeps (or stops keeping, deleting them) copies of everything a followed peer publishes. */
  setMirror(peerId: string, on: boolean): Promise<Follow[]>;
  /** Disk space mirror copies may use, in bytes. */
  setMirrorQuota(bytes: number): Promise<Settings>;

  // ---- library ----
  getLibrary(): Promise<Library>;
  addSharedFolder(path: string): Promise<Library>;
  removeSharedFolder(path: string): Promise<Library>;

  /**
   * Follows files dragged onto the window as paths on the node's disk (then `publish` them).
   * Only the desktop app can: it returns a function that stops following. Returns `null`
   * where dropped files arrive as page `File` objects instead (then `upload` them).
   */
  watchFileDrops(onDrop: (event: FileDropEvent) => void): (() => void) | null;

  /**
   * Lets the user pick files with the system's file picker and returns their paths on the
   * node's disk (then `publish` them; nothing is read into memory), or `[]` if cancelled.
   * Only the desktop app can: elsewhere `null`, and the page's own file input is used
   * (then `upload` the files).
   */
  readonly pickFiles: (() => Promise<string[]>) | null;

  // ---- chat ----
  /** Whether chat is unlocked, and whether a passphrase was ever set. */
  chatStatus(): Promise<ChatStatus>;
  /** Unlocks chat with the passphrase (or sets it, the first time). Slow on purpose (~1 s). */
  unlockChat(passphrase: string): Promise<ChatStatus>;
  changePassphrase(oldPassphrase: string, newPassphrase: string): Promise<void>;
  listRooms(): Promise<RoomInfo[]>;
  createRoom(req: CreateRoomRequest): Promise<RoomInfo>;
  getRoom(roomId: string): Promise<RoomInfo>;
  renameRoom(roomId: string, name: string): Promise<void>;
  invite(roomId: string, peerId: string): Promise<void>;
  leaveRoom(roomId: string): Promise<void>;
  /** Only the room's creator can. */
  deleteRoom(roomId: string): Promise<void>;
  sendMessage(roomId: string, body: string): Promise<ChatMessage>;
  /** A page of a room's messages, oldest first. */
  roomHistory(req: HistoryRequest): Promise<HistoryPage>;
  markRoomRead(roomId: string): Promise<void>;
  /** Direct conversations that have at least one message. */
  listDms(): Promise<DmConversation[]>;
  sendDm(peerId: string, body: string): Promise<ChatMessage>;
  dmHistory(req: DmHistoryRequest): Promise<HistoryPage>;
  markDmRead(peerId: string): Promise<void>;

  /**
   * Shows a desktop notification (fire and forget). Only the desktop app can: elsewhere `null`.
   */
  readonly notify: ((title: string, body: string) => void) | null;

  /**
   * Starts delivering live events. The implementation remembers the id of the last event
   * delivered and, after losing the stream, resumes with only the events after it; when
   * the node can no longer supply them it delivers a `resync` event and the caller
   * refetches its state. Returns a function that stops the subscription.
   *
   * One subscription per backend: the app holds it (`useNode`) and passes events on.
   */
  subscribe(onEvent: EventHandler, onConnectionChange: ConnectionHandler): () => void;
}
