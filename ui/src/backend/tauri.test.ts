import { describe, expect, it, vi } from 'vitest';
import type { Event } from '../api/types';
import { ApiError } from './errors';
import { EVENT_NAME, TauriBackend, type InvokeFn, type ListenFn } from './tauri';

const resync = (id: number): Event => ({ id, time_ms: 0, type: 'resync' });
const off = (id: number, peer_id = 'A'): Event => ({ id, time_ms: 0, type: 'peer_offline', peer_id });

function flush() {
  return new Promise((r) => setTimeout(r, 0));
}

describe('TauriBackend commands', () => {
  it('invokes the snake_case commands with their arguments', async () => {
    const calls: [string, unknown][] = [];
    const invoke = vi.fn(async (cmd: string, args?: Record<string, unknown>) => {
      calls.push([cmd, args]);
      return null;
    }) as unknown as InvokeFn;
    const b = new TauriBackend({ invoke, listen: vi.fn() as unknown as ListenFn });
    const profile = { display_name: 'A', affiliation: '', bio: '' };
    await b.status();
    await b.getProfile();
    await b.setProfile(profile);
    await b.listPeers();
    await b.connect('/ip4/1.1.1.1/tcp/1');
    await b.blockPeer('P');
    await b.unblockPeer('P');
    await b.getSettings();
    await b.addBootstrap('/x');
    await b.removeBootstrap('/x');
    await b.eventsSince(4);
    expect(calls).toEqual([
      ['status', undefined],
      ['get_profile', undefined],
      ['set_profile', { profile }],
      ['list_peers', undefined],
      ['connect', { addr: '/ip4/1.1.1.1/tcp/1' }],
      ['block_peer', { peerId: 'P' }],
      ['unblock_peer', { peerId: 'P' }],
      ['get_settings', undefined],
      ['add_bootstrap', { addr: '/x' }],
      ['remove_bootstrap', { addr: '/x' }],
      ['events_since', { since: 4 }],
    ]);
  });

  it('turns a rejected command into an ApiError', async () => {
    const invoke = (async () => {
      throw { code: 'not_found', message: 'no such peer' };
    }) as unknown as InvokeFn;
    const b = new TauriBackend({ invoke, listen: vi.fn() as unknown as ListenFn });
    const err = await b.blockPeer('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'not_found', message: 'no such peer' });
  });
});

describe('TauriBackend events', () => {
  it('catches up with events_since, then delivers live events without duplicates', async () => {
    let handler: ((m: { payload: Event }) => void) | null = null;
    const listen: ListenFn = async (name, h) => {
      expect(name).toBe(EVENT_NAME);
      handler = h;
      return () => {
        handler = null;
      };
    };
    let release!: (events: Event[]) => void;
    const sinceArgs: unknown[] = [];
    const invoke = ((cmd: string, args?: Record<string, unknown>) => {
      expect(cmd).toBe('events_since');
      sinceArgs.push(args);
      return new Promise<Event[]>((r) => (release = r));
    }) as unknown as InvokeFn;
    const b = new TauriBackend({ invoke, listen });
    const got: number[] = [];
    const states: boolean[] = [];
    const stop = b.subscribe(
      (e) => got.push(e.id),
      (c) => states.push(c),
    );
    await flush();
    expect(sinceArgs).toEqual([{ since: 0 }]);
    // live events during the catch-up wait, and the overlap is dropped
    handler!({ payload: off(2) });
    handler!({ payload: off(3) });
    expect(got).toEqual([]);
    release([off(1), off(2)]);
    await flush();
    expect(got).toEqual([1, 2, 3]);
    expect(states).toEqual([true]);
    handler!({ payload: off(3) });
    handler!({ payload: off(4) });
    expect(got).toEqual([1, 2, 3, 4]);
    expect(b.lastEventId).toBe(4);
    stop();
    expect(handler).toBeNull();
  });

  it('always delivers resync and continues from its id', async () => {
    let handler: ((m: { payload: Event }) => void) | null = null;
    const listen: ListenFn = async (_n, h) => {
      handler = h;
      return () => {};
    };
    const invoke = (async () => [resync(10)]) as unknown as InvokeFn;
    const b = new TauriBackend({ invoke, listen });
    b.lastEventId = 50;
    const got: string[] = [];
    b.subscribe(
      (e) => got.push(`${e.type}:${e.id}`),
      () => {},
    );
    await flush();
    handler!({ payload: off(11) });
    expect(got).toEqual(['resync:10', 'peer_offline:11']);
  });

  it('reports a failed catch-up and retries', async () => {
    const listen: ListenFn = async () => () => {};
    let n = 0;
    const invoke = (async () => {
      n++;
      if (n === 1) throw 'not ready';
      return [];
    }) as unknown as InvokeFn;
    const timers: (() => void)[] = [];
    const b = new TauriBackend({
      invoke,
      listen,
      setTimeout: (fn) => timers.push(fn),
      clearTimeout: () => {},
    });
    const states: boolean[] = [];
    b.subscribe(
      () => {},
      (c) => states.push(c),
    );
    await flush();
    expect(states).toEqual([false]);
    timers.shift()!();
    await flush();
    expect(states).toEqual([false, true]);
  });
});
