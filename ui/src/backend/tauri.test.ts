import { describe, expect, it, vi } from 'vitest';
import { COMMAND_NAMES, type CommandName } from '../api/commands';
import type { Event } from '../api/types';
import { ApiError } from './errors';
import {
  EVENT_NAME,
  MEDIA_SCHEME,
  TauriBackend,
  UPLOAD_HEADER,
  asciiJson,
  type DragDropFn,
  type FileSrcFn,
  type InvokeFn,
  type ListenFn,
} from './tauri';

const resync = (id: number): Event => ({ id, time_ms: 0, type: 'resync' });
const off = (id: number, peer_id = 'A'): Event => ({ id, time_ms: 0, type: 'peer_offline', peer_id });

function flush() {
  return new Promise((r) => setTimeout(r, 0));
}

/** A backend whose commands the test records and answers (`answer` may throw or reject). */
function recorder(answer: (cmd: string) => unknown = () => null) {
  const calls: unknown[][] = [];
  const invoke = vi.fn(async (...args: unknown[]) => {
    calls.push(args);
    return answer(args[0] as string);
  }) as unknown as InvokeFn;
  const srcs: [string, string | undefined][] = [];
  const convertFileSrc: FileSrcFn = (path, protocol) => {
    srcs.push([path, protocol]);
    return `${protocol}://localhost/${encodeURIComponent(path)}`;
  };
  return { calls, srcs, backend: new TauriBackend({ invoke, listen: vi.fn() as unknown as ListenFn, convertFileSrc }) };
}

describe('TauriBackend commands', () => {
  it('invokes each command by its name with { req }, or {} when it takes nothing', async () => {
    const { calls, backend: b } = recorder();
    const profile = { display_name: 'A', affiliation: '', bio: '' };
    await b.call('status');
    await b.call('get_profile');
    await b.call('set_profile', profile);
    await b.call('list_peers');
    await b.call('connect', { addr: '/ip4/1.1.1.1/tcp/1' });
    await b.call('block_peer', { peer_id: 'P' });
    await b.call('unblock_peer', { peer_id: 'P' });
    await b.call('get_settings');
    await b.call('add_bootstrap', { addr: '/x' });
    await b.call('remove_bootstrap', { addr: '/x' });
    await b.call('events_since', { since: 4 });
    expect(calls.map((c) => [c[0], c[1]])).toEqual([
      ['status', {}],
      ['get_profile', {}],
      ['set_profile', { req: profile }],
      ['list_peers', {}],
      ['connect', { req: { addr: '/ip4/1.1.1.1/tcp/1' } }],
      ['block_peer', { req: { peer_id: 'P' } }],
      ['unblock_peer', { req: { peer_id: 'P' } }],
      ['get_settings', {}],
      ['add_bootstrap', { req: { addr: '/x' } }],
      ['remove_bootstrap', { req: { addr: '/x' } }],
      ['events_since', { req: { since: 4 } }],
    ]);
  });

  it('invokes every declared command the same way, with nothing special per command', async () => {
    const { calls, backend: b } = recorder();
    const send = b.call as (cmd: CommandName, req?: unknown) => Promise<unknown>;
    for (const name of COMMAND_NAMES) await send.call(b, name, { probe: name });
    expect(calls.map((c) => [c[0], c[1]])).toEqual(COMMAND_NAMES.map((n) => [n, { req: { probe: n } }]));
  });

  it('turns a rejected command into an ApiError', async () => {
    const invoke = (async () => {
      throw { code: 'not_found', message: 'no such peer' };
    }) as unknown as InvokeFn;
    const b = new TauriBackend({ invoke, listen: vi.fn() as unknown as ListenFn });
    const err = await b.call('block_peer', { peer_id: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'not_found', message: 'no such peer' });
  });
});

