// A stand-in for a headless Hearth node, for looking at the UI without the real binary:
// serves ../../dist with the production CSP, a fake HTTP API and the WebSocket event stream.
// It is a development aid only; the end-to-end tests run real nodes.
//
//   npm run build && node e2e/mock/mock-node.mjs [port]
//   then open the printed http://127.0.0.1:PORT/#token=… address
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CSP } from '../lib/csp.mjs';
import { createCatalog } from './catalog.mjs';
import { createChat } from './chat.mjs';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const SELF = '12D3KooWHeArThS3lfN0d3xYz9aBcDeFgHiJkLmNoPqRsTuV';

function fakePeers(now) {
  const p = (peer_id, profile, extra) => ({
    peer_id,
    profile,
    addrs: [`/ip4/192.0.2.${peer_id.length}/tcp/4001`],
    rtt_ms: 12.4,
    online: true,
    connected: true,
    last_seen_ms: now,
    blocked: false,
    ...extra,
  });
  return [
    p('12D3KooWAdaLoveLaceAnalyticalEngine000000000001', {
      display_name: 'Ada Lovelace',
      affiliation: 'Analytical Engine Society',
      bio: 'Notes on the Analytical Engine, Bernoulli numbers and the poetry of science. Sharing my translations and annotations.',
    }),
    p('12D3KooWGraceHopperCobolCompiler00000000000002', {
      display_name: 'Grace Hopper',
      affiliation: 'US Navy · Harvard Computation Lab',
      bio: 'Compilers, nanoseconds and debugging moths.',
    }, { connected: false, rtt_ms: null }),
    p('12D3KooWNoProfileYetNoProfileYetNoProfile00003', null, { rtt_ms: 87 }),
    p('12D3KooWEmmyNoetherRingTheory000000000000004', {
      display_name: 'Emmy Noether',
      affiliation: 'Göttingen',
      bio: '<img src=x onerror=alert(1)> Symmetries and conservation laws. <script>alert("xss")</script>',
    }, { online: false, connected: false, rtt_ms: null, last_seen_ms: now - 42 * 60_000 }),
    p('12D3KooWSpammySpammySpammySpammySpammy00000005', {
      display_name: 'Spam Bot',
      affiliation: '',
      bio: 'Buy now!',
    }, { blocked: true, online: false, connected: false, rtt_ms: null, last_seen_ms: now - 3 * 86_400_000 }),
  ];
}

