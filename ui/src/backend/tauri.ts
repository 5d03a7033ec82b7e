import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';
import type { Event, PeerInfo, Profile, Settings, Status } from '../api/types';
import type { Backend, ConnectionHandler, EventHandler } from './backend';
import { backoffDelay } from './http';
import { toApiError } from './errors';

/** Name of the Tauri event that carries each `Event` of the node. */
export const EVENT_NAME = 'hearth-event';

export type InvokeFn = <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;
export type ListenFn = (
  name: string,
  handler: (msg: { payload: Event }) => void,
) => Promise<() => void>;

export interface TauriBackendOptions {
  invoke?: InvokeFn;
  listen?: ListenFn;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/** Talks to the node embedded in the desktop app through Tauri commands. */
export class TauriBackend implements Backend {
  readonly kind = 'tauri' as const;
  private readonly invokeFn: InvokeFn;
  private readonly listenFn: ListenFn;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  /** Id of the last event delivered; catching up asks for the events after it. */
  lastEventId = 0;

  constructor(opts: TauriBackendOptions = {}) {
    this.invokeFn = opts.invoke ?? tauriInvoke;
    this.listenFn = opts.listen ?? ((name, handler) => tauriListen<Event>(name, handler));
    this.setTimer = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.clearTimer =
      opts.clearTimeout ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>));
  }

  private async call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await this.invokeFn<T>(cmd, args);
    } catch (e) {
      throw toApiError(e);
    }
  }

  status(): Promise<Status> {
    return this.call('status');
  }
  getProfile(): Promise<Profile> {
    return this.call('get_profile');
  }
  setProfile(profile: Profile): Promise<Profile> {
    return this.call('set_profile', { profile });
  }
  listPeers(): Promise<PeerInfo[]> {
    return this.call('list_peers');
  }
  async connect(addr: string): Promise<void> {
    await this.call<null>('connect', { addr });
  }
  async blockPeer(peerId: string): Promise<void> {
    await this.call<null>('block_peer', { peerId });
  }
  async unblockPeer(peerId: string): Promise<void> {
    await this.call<null>('unblock_peer', { peerId });
  }
  getSettings(): Promise<Settings> {
    return this.call('get_settings');
  }
  addBootstrap(addr: string): Promise<Settings> {
    return this.call('add_bootstrap', { addr });
  }
  removeBootstrap(addr: string): Promise<Settings> {
    return this.call('remove_bootstrap', { addr });
  }
  eventsSince(since: number): Promise<Event[]> {
    return this.call('events_since', { since });
  }

  subscribe(onEvent: EventHandler, onConnectionChange: ConnectionHandler): () => void {
    let stopped = false;
    let unlisten: (() => void) | null = null;
    let timer: unknown = null;
    let attempt = 0;
    let connected: boolean | null = null;
    // Live events that arrive while catching up wait here, then are delivered in order.
    let pending: Event[] | null = [];

    const report = (value: boolean) => {
      if (connected !== value) {
        connected = value;
        onConnectionChange(value);
      }
    };

    const deliver = (e: Event) => {
      if (e.type !== 'resync' && e.id <= this.lastEventId) return; // already seen
      this.lastEventId = e.id;
      onEvent(e);
    };

    const catchUp = async () => {
      timer = null;
      if (stopped) return;
      try {
        const missed = await this.eventsSince(this.lastEventId);
        if (stopped) return;
        for (const e of missed) deliver(e);
        const queued = pending ?? [];
        pending = null;
        for (const e of queued) deliver(e);
        attempt = 0;
        report(true);
      } catch {
        if (stopped) return;
        report(false);
        timer = this.setTimer(() => void catchUp(), backoffDelay(attempt++));
      }
    };

    this.listenFn(EVENT_NAME, (msg) => {
      if (stopped) return;
      if (pending) pending.push(msg.payload);
      else deliver(msg.payload);
    }).then(
      (fn) => {
        if (stopped) fn();
        else {
          unlisten = fn;
          void catchUp();
        }
      },
      () => {
        report(false);
      },
    );

    return () => {
      stopped = true;
      if (timer !== null) this.clearTimer(timer);
      timer = null;
      if (unlisten) unlisten();
      unlisten = null;
    };
  }
}
