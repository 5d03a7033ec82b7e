// The fake node with some life, for looking at the UI without a real node (the screenshot
// tool, `e2e/shoot.mjs`, boots the app on it: see `src/main.tsx`). Known peers, a catalog
// with thumbnails, downloads that progress on a timer, a locked chat with history, and
// replies that arrive on their own. A development aid only; the unit tests use the plain
// fake node and the end-to-end tests real nodes.
import type { ChatMessage, Download, PeerInfo, Resource } from '../../api/types';
import { download, resource, settings, status } from './builders';
import { FakeNode } from './node';

export const DEMO_SELF = '12D3KooWHeArThS3lfN0d3xYz9aBcDeFgHiJkLmNoPqRsTuV';
export const ADA = '12D3KooWAdaLoveLaceAnalyticalEngine000000000001';
export const GRACE = '12D3KooWGraceHopperCobolCompiler00000000000002';
export const NO_PROFILE = '12D3KooWNoProfileYetNoProfileYetNoProfile00003';
export const EMMY = '12D3KooWEmmyNoetherRingTheory000000000000004';
export const SPAM = '12D3KooWSpammySpammySpammySpammySpammy00000005';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** A content id from a seed (40 hex digits, stable across runs). */
function contentId(seed: string): string {
  let h = 0x811c9dc5;
  let out = '';
  for (let round = 0; out.length < 40; round++) {
    for (const c of seed + round) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out.slice(0, 40);
}

/** A soft two-colour gradient, as an image address (`data:` is allowed by the CSP). */
function gradient(from: string, to: string): string {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48">` +
    `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">` +
    `<stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient></defs>` +
    `<rect width="48" height="48" fill="url(#g)"/></svg>`;
  return `data:image/svg+xml;base64,${btoa(svg)}`;
}

function peers(now: number): PeerInfo[] {
  const p = (peer_id: string, profile: PeerInfo['profile'], extra: Partial<PeerInfo> = {}): PeerInfo => ({
    peer_id,
    profile,
    addrs: [`/ip4/192.0.2.${peer_id.length}/tcp/4001`],
    rtt_ms: 12.4,
    online: true,
    connected: true,
    last_seen_ms: now,
    blocked: false,
    connection: 'direct',
    relay: null,
    last_dial_error: null,
    hole_punch_error: null,
    ...extra,
  });
  return [
    p(ADA, {
      display_name: 'Ada Lovelace',
      affiliation: 'Analytical Engine Society',
      bio: 'Notes on the Analytical Engine, Bernoulli numbers and the poetry of science. Sharing my translations and annotations.',
    }),
    p(GRACE, { display_name: 'Grace Hopper', affiliation: 'US Navy · Harvard Computation Lab', bio: 'Compilers, nanoseconds and debugging moths.' }, { connected: false, connection: null, rtt_ms: null }),
    p(NO_PROFILE, null, { rtt_ms: 87 }),
    p(
      EMMY,
      {
        display_name: 'Emmy Noether',
        affiliation: 'Göttingen',
        bio: '<img src=x onerror=alert(1)> Symmetries and conservation laws. <script>alert("xss")</script>',
      },
      { online: false, connected: false, connection: null, rtt_ms: null, last_seen_ms: now - 42 * MIN },
    ),
    p(SPAM, { display_name: 'Spam Bot', affiliation: '', bio: 'Buy now!' }, { blocked: true, online: false, connected: false, connection: null, rtt_ms: null, last_seen_ms: now - 3 * DAY }),
  ];
}

/** A fake node with demo data and timers; `stop()` ends its timers. */
export function demoNode(now = Date.now()): FakeNode & { stop(): void } {
  const node = new FakeNode();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const ticking = new Map<string, ReturnType<typeof setInterval>>();

  // ---- the node, its peers and settings ----
  node.statusNow = status({
    peer_id: DEMO_SELF,
    listen_addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${DEMO_SELF}`, `/ip4/192.168.1.20/udp/4001/quic-v1/p2p/${DEMO_SELF}`],
    uptime_secs: 3725,
    nat: 'private',
    bt_port: 42000,
  });
  node.profile = { display_name: '', affiliation: '', bio: '' };
  node.peers = peers(now);
  node.settingsNow = settings({
    bootstrap: ['/dns4/boot.example.org/tcp/4001/p2p/12D3KooWBootBootBootBootBootBootBootBootBoot01'],
    mdns: true,
    listen: ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/udp/0/quic-v1'],
    data_dir: '~/.local/share/hearth',
    download_dir: '~/.local/share/hearth/downloads',
    mirror_quota_bytes: 20 * 1024 ** 3,
    mirror_used_bytes: 0,
  });
  node.library = { folders: ['~/.local/share/hearth/uploads', '/home/ada/Papers'], uploads_folder: '~/.local/share/hearth/uploads' };

  // ---- the catalog ----
  const thumbs = new Map<string, string>();
  const add = (r: Partial<Resource> & { title: string; author: string; size: number }, opts: { file?: string; thumb?: [string, string]; holders?: string[] } = {}) => {
    const content_id = contentId(r.title + r.author);
    let thumbnail_hash: string | null = null;
    if (opts.thumb) {
      thumbnail_hash = contentId(opts.thumb.join()).padEnd(64, '0');
      thumbs.set(thumbnail_hash, gradient(...opts.thumb));
    }
    return node.addResource(
      resource({
        content_id,
        magnet: `magnet:?xt=urn:btih:${content_id}&dn=${encodeURIComponent(r.title)}`,
        description: '',
        tags: [],
        mime: 'application/octet-stream',
        files: [{ path: opts.file ?? r.title, size: r.size }],
        thumbnail_hash,
        author_name: null,
        ...r,
      }),
      opts.holders,
    );
  };
  add(
    {
      title: 'Sketch of the Analytical Engine, with translator’s notes',
      description: 'L. F. Menabrea’s paper, translated from the French, with notes A to G.\n\nNote G describes an algorithm for the Bernoulli numbers.',
      kind: 'paper',
      tags: ['history of computing', 'translation', 'Bernoulli numbers'],
      size: 2_412_554,
      mime: 'application/pdf',
      author: ADA,
      created_ms: now - 3 * DAY,
    },
    { file: 'menabrea-notes.pdf', thumb: ['#fdba74', '#e2590f'], holders: [ADA, GRACE] },
  );
  const timings = add({
    title: 'Harvard Mark I instruction timings (1944–1946)',
    description: 'Measured cycle counts for every Mark I instruction, from the operating logs.',
    kind: 'dataset',
    tags: ['Mark I', 'timings', 'csv'],
    size: 84_201_993,
    mime: 'application/zip',
    author: GRACE,
    created_ms: now - 26 * HOUR,
    files: [
      { path: 'mark1/README.txt', size: 4_211 },
      { path: 'mark1/timings.csv', size: 84_100_000 },
      { path: 'mark1/logs/1944.csv', size: 97_782 },
    ],
  });
  add(
    {
      title: 'Lecture: invariants and conservation laws',
      description: 'A recorded lecture. <script>alert("xss")</script>',
      kind: 'video',
      tags: ['physics', 'symmetry', 'lecture'],
      size: 1_730_112_004,
      mime: 'video/mp4',
      author: EMMY,
      created_ms: now - 9 * DAY,
    },
    { file: 'noether-lecture.mp4' },
  );
  const harbour = add(
    {
      title: '<img src=x onerror=alert(1)> Field recordings, harbour at dawn',
      kind: 'audio',
      tags: ['field recording'],
      size: 48_102_334,
      mime: 'audio/flac',
      author: NO_PROFILE,
      created_ms: now - 50 * MIN,
    },
    { file: 'harbour.flac' },
  );
  add(
    {
      title: 'Bernoulli numbers, plotted',
      kind: 'image',
      tags: ['plot'],
      size: 312_044,
      mime: 'image/png',
      author: ADA,
      created_ms: now - 2 * HOUR,
    },
    { file: 'bernoulli.png', thumb: ['#93c5fd', '#1e40af'] },
  );
  node.thumbnailUrl = (contentId, hash) => thumbs.get(hash) ?? `/thumbs/${contentId}/${hash}`;

  // A paused download and a failed one, to show their states.
  const seedDownload = (r: Resource, extra: Partial<Download>) => {
    const d = download({
      content_id: r.content_id,
      title: r.title,
      total_bytes: r.size,
      down_bps: 0,
      peers: 0,
      eta_secs: null,
      path: `/home/me/Downloads/${r.files[0]?.path ?? r.title}`,
      started_ms: now - HOUR,
      ...extra,
    });
    d.progress = d.have_bytes / d.total_bytes;
    node.downloads.set(r.content_id, d);
  };
  seedDownload(timings, { state: 'paused', have_bytes: 31_000_000 });
  seedDownload(harbour, { state: 'failed', have_bytes: 4_000_000, error: 'No holder answered for 2 minutes' });

  // Downloads progress by a twelfth every third of a second.
  const tick = (id: string) => {
    const d = node.downloads.get(id);
    if (!d || d.state !== 'downloading') return stopTicking(id);
    const step = Math.max(1, Math.round(d.total_bytes / 12));
    d.have_bytes = Math.min(d.total_bytes, d.have_bytes + step);
    d.progress = d.have_bytes / d.total_bytes;
    d.down_bps = step * 3;
    d.peers = 2;
    d.eta_secs = Math.ceil((d.total_bytes - d.have_bytes) / d.down_bps);
    if (d.have_bytes >= d.total_bytes) {
      Object.assign(d, { state: 'complete', down_bps: 0, peers: 0, eta_secs: null });
      stopTicking(id);
      node.holders.get(id)?.push(DEMO_SELF);
    }
    node.emit({ type: 'download_progress', download: { ...d } });
  };
  const startTicking = (id: string) => {
    if (!ticking.has(id)) ticking.set(id, setInterval(() => tick(id), 330));
  };
  const stopTicking = (id: string) => {
    clearInterval(ticking.get(id));
    ticking.delete(id);
  };
  const h = { ...node.handlers };
  node.handlers.start_download = async (req) => {
    const d = await h.start_download(req);
    startTicking(d.content_id);
    return d;
  };
  node.handlers.resume_download = async (req) => {
    await h.resume_download(req);
    startTicking(req.content_id);
    return null;
  };
  node.handlers.pause_download = async (req) => {
    stopTicking(req.content_id);
    return h.pause_download(req);
  };
  node.handlers.cancel_download = async (req) => {
    stopTicking(req.content_id);
    return h.cancel_download(req);
  };
  // A real search over the network's catalog takes a little while.
  node.handlers.search = async (req) => {
    await new Promise((r) => later(60 + Math.random() * 120, () => r(null)));
    return h.search(req);
  };

  // ---- chat: locked, with some history ----
  node.chatUnlocked = false;
  node.chatPassphrase = 'correct horse';
  const t0 = now - 26 * HOUR;
  const member = (id: string, extra: { host?: boolean; creator?: boolean } = {}) => {
    const p = node.peers.find((x) => x.peer_id === id);
    return { peer_id: id, display_name: p?.profile?.display_name ?? null, online: id === DEMO_SELF || !!p?.online, host: false, creator: false, ...extra };
  };
  const reading = node.newRoom({
    name: 'Reading group',
    creator: ADA,
    host: ADA,
    is_host: false,
    members: [member(ADA, { host: true, creator: true }), member(DEMO_SELF), member(GRACE), member(EMMY)],
  });
  const at = (sent_ms: number): Partial<ChatMessage> => ({ sent_ms });
  node.commitEntry(reading, ADA, 'created', 'Reading group', at(t0));
  node.commitEntry(reading, ADA, 'invited', DEMO_SELF, at(t0 + 1000));
  node.commitEntry(reading, ADA, 'invited', GRACE, at(t0 + 2000));
  node.commitEntry(reading, ADA, 'invited', EMMY, at(t0 + 3000));
  node.commitEntry(reading, ADA, 'text', 'Welcome, everyone! First up: the Menabrea memoir, with my notes.', at(t0 + 5 * MIN));
  node.commitEntry(reading, ADA, 'text', 'Note G is the long one. Take your time with it.', at(t0 + 6 * MIN));
  node.commitEntry(reading, DEMO_SELF, 'text', 'Thanks Ada. I will start tonight.', at(t0 + 9 * MIN));
  const t1 = now - 40 * MIN;
  node.commitEntry(reading, GRACE, 'text', 'I have a question about the table of operations in Note G: why does the variable card for B7 come back twice?', at(t1));
  node.commitEntry(reading, EMMY, 'text', 'It is reused for the next Bernoulli number, I believe.', at(t1 + 2 * MIN));
  node.commitEntry(reading, DEMO_SELF, 'text', 'Same reading here.\nThe cycle repeats with n+1.', at(t1 + 4 * MIN));
  node.commitEntry(reading, ADA, 'host_changed', '', at(t1 + 5 * MIN));
  node.commitEntry(reading, ADA, 'text', 'Exactly. Next week: Note A and the difference engine.', at(t1 + 6 * MIN));
  reading.info.unread = 2;
  const compilers = node.newRoom({
    name: 'Compilers',
    creator: GRACE,
    host: GRACE,
    is_host: false,
    left: true,
    members: [member(GRACE, { host: true, creator: true }), member(DEMO_SELF)],
  });
  const t2 = t0 - 3 * DAY;
  node.commitEntry(compilers, GRACE, 'created', 'Compilers', at(t2));
  node.commitEntry(compilers, GRACE, 'invited', DEMO_SELF, at(t2 + 1000));
  node.commitEntry(compilers, GRACE, 'text', 'Anyone up for A-0 this weekend?', at(t2 + 10 * MIN));
  node.commitEntry(compilers, DEMO_SELF, 'left', '', at(t0 - 2 * DAY));
  compilers.info.unread = 0;

  void (async () => {
    const adaDm = await node.dm(ADA);
    for (const [sender, body, ago] of [
      [ADA, 'Did you get the translation I shared?', 70],
      [DEMO_SELF, 'Yes, downloading now. Thank you!', 68],
      [ADA, 'The plates are in the second folder.', 12],
    ] as const) {
      const mine = sender === DEMO_SELF;
      adaDm.messages.push({
        id: contentId(body).slice(0, 32),
        room_id: null,
        peer_id: ADA,
        sender,
        mine,
        kind: 'text',
        body,
        seq: adaDm.nextSeq++,
        sent_ms: now - ago * MIN,
        state: mine ? 'delivered' : 'received',
      });
    }
    adaDm.conv.unread = 1;
    const emmyDm = await node.dm(EMMY);
    const body = 'Your symmetry notes were lovely. Could you share the lecture slides?';
    emmyDm.messages.push({
      id: contentId(body).slice(0, 32),
      room_id: null,
      peer_id: EMMY,
      sender: DEMO_SELF,
      mine: true,
      kind: 'text',
      body,
      seq: emmyDm.nextSeq++,
      sent_ms: now - 90 * MIN,
      state: 'not_delivered_yet',
    });
  })();

  // Unlocking takes a while (Argon2id).
  node.handlers.unlock_chat = async (req) => {
    await new Promise((r) => later(600, () => r(null)));
    return h.unlock_chat(req);
  };
  // The host takes my message, then everyone has it; a question gets an answer.
  node.handlers.send_message = async (req) => {
    const m = await h.send_message(req);
    const room = node.room(req.room_id);
    later(700, () => {
      const [held] = node.deliverRoom(req.room_id, 'held_by_host');
      later(900, () => {
        const done = room.messages.find((x) => x.id === held?.id);
        if (!done) return;
        done.state = 'delivered';
        node.emit({ type: 'chat_message', message: { ...done } });
        node.roomChanged(room);
      });
    });
    if (/\?\s*$/.test(req.body)) {
      later(2500, () => {
        node.commitEntry(room, ADA, 'text', 'Good question! Let me look at my notes.');
        node.roomChanged(room);
      });
    }
    return m;
  };

  // Some life: Ada's round-trip time changes now and then.
  const rtt = setInterval(() => {
    const ada = node.peers.find((p) => p.peer_id === ADA)!;
    ada.rtt_ms = 8 + Math.random() * 20;
    ada.last_seen_ms = Date.now();
    node.emit({ type: 'peer_updated', peer: { ...ada } });
  }, 3000);

  return Object.assign(node, {
    stop() {
      clearInterval(rtt);
      for (const t of timers) clearTimeout(t);
      for (const id of [...ticking.keys()]) stopTicking(id);
    },
  });
}
