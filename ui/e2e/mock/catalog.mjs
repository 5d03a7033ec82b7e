// The catalog part of the mock node: resources, search, publishing (upload and path),
// downloads that progress on a timer, and the library. A development aid only.
import { createHash } from 'node:crypto';
import { deflateSync, crc32 } from 'node:zlib';

const KINDS = ['paper', 'dataset', 'video', 'audio', 'image', 'other'];

/** A small PNG (a soft two-colour gradient) as a data: URL, for thumbnails. */
function gradientPng(w, h, [r1, g1, b1], [r2, g2, b2]) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const t = (x + y) / (w + h - 2);
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = Math.round(r1 + (r2 - r1) * t);
      raw[o + 1] = Math.round(g1 + (g2 - g1) * t);
      raw[o + 2] = Math.round(b1 + (b2 - b1) * t);
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
  return `data:image/png;base64,${png.toString('base64')}`;
}

const contentId = (seed) => createHash('sha1').update(seed).digest('hex');

function guessKind(name) {
  const ext = name.split('.').pop()?.toLowerCase() ?? '';
  if (['pdf', 'tex', 'ps', 'epub'].includes(ext)) return 'paper';
  if (['csv', 'parquet', 'json', 'h5', 'zip'].includes(ext)) return 'dataset';
  if (['mp4', 'webm', 'mkv'].includes(ext)) return 'video';
  if (['mp3', 'ogg', 'flac', 'wav'].includes(ext)) return 'audio';
  if (['png', 'jpg', 'jpeg', 'gif', 'webp'].includes(ext)) return 'image';
  return 'other';
}

