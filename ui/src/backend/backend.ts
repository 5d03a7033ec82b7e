import type { CommandName, Commands } from '../api/commands';
import type { Event, Resource, ResourceKind } from '../api/types';

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
/** What `call` takes after the command's name: its request, or nothing when it takes none. */
export type RequestArgs<K extends CommandName> = Commands[K]['req'] extends null ? [] : [Commands[K]['req']];

/**
 * Everything the UI can ask of a Hearth node. Components use only this interface;
 * how the node is reached (Tauri IPC or HTTP) is up to the implementation.
 *
 * Every method rejects with an `ApiError` on failure.
 */
/** Whether notifications may be shown (see `Backend.notificationPermission`). */
export type NotificationAccess = 'granted' | 'default' | 'denied' | 'unsupported';

/** Whether Hearth starts at login (the desktop's autostart entry). */
export interface Autostart {
  get(): Promise<boolean>;
  /** Answers whether it now starts at login. */
  set(on: boolean): Promise<boolean>;
}

export interface Backend {
  readonly kind: 'tauri' | 'http';

  /**
   * Runs one API command (`src/api/commands.rs`, mirrored in `api/commands.ts`) and answers
   * its response: `call('get_profile')`, `call('follow', { peer_id })`.
   */
  call<K extends CommandName>(cmd: K, ...req: RequestArgs<K>): Promise<Commands[K]['res']>;

  /** Sends a file picked or dropped in the page to the node, which keeps and publishes it. */
  upload(file: File, meta: UploadMeta, onProgress?: UploadProgressHandler): Promise<Resource>;

  /**
   * Where a `<video>` or `<audio>` element reads a resource's bytes (file `file` of a
   * multi-file resource, else its first), with byte ranges. The node starts downloading the
   * resource itself when it is not on its disk yet, fetching what is played first.
   */
  mediaUrl(contentId: string, file?: number): Promise<string>;
  /** Where an `<img>` loads a resource's thumbnail, named by its hash (cacheable forever). */
  thumbnailUrl(contentId: string, hash: string): string;
  /** Where an `<img>` loads a profile picture, named by its hash (cacheable forever). */
  avatarUrl(hash: string): string;

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

  /**
   * Shows a desktop notification (fire and forget). Only the desktop app can: elsewhere `null`.
   */
  readonly notify: ((title: string, body: string) => void) | null;

  /**
   * Whether `notify` shows anything: `granted` (always on the desktop), `default` (the
   * browser has not asked yet), `denied`, or `unsupported`.
   */
  notificationPermission(): NotificationAccess;

  /** Asks the user to allow notifications (a browser prompt; the desktop needs none). */
  askNotifications(): Promise<NotificationAccess>;

  /**
   * The system's folder picker: a folder on the node's disk, or `null` if cancelled. Only
   * the desktop app can: elsewhere `null`, and the path is typed.
   */
  readonly pickFolder: ((title: string) => Promise<string | null>) | null;

  /**
   * Remembers the chat passphrase in the system keyring (`null` forgets it), so that chat
   * unlocks by itself at the next start. Only the desktop app can: elsewhere `null`. Rejects
   * with a clear message where there is no keyring.
   */
  readonly rememberPassphrase: ((passphrase: string | null) => Promise<void>) | null;

  /** Starting Hearth when the user logs in. Only the desktop app can: elsewhere `null`. */
  readonly autostart: Autostart | null;

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