describe('TauriBackend catalog commands', () => {
  const ID = '0123456789abcdef0123456789abcdef01234567';


  it('invokes each command by its name with { req }, or {} when it takes nothing', async () => {
    const { calls, backend: b } = recorder();
    const publish = { path: '/p', title: null, description: null, kind: null, tags: [] };
    const update = { content_id: ID, title: 'T', description: '', kind: 'image' as const, tags: ['x'] };
    const search = { text: 'x', kinds: ['paper' as const], author: 'A', available_only: false, sort: 'relevance' as const, offset: 0, limit: 30 };
    const dl = { content_id: null, magnet: 'magnet:?xt=urn:btih:' + ID, peers: ['127.0.0.1:6881'] };
    const id = { content_id: ID };
    await b.call('publish', publish);
    await b.call('unpublish', id);
    await b.call('update_resource', update);
    await b.call('search', search);
    await b.call('get_resource', id);
    await b.call('list_holders', id);
    await b.call('catalog_stats');
    await b.call('start_download', dl);
    await b.call('pause_download', id);
    await b.call('resume_download', id);
    await b.call('cancel_download', id);
    await b.call('list_downloads');
    await b.call('open_folder', id);
    await b.call('get_library');
    await b.call('add_shared_folder', { path: '/srv' });
    await b.call('remove_shared_folder', { path: '/srv' });
    expect(calls.map((c) => [c[0], c[1]])).toEqual([
      ['publish', { req: publish }],
      ['unpublish', { req: id }],
      ['update_resource', { req: update }],
      ['search', { req: search }],
      ['get_resource', { req: id }],
      ['list_holders', { req: id }],
      ['catalog_stats', {}],
      ['start_download', { req: dl }],
      ['pause_download', { req: id }],
      ['resume_download', { req: id }],
      ['cancel_download', { req: id }],
      ['list_downloads', {}],
      ['open_folder', { req: id }],
      ['get_library', {}],
      ['add_shared_folder', { req: { path: '/srv' } }],
      ['remove_shared_folder', { req: { path: '/srv' } }],
    ]);
  });

  it('uploads the raw bytes with the description in the x-hearth-upload header', async () => {
    const created = { content_id: ID };
    const { calls, backend: b } = recorder(() => created);
    const bytes = new Uint8Array([1, 2, 3, 250]);
    const file = new File([bytes], 'Noether – Ringe.pdf');
    const progress: [number, number][] = [];
    const r = await b.upload(
      file,
      { title: 'Idealtheorie in Ringbereichen 🧮', description: 'a\nb "quoted"', kind: null, tags: ['algebra'] },
      (s, t) => progress.push([s, t]),
    );
    expect(r).toBe(created);
    const [cmd, body, options] = calls[0] as [string, Uint8Array, { headers: Record<string, string> }];
    expect(cmd).toBe('upload');
    expect(body).toBeInstanceOf(Uint8Array);
    expect([...body]).toEqual([1, 2, 3, 250]);
    const header = options.headers[UPLOAD_HEADER]!;
    expect(header).toMatch(/^[\x20-\x7e]+$/); // header-safe, whatever the language
    expect(JSON.parse(header)).toEqual({
      name: 'Noether – Ringe.pdf',
      title: 'Idealtheorie in Ringbereichen 🧮',
      description: 'a\nb "quoted"',
      kind: null,
      tags: ['algebra'],
    });
    expect(progress).toEqual([
      [0, 4],
      [4, 4],
    ]);
  });

  it('sends nulls for what the node should fill in', async () => {
    const { calls, backend: b } = recorder(() => ({}));
    await b.upload(new File(['x'], 'a.txt'), {});
    const header = (calls[0]![2] as { headers: Record<string, string> }).headers[UPLOAD_HEADER]!;
    expect(JSON.parse(header)).toEqual({ name: 'a.txt', title: null, description: null, kind: null, tags: [] });
  });

  it('turns a rejected upload into an ApiError', async () => {
    const invoke = (async () => {
      throw { code: 'bad_request', message: 'upload without a valid x-hearth-upload header' };
    }) as unknown as InvokeFn;
    const b = new TauriBackend({ invoke, listen: vi.fn() as unknown as ListenFn });
    await expect(b.upload(new File(['x'], 'a'), {})).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('escapes JSON to printable ASCII without changing its value', () => {
    const value = { t: 'é—𝔸\u0000\u007f\t', n: 1 };
    const text = asciiJson(value);
    expect(text).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(text)).toEqual(value);
  });

  it('passes on paths dropped on the window, and stops', async () => {
    let emit: ((e: Parameters<Parameters<DragDropFn>[0]>[0]) => void) | null = null;
    let unlistened = false;
    const onDragDrop: DragDropFn = async (h) => {
      emit = h;
      return () => {
        unlistened = true;
      };
    };
    const b = new TauriBackend({ invoke: vi.fn() as unknown as InvokeFn, listen: vi.fn() as unknown as ListenFn, onDragDrop });
    const got: unknown[] = [];
    const stop = b.watchFileDrops((e) => got.push(e));
    expect(stop).toBeTypeOf('function');
    await flush();
    emit!({ type: 'enter', paths: ['/a'], position: { x: 1, y: 1 } } as never);
    emit!({ type: 'over', position: { x: 2, y: 2 } } as never);
    emit!({ type: 'leave' });
    emit!({ type: 'drop', paths: ['/home/ada/a.pdf', '/home/ada/b.csv'], position: { x: 3, y: 3 } } as never);
    expect(got).toEqual([
      { type: 'hover' },
      { type: 'hover' },
      { type: 'leave' },
      { type: 'drop', paths: ['/home/ada/a.pdf', '/home/ada/b.csv'] },
    ]);
    stop!();
    expect(unlistened).toBe(true);
    emit!({ type: 'leave' });
    expect(got).toHaveLength(4);
  });

  it("picks files with the shell's picker and returns their paths", async () => {
    const invoke = vi.fn(async (cmd: string, args?: unknown) => {
      expect(cmd).toBe('pick_files');
      expect(args).toMatchObject({ title: 'Publish files' });
      return invoke.mock.calls.length === 1 ? ['/home/ada/a.mp4', '/home/ada/b.pdf'] : [];
    });
    const b = new TauriBackend({ invoke: invoke as unknown as InvokeFn, listen: vi.fn() as unknown as ListenFn });
    expect(await b.pickFiles()).toEqual(['/home/ada/a.mp4', '/home/ada/b.pdf']);
    expect(await b.pickFiles()).toEqual([]);
  });

  it('picks a folder with the dialog plugin', async () => {
    const invoke = vi.fn(async (cmd: string, args?: unknown) => {
      expect(cmd).toBe('plugin:dialog|open');
      expect(args).toMatchObject({ options: { multiple: false, directory: true, title: 'Download folder' } });
      return invoke.mock.calls.length === 1 ? '/media/big' : null;
    });
    const b = new TauriBackend({ invoke: invoke as unknown as InvokeFn, listen: vi.fn() as unknown as ListenFn });
    expect(await b.pickFolder('Download folder')).toBe('/media/big');
    expect(await b.pickFolder('Download folder')).toBeNull();
  });

  it('stops a drop subscription that was still being set up', async () => {
    let unlistened = false;
    const onDragDrop: DragDropFn = async () => () => {
      unlistened = true;
    };
    const b = new TauriBackend({ invoke: vi.fn() as unknown as InvokeFn, listen: vi.fn() as unknown as ListenFn, onDragDrop });
    const stop = b.watchFileDrops(() => {});
    stop!();
    await flush();
    expect(unlistened).toBe(true);
  });
});

describe('TauriBackend chat commands', () => {
  const ROOM = 'ab'.repeat(32);
  const PEER = '12D3KooWPeer';


  it('invokes each command by its name with { req }, or {} when it takes nothing', async () => {
    const { calls, backend: b } = recorder();
    const room = { room_id: ROOM };
    await b.call('chat_status');
    await b.call('unlock_chat', { passphrase: 'correct horse' });
    await b.call('change_passphrase', { old: 'correct horse', new: 'battery staple' });
    await b.call('list_rooms');
    await b.call('create_room', { name: 'R', members: [PEER] });
    await b.call('get_room', room);
    await b.call('rename_room', { room_id: ROOM, name: 'S' });
    await b.call('invite', { room_id: ROOM, peer_id: PEER });
    await b.call('leave_room', room);
    await b.call('delete_room', room);
    await b.call('send_message', { room_id: ROOM, body: 'hello' });
    await b.call('room_history', { room_id: ROOM, before: null, limit: 100 });
    await b.call('mark_room_read', room);
    await b.call('list_dms');
    await b.call('send_dm', { peer_id: PEER, body: 'hi' });
    await b.call('dm_history', { peer_id: PEER, before: 3, limit: 50 });
    await b.call('mark_dm_read', { peer_id: PEER });
    expect(calls.map((c) => [c[0], c[1]])).toEqual([
      ['chat_status', {}],
      ['unlock_chat', { req: { passphrase: 'correct horse' } }],
      ['change_passphrase', { req: { old: 'correct horse', new: 'battery staple' } }],
      ['list_rooms', {}],
      ['create_room', { req: { name: 'R', members: [PEER] } }],
      ['get_room', { req: room }],
      ['rename_room', { req: { room_id: ROOM, name: 'S' } }],
      ['invite', { req: { room_id: ROOM, peer_id: PEER } }],
      ['leave_room', { req: room }],
      ['delete_room', { req: room }],
      ['send_message', { req: { room_id: ROOM, body: 'hello' } }],
      ['room_history', { req: { room_id: ROOM, before: null, limit: 100 } }],
      ['mark_room_read', { req: room }],
      ['list_dms', {}],
      ['send_dm', { req: { peer_id: PEER, body: 'hi' } }],
      ['dm_history', { req: { peer_id: PEER, before: 3, limit: 50 } }],
      ['mark_dm_read', { req: { peer_id: PEER } }],
    ]);
  });

  it('notifies through the notification plugin and ignores its failures', async () => {
    const { calls, backend: b } = recorder(async () => {
      throw 'notification not allowed';
    });
    expect(b.notify).not.toBeNull();
    b.notify!('Reading group', 'Ada: hello');
    await flush();
    expect(calls.map((c) => [c[0], c[1]])).toEqual([
      ['plugin:notification|notify', { options: { title: 'Reading group', body: 'Ada: hello' } }],
    ]);
  });

  it('turns a locked chat into an ApiError', async () => {
    const { backend: b } = recorder(async () => {
      throw { code: 'unavailable', message: 'chat is locked' };
    });
    await expect(b.call('list_rooms')).rejects.toMatchObject({ code: 'unavailable', message: 'chat is locked' });
  });
});

describe('TauriBackend media, follows and mirrors', () => {
  const ID = '0123456789abcdef0123456789abcdef01234567';
  const HASH = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';
  const PEER = '12D3KooWPeer';


  it('invokes each command by its name with { req }, or {} when it takes nothing', async () => {
    const { calls, backend: b } = recorder();
    const preview = { content_id: ID, thumbnail: '/9j/4AAQ', duration_ms: null };
    await b.call('list_follows');
    await b.call('follow', { peer_id: PEER });
    await b.call('unfollow', { peer_id: PEER });
    await b.call('set_mirror', { peer_id: PEER, on: true });
    await b.call('set_mirror_quota', { bytes: 5_000_000_000 });
    await b.call('set_preview', preview);
    await b.call('open_file', { content_id: ID });
    expect(calls.map((c) => [c[0], c[1]])).toEqual([
      ['list_follows', {}],
      ['follow', { req: { peer_id: PEER } }],
      ['unfollow', { req: { peer_id: PEER } }],
      ['set_mirror', { req: { peer_id: PEER, on: true } }],
      ['set_mirror_quota', { req: { bytes: 5_000_000_000 } }],
      ['set_preview', { req: preview }],
      ['open_file', { req: { content_id: ID } }],
    ]);
  });

  it('returns what the commands answer', async () => {
    const { backend: b } = recorder((cmd) => (cmd === 'open_file' ? 'C:\\Films\\a.mkv' : []));
    await expect(b.call('open_file', { content_id: ID })).resolves.toBe('C:\\Films\\a.mkv');
    await expect(b.call('unfollow', { peer_id: PEER })).resolves.toEqual([]);
  });

  it('plays media from the shell\'s loopback server, asked once, with its token', async () => {
    const { calls, backend: b } = recorder((cmd) =>
      cmd === 'media_server' ? { url: 'http://127.0.0.1:4711', token: 't k' } : null,
    );
    await expect(b.mediaUrl(ID)).resolves.toBe(`http://127.0.0.1:4711/media/${ID}?token=t%20k`);
    await expect(b.mediaUrl(ID, 3)).resolves.toBe(`http://127.0.0.1:4711/media/${ID}/3?token=t%20k`);
    expect(calls.map((c) => c[0])).toEqual(['media_server']);
  });

  it('falls back to the hearth scheme for media, and takes thumbnails from it without IPC', async () => {
    const { calls, srcs, backend: b } = recorder((cmd) => {
      if (cmd === 'media_server') throw { code: 'unavailable', message: 'not started' };
      return null;
    });
    expect(MEDIA_SCHEME).toBe('hearth');
    await expect(b.mediaUrl(ID)).resolves.toBe(`hearth://localhost/media%2F${ID}`);
    await expect(b.mediaUrl(ID, 0)).resolves.toBe(`hearth://localhost/media%2F${ID}`);
    await expect(b.mediaUrl(ID, 3)).resolves.toBe(`hearth://localhost/media%2F${ID}%2F3`);
    expect(b.thumbnailUrl(ID, HASH)).toBe(`hearth://localhost/thumbs%2F${ID}%2F${HASH}`);
    expect(b.avatarUrl(HASH)).toBe(`hearth://localhost/avatars%2F${HASH}`);
    expect(srcs).toEqual([
      [`media/${ID}`, 'hearth'],
      [`media/${ID}`, 'hearth'],
      [`media/${ID}/3`, 'hearth'],
      [`thumbs/${ID}/${HASH}`, 'hearth'],
      [`avatars/${HASH}`, 'hearth'],
    ]);
    // Asked again after a failure (the server may have started since); never for thumbnails.
    expect(calls.map((c) => c[0])).toEqual(['media_server', 'media_server', 'media_server']);
  });

  it('turns a refused command into an ApiError', async () => {
    const { backend: b } = recorder(() => {
      throw { code: 'not_found', message: 'not followed' };
    });
    const err = await b.call('set_mirror', { peer_id: PEER, on: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'not_found', message: 'not followed' });
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
    expect(sinceArgs).toEqual([{ req: { since: 0 } }]);
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