export function createCatalog({ self, peers, emit, now = Date.now() }) {
  const resources = new Map();
  const holders = new Map(); // content id -> Set of peer ids
  const downloads = new Map();
  const timers = new Map();
  let library = { folders: ['~/.local/share/hearth/uploads', '/home/ada/Papers'], uploads_folder: '~/.local/share/hearth/uploads' };

  const nameOf = (id) => (id === self.id ? self.name() : peers.get(id)?.profile?.display_name ?? null);
  const online = (id) => id === self.id || !!peers.get(id)?.online;

  const view = (r) => {
    const hs = [...(holders.get(r.content_id) ?? [])];
    const on = hs.filter(online).length;
    const dl = downloads.get(r.content_id);
    let local = r.author === self.id ? 'published' : 'none';
    if (dl) local = dl.state === 'complete' ? 'complete' : 'downloading';
    return {
      ...r,
      author_name: nameOf(r.author),
      holders_known: hs.length,
      holders_online: on,
      available: on > 0,
      local,
    };
  };

  const thumbs = new Map();
  const add = (r, holderIds) => {
    const full = {
      content_id: contentId(r.title + r.author),
      magnet: '',
      description: '',
      tags: [],
      mime: 'application/octet-stream',
      thumbnail_hash: null,
      duration_ms: null,
      files: [],
      created_ms: now,
      ...r,
    };
    // The node serves thumbnails by the hash of their bytes; so does the mock.
    if (full.thumbnail) {
      const bytes = Buffer.from(full.thumbnail.split(',')[1], 'base64');
      full.thumbnail_hash = createHash('sha256').update(bytes).digest('hex');
      thumbs.set(full.thumbnail_hash, bytes);
    }
    delete full.thumbnail;
    full.magnet = `magnet:?xt=urn:btih:${full.content_id}&dn=${encodeURIComponent(full.title)}`;
    if (full.files.length === 0) full.files = [{ path: r.fileName ?? full.title, size: full.size }];
    delete full.fileName;
    resources.set(full.content_id, full);
    holders.set(full.content_id, new Set(holderIds ?? [full.author]));
    return full;
  };

  const [ada, grace, noProfile, emmy] = [...peers.keys()];
  add({
    title: 'Sketch of the Analytical Engine, with translator’s notes',
    description: 'L. F. Menabrea’s paper, translated from the French, with notes A to G.\n\nNote G describes an algorithm for the Bernoulli numbers.',
    kind: 'paper',
    tags: ['history of computing', 'translation', 'Bernoulli numbers'],
    size: 2_412_554,
    mime: 'application/pdf',
    author: ada,
    created_ms: now - 3 * 86_400_000,
    thumbnail: gradientPng(48, 48, [253, 186, 116], [226, 89, 15]),
    fileName: 'menabrea-notes.pdf',
  }, [ada, grace]);
  add({
    title: 'Harvard Mark I instruction timings (1944–1946)',
    description: 'Measured cycle counts for every Mark I instruction, from the operating logs.',
    kind: 'dataset',
    tags: ['Mark I', 'timings', 'csv'],
    size: 84_201_993,
    mime: 'application/zip',
    author: grace,
    created_ms: now - 26 * 3_600_000,
    files: [
      { path: 'mark1/README.txt', size: 4_211 },
      { path: 'mark1/timings.csv', size: 84_100_000 },
      { path: 'mark1/logs/1944.csv', size: 97_782 },
    ],
  });
  add({
    title: 'Lecture: invariants and conservation laws',
    description: 'A recorded lecture. <script>alert("xss")</script>',
    kind: 'video',
    tags: ['physics', 'symmetry', 'lecture'],
    size: 1_730_112_004,
    mime: 'video/mp4',
    author: emmy,
    created_ms: now - 9 * 86_400_000,
    fileName: 'noether-lecture.mp4',
  });
  add({
    title: '<img src=x onerror=alert(1)> Field recordings, harbour at dawn',
    kind: 'audio',
    tags: ['field recording'],
    size: 48_102_334,
    mime: 'audio/flac',
    author: noProfile,
    created_ms: now - 50 * 60_000,
    fileName: 'harbour.flac',
  });
  add({
    title: 'Bernoulli numbers, plotted',
    kind: 'image',
    tags: ['plot'],
    size: 312_044,
    mime: 'image/png',
    author: ada,
    created_ms: now - 2 * 3_600_000,
    thumbnail: gradientPng(48, 48, [147, 197, 253], [30, 64, 175]),
    fileName: 'bernoulli.png',
  });

  const sendProgress = (d) => emit({ type: 'download_progress', download: { ...d } });

  const tick = (id) => {
    const d = downloads.get(id);
    if (!d || d.state !== 'downloading') return;
    const step = Math.max(1, Math.round(d.total_bytes / 12));
    d.have_bytes = Math.min(d.total_bytes, d.have_bytes + step);
    d.progress = d.have_bytes / d.total_bytes;
    d.down_bps = step * 3;
    d.peers = 2;
    d.eta_secs = Math.ceil((d.total_bytes - d.have_bytes) / d.down_bps);
    if (d.have_bytes >= d.total_bytes) {
      d.state = 'complete';
      d.down_bps = 0;
      d.peers = 0;
      d.eta_secs = null;
      clearInterval(timers.get(id));
      timers.delete(id);
      holders.get(id)?.add(self.id);
    }
    sendProgress(d);
  };

  const startTimer = (id) => {
    if (timers.has(id)) return;
    timers.set(id, setInterval(() => tick(id), 330));
  };

  // A paused download and a failed one, to show their states.
  const seedDownload = (r, extra) => {
    const d = {
      content_id: r.content_id,
      title: r.title,
      state: 'paused',
      have_bytes: 0,
      total_bytes: r.size,
      progress: 0,
      down_bps: 0,
      up_bps: 0,
      uploaded_bytes: 0,
      peers: 0,
      eta_secs: null,
      path: `/home/me/Downloads/${r.files[0]?.path ?? r.title}`,
      error: null,
      started_ms: now - 3_600_000,
      ...extra,
    };
    d.progress = d.have_bytes / d.total_bytes;
    downloads.set(r.content_id, d);
  };
  const list = [...resources.values()];
  seedDownload(list[1], { state: 'paused', have_bytes: 31_000_000 });
  seedDownload(list[3], { state: 'failed', have_bytes: 4_000_000, error: 'No holder answered for 2 minutes' });

  const matches = (r, req) => {
    if (req.kinds?.length && !req.kinds.includes(r.kind)) return false;
    if (req.author && r.author !== req.author) return false;
    if (req.available_only && !r.available) return false;
    const words = (req.text ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    if (words.length === 0) return true;
    const hay = [r.title, r.description, r.tags.join(' '), r.author_name ?? ''].join(' ').toLowerCase();
    return words.every((w) => hay.includes(w));
  };

  return {
    resources,
    /** The PNG of a thumbnail hash, for `GET /thumbs/<id>/<hash>`. */
    thumbnail: (hash) => thumbs.get(hash),
    /** Handles a catalog route; returns false when the route is not one of these. */
    async handle(route, url, req, res, { json, fail, readBody, readRaw }) {
      const idMatch = /^\/api\/resources\/([0-9a-f]{40})(\/holders)?$/.exec(url.pathname);
      if (route === 'POST /api/search') {
        const body = await readBody(req);
        if (!body || typeof body.text !== 'string') return fail(res, 400, 'bad_request', 'invalid search');
        const t0 = Date.now();
        let hits = [...resources.values()].map(view).filter((r) => matches(r, body));
        hits.sort((a, b) => b.created_ms - a.created_ms);
        const limit = body.limit || 50;
        const page = hits.slice(body.offset ?? 0, (body.offset ?? 0) + limit);
        // a little latency, as a real search over the network's catalog has
        await new Promise((r) => setTimeout(r, 60 + Math.random() * 120));
        return json(res, 200, { total: hits.length, total_is_lower_bound: false, items: page, took_ms: Date.now() - t0 });
      }
      if (idMatch && req.method === 'GET') {
        const r = resources.get(idMatch[1]);
        if (!r) return fail(res, 404, 'not_found', 'no such resource');
        if (idMatch[2]) {
          return json(
            res,
            200,
            [...holders.get(r.content_id)].map((id) => ({
              peer_id: id,
              name: nameOf(id),
              online: online(id),
              is_self: id === self.id,
              bt_addr: online(id) ? '127.0.0.1:42000' : null,
            })),
          );
        }
        return json(res, 200, view(r));
      }
      if (route === 'POST /api/resources/upload') {
        const name = url.searchParams.get('name');
        if (!name) return fail(res, 400, 'bad_request', 'missing name');
        const bytes = await readRaw(req);
        const kind = url.searchParams.get('kind');
        const r = add({
          title: url.searchParams.get('title') || name,
          description: url.searchParams.get('description') ?? '',
          kind: KINDS.includes(kind) ? kind : guessKind(name),
          tags: (url.searchParams.get('tags') ?? '').split(',').filter(Boolean),
          size: bytes,
          author: self.id,
          created_ms: Date.now(),
          fileName: name,
        });
        emit({ type: 'resource_added', resource: view(r) });
        return json(res, 200, view(r));
      }
      if (route === 'POST /api/resources/publish') {
        const body = await readBody(req);
        if (!body?.path) return fail(res, 400, 'bad_request', 'missing path');
        if (!body.path.startsWith('/')) return fail(res, 400, 'bad_request', `${body.path}: not an absolute path`);
        const name = body.path.split('/').pop();
        const r = add({
          title: body.title || name,
          description: body.description ?? '',
          kind: body.kind ?? guessKind(name),
          tags: body.tags ?? [],
          size: 1_234_567,
          author: self.id,
          created_ms: Date.now(),
          fileName: name,
        });
        emit({ type: 'resource_added', resource: view(r) });
        return json(res, 200, view(r));
      }
      if (route === 'POST /api/resources/unpublish') {
        const body = await readBody(req);
        const r = resources.get(body?.content_id);
        if (!r) return fail(res, 404, 'not_found', 'no such resource');
        if (r.author !== self.id) return fail(res, 403, 'forbidden', 'not yours');
        resources.delete(r.content_id);
        emit({ type: 'resource_removed', content_id: r.content_id });
        return json(res, 200, null);
      }
      if (route === 'POST /api/resources/update') {
        const body = await readBody(req);
        const r = resources.get(body?.content_id);
        if (!r) return fail(res, 404, 'not_found', 'no such resource');
        if (!body.title?.trim()) return fail(res, 400, 'bad_request', 'the title is empty');
        Object.assign(r, { title: body.title, description: body.description, kind: body.kind, tags: body.tags });
        emit({ type: 'resource_added', resource: view(r) });
        return json(res, 200, view(r));
      }
      if (route === 'POST /api/resources/open_folder') {
        const body = await readBody(req);
        const r = resources.get(body?.content_id);
        if (!r) return fail(res, 404, 'not_found', 'no such resource');
        return json(res, 200, r.author === self.id ? library.uploads_folder : '/home/me/Downloads');
      }
      if (route === 'GET /api/downloads') return json(res, 200, [...downloads.values()]);
      if (route === 'POST /api/downloads') {
        const body = await readBody(req);
        const r = resources.get(body?.content_id);
        if (!r) return fail(res, 404, 'not_found', 'no such resource');
        if (downloads.has(r.content_id)) return fail(res, 409, 'conflict', 'already downloading');
        const d = {
          content_id: r.content_id,
          title: r.title,
          state: 'downloading',
          have_bytes: 0,
          total_bytes: r.size,
          progress: 0,
          down_bps: 0,
          up_bps: 0,
          uploaded_bytes: 0,
          peers: 0,
          eta_secs: null,
          path: `/home/me/Downloads/${r.files[0]?.path ?? r.title}`,
          error: null,
          started_ms: Date.now(),
        };
        downloads.set(r.content_id, d);
        startTimer(r.content_id);
        sendProgress(d);
        return json(res, 200, d);
      }
      const action = /^POST \/api\/downloads\/(pause|resume|cancel)$/.exec(route);
      if (action) {
        const body = await readBody(req);
        const d = downloads.get(body?.content_id);
        if (!d) return fail(res, 404, 'not_found', 'no such download');
        clearInterval(timers.get(d.content_id));
        timers.delete(d.content_id);
        if (action[1] === 'cancel') {
          downloads.delete(d.content_id);
          emit({ type: 'download_removed', content_id: d.content_id });
        } else if (action[1] === 'pause') {
          Object.assign(d, { state: 'paused', down_bps: 0, peers: 0, eta_secs: null });
          sendProgress(d);
        } else {
          Object.assign(d, { state: 'downloading', error: null });
          startTimer(d.content_id);
          sendProgress(d);
        }
        return json(res, 200, null);
      }
      if (route === 'GET /api/library') {
        const published = [...resources.values()].filter((r) => r.author === self.id).map(view);
        return json(res, 200, { ...library, published });
      }
      if (route === 'POST /api/library/folders' || route === 'POST /api/library/folders/remove') {
        const body = await readBody(req);
        if (!body?.path?.startsWith('/')) return fail(res, 400, 'bad_request', 'a shared folder needs an absolute path');
        const rest = library.folders.filter((f) => f !== body.path);
        library = { ...library, folders: route.endsWith('remove') ? rest : [...rest, body.path] };
        const published = [...resources.values()].filter((r) => r.author === self.id).map(view);
        return json(res, 200, { ...library, published });
      }
      if (route === 'GET /api/catalog/stats') {
        return json(res, 200, {
          resources: resources.size,
          feeds: 4,
          entries: resources.size + 3,
          queued_announcements: 0,
          rejected: { bad_signature: 0, broken_chain: 0, fork: 0, oversize: 0, malformed: 0, invalid: 0 },
        });
      }
      return false;
    },
    close() {
      for (const t of timers.values()) clearInterval(t);
    },
  };
}
