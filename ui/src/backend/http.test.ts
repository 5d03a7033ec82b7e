import { describe, expect, it, vi } from 'vitest';
import { COMMAND_NAMES, type CommandName } from '../api/commands';
import type { Event } from '../api/types';
import { peerInfo } from '../test/fake/builders';
import { manualTimers } from '../test/timers';
import { ApiError } from './errors';
import { HttpBackend, backoffDelay, type SocketLike, type XhrLike } from './http';

const BASE = 'http://127.0.0.1:4321';

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(body === undefined ? '' : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

function backendWith(respond: (call: Call) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (url: string, init?: RequestInit) => {
    const call: Call = {
      url,
      method: init?.method ?? 'GET',
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
    };
    calls.push(call);
    return respond(call);
  });
  const backend = new HttpBackend({ baseUrl: BASE + '/', token: 'tok-123', fetch });
  return { backend, calls };
}

/** `METHOD /path` of each request, without the origin. */
const routes = (calls: Call[]) => calls.map((c) => `${c.method} ${c.url.slice(BASE.length)}`);

describe('HttpBackend requests', () => {
  it('sends the bearer token and parses the JSON body', async () => {
    const status = { peer_id: 'me' };
    const { backend, calls } = backendWith(() => jsonResponse(200, status));
    await expect(backend.call('status')).resolves.toEqual(status);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe(`${BASE}/api/status`);
    expect(calls[0]!.method).toBe('POST');
    expect(calls[0]!.headers.Authorization).toBe('Bearer tok-123');
  });

  it('posts every command to /api/<name> with its request as the body', async () => {
    const { backend, calls } = backendWith(() => jsonResponse(200, {}));
    const profile = { display_name: 'Ada', affiliation: 'Lab', bio: '' };
    await backend.call('get_profile');
    await backend.call('set_profile', profile);
    await backend.call('list_peers');
    await backend.call('connect', { addr: '/ip4/1.2.3.4/tcp/1' });
    await backend.call('block_peer', { peer_id: '12D3Koo/x' });
    await backend.call('unblock_peer', { peer_id: 'P2' });
    await backend.call('get_settings');
    await backend.call('add_bootstrap', { addr: '/dns/a/tcp/1' });
    await backend.call('remove_bootstrap', { addr: '/dns/a/tcp/1' });
    await backend.call('events_since', { since: 7 });
    expect(routes(calls)).toEqual([
      'POST /api/get_profile',
      'POST /api/set_profile',
      'POST /api/list_peers',
      'POST /api/connect',
      'POST /api/block_peer',
      'POST /api/unblock_peer',
      'POST /api/get_settings',
      'POST /api/add_bootstrap',
      'POST /api/remove_bootstrap',
      'POST /api/events_since',
    ]);
    expect(calls.map((c) => c.body)).toEqual([
      undefined,
      profile,
      undefined,
      { addr: '/ip4/1.2.3.4/tcp/1' },
      { peer_id: '12D3Koo/x' },
      { peer_id: 'P2' },
      undefined,
      { addr: '/dns/a/tcp/1' },
      { addr: '/dns/a/tcp/1' },
      { since: 7 },
    ]);
    expect(calls[1]!.headers['Content-Type']).toBe('application/json');
    expect(calls[0]!.headers['Content-Type']).toBeUndefined();
    expect(calls.every((c) => c.headers.Authorization === 'Bearer tok-123')).toBe(true);
  });

  it('reaches every declared command the same way, with nothing special per command', async () => {
    const { backend, calls } = backendWith(() => jsonResponse(200, null));
    // The request's content does not matter to the transport: it goes as it is.
    const send = backend.call as (cmd: CommandName, req?: unknown) => Promise<unknown>;
    for (const name of COMMAND_NAMES) await send.call(backend, name, { probe: name });
    expect(routes(calls)).toEqual(COMMAND_NAMES.map((n) => `POST /api/${n}`));
    expect(calls.map((c) => c.body)).toEqual(COMMAND_NAMES.map((n) => ({ probe: n })));
  });

  it('throws ApiError with the code and message of the error body', async () => {
    const { backend } = backendWith(() =>
      jsonResponse(400, { code: 'bad_request', message: 'invalid multiaddr' }),
    );
    const err = await backend.call('connect', { addr: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'bad_request', message: 'invalid multiaddr', status: 400 });
  });

  it('maps a 401 without a body to unauthorized', async () => {
    const { backend } = backendWith(() => new Response('', { status: 401 }));
    await expect(backend.call('status')).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('maps a network failure to unavailable', async () => {
    const { backend } = backendWith(() => Promise.reject(new TypeError('Failed to fetch')));
    await expect(backend.call('list_peers')).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('rejects a 200 whose body is not JSON', async () => {
    const { backend } = backendWith(() => new Response('<html>', { status: 200 }));
    await expect(backend.call('status')).rejects.toMatchObject({ code: 'internal' });
  });
});

describe('HttpBackend catalog requests', () => {
  const ID = '0123456789abcdef0123456789abcdef01234567';

  it('posts every command to /api/<name> with its request as the body', async () => {
    const { backend, calls } = backendWith(() => jsonResponse(200, {}));
    const publish = { path: '/home/ada/notes.pdf', title: 'Notes', description: null, kind: null, tags: ['a'] };
    const update = { content_id: ID, title: 'T', description: 'D', kind: 'paper' as const, tags: [] };
    const search = { text: 'engine', kinds: [], author: null, available_only: true, sort: 'newest' as const, offset: 30, limit: 30 };
    const dl = { content_id: ID, magnet: null, peers: [] };
    const id = { content_id: ID };
    await backend.call('publish', publish);
    await backend.call('unpublish', id);
    await backend.call('update_resource', update);
    await backend.call('search', search);
    await backend.call('get_resource', id);
    await backend.call('list_holders', id);
    await backend.call('start_download', dl);
    await backend.call('pause_download', id);
    await backend.call('resume_download', id);
    await backend.call('cancel_download', id);
    await backend.call('list_downloads');
    await backend.call('open_folder', id);
    await backend.call('get_library');
    await backend.call('add_shared_folder', { path: '/srv/share' });
    await backend.call('remove_shared_folder', { path: '/srv/share' });
    await backend.call('catalog_stats');
    expect(routes(calls)).toEqual([
      'POST /api/publish',
      'POST /api/unpublish',
      'POST /api/update_resource',
      'POST /api/search',
      'POST /api/get_resource',
      'POST /api/list_holders',
      'POST /api/start_download',
      'POST /api/pause_download',
      'POST /api/resume_download',
      'POST /api/cancel_download',
      'POST /api/list_downloads',
      'POST /api/open_folder',
      'POST /api/get_library',
      'POST /api/add_shared_folder',
      'POST /api/remove_shared_folder',
      'POST /api/catalog_stats',
    ]);
    expect(calls.map((c) => c.body)).toEqual([
      publish,
      id,
      update,
      search,
      id,
      id,
      dl,
      id,
      id,
      id,
      undefined,
      id,
      undefined,
      { path: '/srv/share' },
      { path: '/srv/share' },
      undefined,
    ]);
    expect(calls.every((c) => c.headers.Authorization === 'Bearer tok-123')).toBe(true);
    expect(calls.filter((c) => c.body !== undefined).every((c) => c.headers['Content-Type'] === 'application/json')).toBe(true);
  });

  it('carries ids in the JSON body, never in the path', async () => {
    const { backend, calls } = backendWith(() => jsonResponse(200, []));
    await backend.call('list_holders', { content_id: '../x?y' });
    expect(calls[0]!.url).toBe(`${BASE}/api/list_holders`);
    expect(calls[0]!.body).toEqual({ content_id: '../x?y' });
  });

  it('returns the folder path of open_folder, and null for the download actions', async () => {
    const { backend } = backendWith((c) => jsonResponse(200, c.url.endsWith('open_folder') ? '/home/me/Downloads' : null));
    await expect(backend.call('open_folder', { content_id: ID })).resolves.toBe('/home/me/Downloads');
    await expect(backend.call('pause_download', { content_id: ID })).resolves.toBeNull();
    await expect(backend.call('unpublish', { content_id: ID })).resolves.toBeNull();
  });

  it('maps error bodies of catalog routes', async () => {
    const { backend } = backendWith(() => jsonResponse(404, { code: 'not_found', message: 'no such resource' }));
    await expect(backend.call('get_resource', { content_id: ID })).rejects.toMatchObject({ code: 'not_found', message: 'no such resource', status: 404 });
    const { backend: b2 } = backendWith(() => jsonResponse(409, { code: 'conflict', message: 'already downloading' }));
    await expect(b2.call('start_download', { content_id: ID, magnet: null, peers: [] })).rejects.toBeInstanceOf(ApiError);
  });

  it('has no path drops in a browser', () => {
    const { backend } = backendWith(() => jsonResponse(200, null));
    expect(backend.watchFileDrops(() => {})).toBeNull();
    expect(backend.pickFiles).toBeNull();
  });
});

describe('HttpBackend media, follows and mirrors', () => {
  const ID = '0123456789abcdef0123456789abcdef01234567';
  const HASH = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';
  const PEER = '12D3KooWPeer';

  it('posts every command to /api/<name> with its request as the body', async () => {
    const { backend, calls } = backendWith(() => jsonResponse(200, []));
    const preview = { content_id: ID, thumbnail: '/9j/4AAQ', duration_ms: 61_000 };
    await backend.call('list_follows');
    await backend.call('follow', { peer_id: PEER });
    await backend.call('unfollow', { peer_id: PEER });
    await backend.call('set_mirror', { peer_id: PEER, on: true });
    await backend.call('set_mirror', { peer_id: PEER, on: false });
    await backend.call('set_mirror_quota', { bytes: 5_000_000_000 });
    await backend.call('set_preview', preview);
    await backend.call('open_file', { content_id: ID });
    expect(routes(calls)).toEqual([
      'POST /api/list_follows',
      'POST /api/follow',
      'POST /api/unfollow',
      'POST /api/set_mirror',
      'POST /api/set_mirror',
      'POST /api/set_mirror_quota',
      'POST /api/set_preview',
      'POST /api/open_file',
    ]);
    expect(calls.map((c) => c.body)).toEqual([
      undefined,
      { peer_id: PEER },
      { peer_id: PEER },
      { peer_id: PEER, on: true },
      { peer_id: PEER, on: false },
      { bytes: 5_000_000_000 },
      preview,
      { content_id: ID },
    ]);
    expect(calls.every((c) => c.headers.Authorization === 'Bearer tok-123')).toBe(true);
  });

  it('returns the follows, the settings and the file path the node answers', async () => {
    const follows = [{ peer_id: PEER, name: 'Ada', online: true, mirror: true, since_ms: 1, mirrored_items: 2, mirrored_bytes: 9 }];
    const { backend } = backendWith((c) =>
      jsonResponse(200, c.url.endsWith('open_file') ? '/home/me/Downloads/film.mkv' : c.url.endsWith('mirror_quota') ? { mirror_quota_bytes: 7 } : follows),
    );
    await expect(backend.call('set_mirror', { peer_id: PEER, on: true })).resolves.toEqual(follows);
    await expect(backend.call('set_mirror_quota', { bytes: 7 })).resolves.toEqual({ mirror_quota_bytes: 7 });
    await expect(backend.call('open_file', { content_id: ID })).resolves.toBe('/home/me/Downloads/film.mkv');
  });

  it('maps a refused follow to an ApiError', async () => {
    const { backend } = backendWith(() => jsonResponse(400, { code: 'bad_request', message: 'that is you' }));
    await expect(backend.call('follow', { peer_id: PEER })).rejects.toMatchObject({ code: 'bad_request', message: 'that is you' });
  });

  it('builds media and thumbnail addresses with the token in the query (no fetch)', async () => {
    const { backend, calls } = backendWith(() => jsonResponse(200, null));
    await expect(backend.mediaUrl(ID)).resolves.toBe(`${BASE}/media/${ID}?token=tok-123`);
    await expect(backend.mediaUrl(ID, 0)).resolves.toBe(`${BASE}/media/${ID}?token=tok-123`);
    await expect(backend.mediaUrl(ID, 2)).resolves.toBe(`${BASE}/media/${ID}/2?token=tok-123`);
    expect(backend.thumbnailUrl(ID, HASH)).toBe(`${BASE}/thumbs/${ID}/${HASH}?token=tok-123`);
    expect(backend.avatarUrl(HASH)).toBe(`${BASE}/avatars/${HASH}?token=tok-123`);
    expect(calls).toHaveLength(0);
  });

  it('escapes what goes into media addresses', async () => {
    const backend = new HttpBackend({ baseUrl: BASE, token: 'a b&c', fetch: vi.fn() });
    await expect(backend.mediaUrl('../x')).resolves.toBe(`${BASE}/media/..%2Fx?token=a%20b%26c`);
    expect(backend.thumbnailUrl(ID, 'h/../y')).toBe(`${BASE}/thumbs/${ID}/h%2F..%2Fy?token=a%20b%26c`);
  });
});

/** An XMLHttpRequest stand-in driven by the test. */
class FakeXhr implements XhrLike {
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: Blob | null = null;
  status = 0;
  statusText = '';
  responseText = '';
  upload: XhrLike['upload'] = { onprogress: null };
  onload: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onabort: ((ev: unknown) => void) | null = null;
  ontimeout: ((ev: unknown) => void) | null = null;
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send(body: Blob) {
    this.body = body;
  }
  abort() {
    this.onabort?.({});
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true });
  }
  respond(status: number, body: unknown, statusText = '') {
    this.status = status;
    this.statusText = statusText;
    this.responseText = body === undefined ? '' : JSON.stringify(body);
    this.onload?.({});
  }
}

function uploadHarness() {
  const xhrs: FakeXhr[] = [];
  const backend = new HttpBackend({
    baseUrl: BASE,
    token: 'tok-123',
    fetch: () => Promise.reject(new Error('uploads do not use fetch')),
    createXhr: () => {
      const x = new FakeXhr();
      xhrs.push(x);
      return x;
    },
  });
  return { backend, xhrs };
}

describe('HttpBackend chat requests', () => {
  const ROOM = 'ab'.repeat(32);
  const PEER = '12D3KooWPeer';

  it('posts every command to /api/<name> with its request as the body', async () => {
    const { backend, calls } = backendWith(() => jsonResponse(200, {}));
    const room = { room_id: ROOM };
    await backend.call('chat_status');
    await backend.call('unlock_chat', { passphrase: 'correct horse' });
    await backend.call('change_passphrase', { old: 'correct horse', new: 'battery staple' });
    await backend.call('list_rooms');
    await backend.call('create_room', { name: 'Reading group', members: [PEER] });
    await backend.call('get_room', room);
    await backend.call('rename_room', { room_id: ROOM, name: 'Book club' });
    await backend.call('invite', { room_id: ROOM, peer_id: PEER });
    await backend.call('leave_room', room);
    await backend.call('delete_room', room);
    await backend.call('send_message', { room_id: ROOM, body: 'hello' });
    await backend.call('room_history', { room_id: ROOM, before: 17, limit: 100 });
    await backend.call('mark_room_read', room);
    await backend.call('list_dms');
    await backend.call('send_dm', { peer_id: PEER, body: 'hi' });
    await backend.call('dm_history', { peer_id: PEER, before: null, limit: 100 });
    await backend.call('mark_dm_read', { peer_id: PEER });
    expect(routes(calls)).toEqual([
      'POST /api/chat_status',
      'POST /api/unlock_chat',
      'POST /api/change_passphrase',
      'POST /api/list_rooms',
      'POST /api/create_room',
      'POST /api/get_room',
      'POST /api/rename_room',
      'POST /api/invite',
      'POST /api/leave_room',
      'POST /api/delete_room',
      'POST /api/send_message',
      'POST /api/room_history',
      'POST /api/mark_room_read',
      'POST /api/list_dms',
      'POST /api/send_dm',
      'POST /api/dm_history',
      'POST /api/mark_dm_read',
    ]);
    expect(calls.map((c) => c.body)).toEqual([
      undefined,
      { passphrase: 'correct horse' },
      { old: 'correct horse', new: 'battery staple' },
      undefined,
      { name: 'Reading group', members: [PEER] },
      room,
      { room_id: ROOM, name: 'Book club' },
      { room_id: ROOM, peer_id: PEER },
      room,
      room,
      { room_id: ROOM, body: 'hello' },
      { room_id: ROOM, before: 17, limit: 100 },
      room,
      undefined,
      { peer_id: PEER, body: 'hi' },
      { peer_id: PEER, before: null, limit: 100 },
      { peer_id: PEER },
    ]);
    expect(calls.every((c) => c.headers.Authorization === 'Bearer tok-123')).toBe(true);
  });

  it('returns null for the commands that answer nothing, and maps a locked chat to unavailable', async () => {
    const { backend } = backendWith(() => jsonResponse(200, null));
    await expect(backend.call('mark_room_read', { room_id: ROOM })).resolves.toBeNull();
    await expect(backend.call('invite', { room_id: ROOM, peer_id: PEER })).resolves.toBeNull();
    await expect(backend.call('change_passphrase', { old: 'a', new: 'b' })).resolves.toBeNull();
    const { backend: locked } = backendWith(() => jsonResponse(503, { code: 'unavailable', message: 'chat is locked' }));
    await expect(locked.call('list_rooms')).rejects.toMatchObject({ code: 'unavailable', message: 'chat is locked' });
    const { backend: wrong } = backendWith(() => jsonResponse(403, { code: 'forbidden', message: 'wrong passphrase' }));
    await expect(wrong.call('unlock_chat', { passphrase: 'nope' })).rejects.toMatchObject({ message: 'wrong passphrase' });
  });

  it('carries the room id in the body', async () => {
    const { backend, calls } = backendWith(() => jsonResponse(200, {}));
    await backend.call('get_room', { room_id: 'a/b' });
    expect(calls[0]!.url).toBe(`${BASE}/api/get_room`);
    expect(calls[0]!.body).toEqual({ room_id: 'a/b' });
  });

  it("shows notifications through the browser's Notification API, once allowed", async () => {
    const { backend } = backendWith(() => jsonResponse(200, {}));
    const had = Object.getOwnPropertyDescriptor(globalThis, 'Notification');
    try {
      // @ts-expect-error: a browser without notifications
      delete globalThis.Notification;
      expect(backend.notificationPermission()).toBe('unsupported');
      await expect(backend.askNotifications()).resolves.toBe('unsupported');
      backend.notify('nothing', 'happens');

      const shown: { title: string; body?: string }[] = [];
      class FakeNotification {
        static permission: NotificationPermission = 'default';
        static requestPermission = vi.fn(async () => {
          FakeNotification.permission = 'granted';
          return 'granted' as NotificationPermission;
        });
        constructor(title: string, options?: NotificationOptions) {
          shown.push({ title, body: options?.body });
        }
      }
      Object.defineProperty(globalThis, 'Notification', { value: FakeNotification, configurable: true, writable: true });
      expect(backend.notificationPermission()).toBe('default');
      backend.notify('too early', 'not allowed yet');
      expect(shown).toEqual([]);
      await expect(backend.askNotifications()).resolves.toBe('granted');
      backend.notify('Download finished', 'Field notes');
      expect(shown).toEqual([{ title: 'Download finished', body: 'Field notes' }]);
    } finally {
      if (had) Object.defineProperty(globalThis, 'Notification', had);
      // @ts-expect-error: restoring the absence
      else delete globalThis.Notification;
    }
  });
});

describe('HttpBackend upload', () => {
  const file = () => new File([new Uint8Array(1000)], 'Émile & co, notes.pdf', { type: 'application/pdf' });

  it('posts the raw file with its name and description in the query, reporting progress', async () => {
    const { backend, xhrs } = uploadHarness();
    const progress: [number, number][] = [];
    const f = file();
    const done = backend.upload(
      f,
      { title: 'Notes, vol. 1', description: 'line one\nline two', kind: 'paper', tags: ['history', 'a,b', ' '] },
      (sent, total) => progress.push([sent, total]),
    );
    const x = xhrs[0]!;
    expect(x.method).toBe('POST');
    const url = new URL(x.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${BASE}/api/upload`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      name: 'Émile & co, notes.pdf',
      title: 'Notes, vol. 1',
      description: 'line one\nline two',
      kind: 'paper',
      tags: 'history,a b',
    });
    expect(x.headers).toEqual({
      Authorization: 'Bearer tok-123',
      Accept: 'application/json',
      'Content-Type': 'application/octet-stream',
    });
    expect(x.body).toBe(f);
    x.progress(400, 1000);
    x.progress(1000, 1000);
    const created = { content_id: 'c', title: 'Notes, vol. 1' };
    x.respond(200, created);
    await expect(done).resolves.toEqual(created);
    expect(progress).toEqual([
      [0, 1000],
      [400, 1000],
      [1000, 1000],
      [1000, 1000],
    ]);
  });

  it('leaves out what the node should fill in', async () => {
    const { backend, xhrs } = uploadHarness();
    void backend.upload(file(), {}).catch(() => {});
    expect([...new URL(xhrs[0]!.url).searchParams.keys()]).toEqual(['name']);
  });

  it('maps an error response', async () => {
    const { backend, xhrs } = uploadHarness();
    const done = backend.upload(file(), {});
    xhrs[0]!.respond(413, { code: 'bad_request', message: 'file too large' });
    await expect(done).rejects.toMatchObject({ code: 'bad_request', message: 'file too large', status: 413 });
    const again = backend.upload(file(), {});
    xhrs[1]!.respond(401, undefined, 'Unauthorized');
    await expect(again).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('maps a lost connection to unavailable', async () => {
    const { backend, xhrs } = uploadHarness();
    const done = backend.upload(file(), {});
    xhrs[0]!.onerror?.({});
    await expect(done).rejects.toMatchObject({ code: 'unavailable' });
    const aborted = backend.upload(file(), {});
    xhrs[1]!.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('rejects a success that is not JSON', async () => {
    const { backend, xhrs } = uploadHarness();
    const done = backend.upload(file(), {});
    xhrs[0]!.status = 200;
    xhrs[0]!.responseText = '<html>';
    xhrs[0]!.onload?.({});
    await expect(done).rejects.toMatchObject({ code: 'internal' });
  });
});

/** A WebSocket stand-in driven by the test. */
class FakeSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {}
  open() {
    this.onopen?.({});
  }
  send(e: Event) {
    this.onmessage?.({ data: JSON.stringify(e) });
  }
  drop() {
    this.onerror?.({});
    this.onclose?.({});
  }
  close() {
    this.closed = true;
  }
}

function streamHarness() {
  const sockets: FakeSocket[] = [];
  const clock = manualTimers();
  const backend = new HttpBackend({
    baseUrl: BASE,
    token: 'tok 1',
    fetch: () => Promise.reject(new Error('no fetch in stream tests')),
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
  });
  const events: Event[] = [];
  const states: boolean[] = [];
  const unsubscribe = backend.subscribe(
    (e) => events.push(e),
    (c) => states.push(c),
  );
  return { backend, sockets, timers: clock.timers, events, states, unsubscribe, fireTimer: clock.fire };
}

const online = (id: number, peer = 'A'): Event => ({ id, time_ms: id * 1000, type: 'peer_online', peer: peerInfo(peer, null) });

describe('HttpBackend event stream', () => {
  it('connects to the same host with since and token', () => {
    const h = streamHarness();
    const url = new URL(h.sockets[0]!.url);
    expect(url.protocol).toBe('ws:');
    expect(url.host).toBe('127.0.0.1:4321');
    expect(url.pathname).toBe('/api/events/ws');
    expect(url.searchParams.get('since')).toBe('0');
    expect(url.searchParams.get('token')).toBe('tok 1');
    h.unsubscribe();
  });

  it('uses wss for an https page', () => {
    const b = new HttpBackend({ baseUrl: 'https://node.example:8443', token: 't' });
    expect(b.eventsSocketUrl(5)).toBe('wss://node.example:8443/api/events/ws?since=5&token=t');
  });

  it('delivers events and resumes after the last id when reconnecting', () => {
    const h = streamHarness();
    h.sockets[0]!.open();
    h.sockets[0]!.send(online(1));
    h.sockets[0]!.send(online(2, 'B'));
    expect(h.events.map((e) => e.id)).toEqual([1, 2]);
    expect(h.states).toEqual([true]);

    h.sockets[0]!.drop();
    expect(h.states).toEqual([true, false]);
    expect(h.sockets).toHaveLength(1); // waits before reconnecting
    h.fireTimer();
    expect(h.sockets).toHaveLength(2);
    expect(new URL(h.sockets[1]!.url).searchParams.get('since')).toBe('2');

    h.sockets[1]!.open();
    expect(h.states).toEqual([true, false, true]);
    h.sockets[1]!.send(online(3));
    expect(h.events.map((e) => e.id)).toEqual([1, 2, 3]);
    expect(h.backend.lastEventId).toBe(3);
    h.unsubscribe();
  });

  it('follows the node after a resync, even when ids start again', () => {
    const h = streamHarness();
    h.sockets[0]!.open();
    h.sockets[0]!.send(online(40));
    h.sockets[0]!.drop();
    h.fireTimer();
    h.sockets[1]!.open();
    h.sockets[1]!.send({ id: 3, time_ms: 1, type: 'resync' });
    expect(h.events.at(-1)!.type).toBe('resync');
    expect(h.backend.lastEventId).toBe(3);
    h.sockets[1]!.drop();
    h.fireTimer();
    expect(new URL(h.sockets[2]!.url).searchParams.get('since')).toBe('3');
    h.unsubscribe();
  });

  it('backs off between failed attempts, capped at 5 s, and resets after success', () => {
    const h = streamHarness();
    h.sockets[0]!.drop(); // first attempt fails before opening
    expect(h.states).toEqual([false]);
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      delays.push(h.fireTimer());
      h.sockets.at(-1)!.drop();
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
    expect(h.states).toEqual([false]); // reported once, not on every failure
    h.fireTimer();
    h.sockets.at(-1)!.open();
    h.sockets.at(-1)!.drop();
    expect(h.fireTimer()).toBe(250);
    h.unsubscribe();
  });

  it('ignores frames that are not events', () => {
    const h = streamHarness();
    h.sockets[0]!.open();
    h.sockets[0]!.onmessage!({ data: 'not json' });
    h.sockets[0]!.onmessage!({ data: '{"hello":1}' });
    h.sockets[0]!.onmessage!({ data: new ArrayBuffer(2) });
    expect(h.events).toEqual([]);
    h.unsubscribe();
  });

  it('stops reconnecting after unsubscribe', () => {
    const h = streamHarness();
    h.sockets[0]!.open();
    h.sockets[0]!.drop();
    expect(h.timers).toHaveLength(1);
    h.unsubscribe();
    expect(h.timers).toHaveLength(0);
    expect(h.sockets).toHaveLength(1);

    const h2 = streamHarness();
    h2.sockets[0]!.open();
    h2.unsubscribe();
    expect(h2.sockets[0]!.closed).toBe(true);
    h2.sockets[0]!.onclose?.({}); // handlers are detached
    expect(h2.timers).toHaveLength(0);
  });

  it('computes the backoff schedule', () => {
    expect([0, 1, 2, 3, 4, 5, 50].map((a) => backoffDelay(a))).toEqual([
      250, 500, 1000, 2000, 4000, 5000, 5000,
    ]);
  });
});