export async function startMockNode({ port = 0, token = 'mock-token-' + Math.random().toString(36).slice(2) } = {}) {
  const started = Date.now();
  let profile = { display_name: '', affiliation: '', bio: '' };
  const peers = new Map(fakePeers(started).map((p) => [p.peer_id, p]));
  let settings = {
    bootstrap: ['/dns4/boot.example.org/tcp/4001/p2p/12D3KooWBootBootBootBootBootBootBootBootBoot01'],
    mdns: true,
    listen: ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/udp/0/quic-v1'],
    data_dir: '~/.local/share/hearth',
    download_dir: '~/.local/share/hearth/downloads',
    mirror_quota_bytes: 20 * 1024 ** 3,
    mirror_used_bytes: 0,
  };
  const events = [];
  let nextId = 1;
  const sockets = new Set();

  const emit = (kind) => {
    const e = { id: nextId++, time_ms: Date.now(), ...kind };
    events.push(e);
    if (events.length > 500) events.shift();
    for (const s of sockets) sendText(s, JSON.stringify(e));
  };

  const status = () => ({
    peer_id: SELF,
    version: '0.1.0',
    profile,
    listen_addrs: [
      `/ip4/127.0.0.1/tcp/4001/p2p/${SELF}`,
      `/ip4/192.168.1.20/udp/4001/quic-v1/p2p/${SELF}`,
    ],
    peers_online: [...peers.values()].filter((p) => p.online).length,
    peers_connected: [...peers.values()].filter((p) => p.connected).length,
    uptime_secs: Math.floor((Date.now() - started) / 1000) + 3725,
    nat: 'private',
    bt_port: 42000,
  });

  const fail = (res, status, code, message) => json(res, status, { code, message });
  const json = (res, status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const catalog = createCatalog({
    self: { id: SELF, name: () => profile.display_name || null },
    peers,
    emit,
    now: started,
  });
  const chat = createChat({
    self: { id: SELF, name: () => profile.display_name || null },
    peers,
    emit,
    now: started,
  });
  const readRaw = (req) =>
    new Promise((resolve) => {
      let n = 0;
      req.on('data', (c) => (n += c.length));
      req.on('end', () => resolve(n));
    });
  const readBody = (req) =>
    new Promise((resolve) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        try {
          resolve(data ? JSON.parse(data) : null);
        } catch {
          resolve(undefined);
        }
      });
    });

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const thumb = /^\/thumbs\/[0-9a-f]{40}\/([0-9a-f]{64})$/.exec(url.pathname);
    if (thumb) {
      const png = catalog.thumbnail(thumb[1]);
      if (url.searchParams.get('token') !== token) return fail(res, 401, 'unauthorized', 'missing or wrong token');
      if (!png) return fail(res, 404, 'not_found', 'no such thumbnail');
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'private, max-age=31536000, immutable' });
      return res.end(png);
    }
    if (url.pathname.startsWith('/api/')) {
      if (req.headers.authorization !== `Bearer ${token}`) {
        return fail(res, 401, 'unauthorized', 'missing or wrong token');
      }
      const route = `${req.method} ${url.pathname}`;
      const blockMatch = /^\/api\/peers\/([^/]+)\/block$/.exec(url.pathname);
      if (route === 'GET /api/status') return json(res, 200, status());
      if (route === 'GET /api/profile') return json(res, 200, profile);
      if (route === 'PUT /api/profile') {
        const body = await readBody(req);
        if (!body || typeof body.display_name !== 'string') return fail(res, 400, 'bad_request', 'invalid profile');
        if (body.display_name.length > 64) return fail(res, 400, 'bad_request', 'display name is longer than 64 characters');
        profile = { display_name: body.display_name, affiliation: body.affiliation ?? '', bio: body.bio ?? '' };
        emit({ type: 'profile_changed', peer_id: SELF, profile });
        return json(res, 200, profile);
      }
      if (route === 'GET /api/peers') return json(res, 200, [...peers.values()]);
      if (route === 'POST /api/peers/connect') {
        const body = await readBody(req);
        if (!body?.addr?.startsWith('/')) return fail(res, 400, 'bad_request', 'invalid multiaddr');
        return json(res, 200, null);
      }
      if (blockMatch && (req.method === 'POST' || req.method === 'DELETE')) {
        const p = peers.get(decodeURIComponent(blockMatch[1]));
        if (!p) return fail(res, 404, 'not_found', 'unknown peer');
        p.blocked = req.method === 'POST';
        emit({ type: 'peer_updated', peer: { ...p } });
        return json(res, 200, null);
      }
      if (route === 'GET /api/settings') return json(res, 200, settings);
      if (route === 'GET /api/follows') return json(res, 200, []);
      if (route === 'GET /api/follows') return json(res, 200, []);
      if (route === 'POST /api/settings/bootstrap' || route === 'POST /api/settings/bootstrap/remove') {
        const body = await readBody(req);
        if (!body?.addr?.startsWith('/')) return fail(res, 400, 'bad_request', 'invalid multiaddr');
        const rest = settings.bootstrap.filter((a) => a !== body.addr);
        settings = { ...settings, bootstrap: route.endsWith('remove') ? rest : [...rest, body.addr] };
        return json(res, 200, settings);
      }
      if (route === 'GET /api/events') {
        const since = Number(url.searchParams.get('since') ?? 0);
        return json(res, 200, events.filter((e) => e.id > since));
      }
      const handled = await catalog.handle(route, url, req, res, { json, fail, readBody, readRaw });
      if (handled !== false) return;
      const chatHandled = await chat.handle(route, url, req, res, { json, fail, readBody });
      if (chatHandled !== false) return;
      return fail(res, 404, 'not_found', 'no such route');
    }
    // static files
    const rel = url.pathname === '/' ? 'index.html' : normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, '');
    if (rel.includes('..')) return fail(res, 400, 'bad_request', 'bad path');
    try {
      const body = await readFile(join(DIST, rel));
      res.writeHead(200, {
        'Content-Type': TYPES[extname(rel)] ?? 'application/octet-stream',
        'Content-Security-Policy': CSP,
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });

  // Minimal WebSocket server: handshake, server-to-client text frames, close on any client frame.
  server.on('upgrade', (req, socket) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname !== '/api/events/ws' || url.searchParams.get('token') !== token) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    const accept = createHash('sha1')
      .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const since = Number(url.searchParams.get('since') ?? 0);
    const oldest = events[0]?.id ?? nextId;
    if (since > nextId - 1 || since < oldest - 1) {
      sendText(socket, JSON.stringify({ id: nextId - 1, time_ms: Date.now(), type: 'resync' }));
    } else {
      for (const e of events) if (e.id > since) sendText(socket, JSON.stringify(e));
    }
    sockets.add(socket);
    socket.on('data', (buf) => {
      if ((buf[0] & 0x0f) === 0x8) socket.end();
    });
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => sockets.delete(socket));
  });

  // Some life: RTT changes now and then.
  const tick = setInterval(() => {
    const p = peers.get('12D3KooWAdaLoveLaceAnalyticalEngine000000000001');
    p.rtt_ms = 8 + Math.random() * 20;
    p.last_seen_ms = Date.now();
    emit({ type: 'peer_updated', peer: { ...p } });
  }, 3000);

  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    url: base,
    token,
    pageUrl: `${base}/#token=${token}`,
    peers,
    catalog,
    chat,
    emit,
    /** Drops every live event socket (to show the reconnect banner). */
    dropSockets() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    async close() {
      clearInterval(tick);
      catalog.close();
      chat.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function sendText(socket, text) {
  const payload = Buffer.from(text);
  let header;
  if (payload.length < 126) header = Buffer.from([0x81, payload.length]);
  else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x81;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x81;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  socket.write(Buffer.concat([header, payload]));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const node = await startMockNode({ port: Number(process.argv[2] ?? 0) });
  console.log(`mock node: ${node.pageUrl}`);
}
