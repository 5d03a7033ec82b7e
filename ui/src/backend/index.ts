import type { Backend } from './backend';
import { HttpBackend } from './http';
import { browserTokenEnv, clearToken, loadToken } from './token';

export type {
  RequestArgs,
  Autostart,
  Backend,
  ConnectionHandler,
  EventHandler,
  FileDropEvent,
  NotificationAccess,
  UploadMeta,
  UploadProgressHandler,
} from './backend';
export { ApiError, describeError } from './errors';

/** True inside the desktop app's webview. */
export function isTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

export type BackendChoice =
  | { kind: 'ready'; backend: Backend }
  /** Running in a browser without an API token: the user must open the node's URL. */
  | { kind: 'no-token' };

/** Picks the backend for this page: Tauri IPC in the desktop app, HTTP otherwise. */
export async function selectBackend(): Promise<BackendChoice> {
  if (isTauri()) {
    const { TauriBackend } = await import('./tauri');
    return { kind: 'ready', backend: new TauriBackend() };
  }
  const token = loadToken(browserTokenEnv());
  if (!token) return { kind: 'no-token' };
  return { kind: 'ready', backend: new HttpBackend({ baseUrl: window.location.origin, token }) };
}

/** Forgets the browser's API token (after the node rejected it). */
export function forgetToken(): void {
  if (!isTauri()) clearToken(browserTokenEnv());
}
