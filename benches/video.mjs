#!/usr/bin/env node
// Video playback benchmark: two `hearth run` nodes on loopback, the real UI in Chromium.
//
// Node A seeds a ~200 MB, ~20 Mbit/s H.264 MP4 made here with ffmpeg, in two variants: the
// index (moov) at the start (`-movflags +faststart`) and at the end of the file. Node B is
// the viewer: before every trial its download of the video is cancelled (which deletes the
// partial data), so every trial streams from A, not from B's disk. Measured in B's browser:
//   - click on the resource page's play button -> the video's first `playing` event;
//     beside it, the same page playing a bare <video> on the media URL (no app code);
//   - the engine's share: B's node serving the first 4 MiB of the file (HTTP range, fresh);
//   - random seeks right after playback starts: seek -> playback moving again;
//   - stalls: the video played for a while as a 1 GiB download from A starts with it (and
//     again midway), counting `waiting` events after the first `playing`.
// Prints a Markdown table (goals beside the figures) and writes bench-results/video.json.
//
// Run from the repository root: `node benches/video.mjs` (scripts/bench.sh does, with the
// release binary). Needs the built UI (ui/dist), ui/node_modules (playwright-core), Chromium
// and ffmpeg. Environment: HEARTH_BIN (default target/release/hearth), CHROMIUM_BIN,
// HEARTH_BENCH_VIDEO_TRIALS (20 per variant), HEARTH_BENCH_VIDEO_SEEKS (20),
// HEARTH_BENCH_VIDEO_STALL_SECS (60), HEARTH_BENCH_VIDEO_BIG_MIB (1024),
// HEARTH_BENCH_VIDEO_DIR (where the generated media is kept between runs;
// default target/bench-video).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target');
process.env.HEARTH_BIN ||= join(TARGET, 'release', 'hearth');
// After HEARTH_BIN is set: the node helpers read it when loaded.
const { eventually, launchBrowser } = await import('../ui/e2e/lib/browser.mjs');
const { HEARTH_BIN, api, checkPrerequisites, dumpLogs, startNode, stopAllNodes } = await import('../ui/e2e/lib/nodes.mjs');

const envInt = (name, dflt) => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const TRIALS = envInt('HEARTH_BENCH_VIDEO_TRIALS', 20);
const SEEKS = envInt('HEARTH_BENCH_VIDEO_SEEKS', 20);
const STALL_SECS = envInt('HEARTH_BENCH_VIDEO_STALL_SECS', 60);
const BIG_MIB = envInt('HEARTH_BENCH_VIDEO_BIG_MIB', 1024);
const MEDIA_DIR = resolve(process.env.HEARTH_BENCH_VIDEO_DIR || join(TARGET, 'bench-video'));
const OUT_DIR = join(ROOT, 'bench-results');

const CLIP_SECS = 10;
const LOOPS = 8; // 80 s
const VIDEO_KBPS = 20_000;
const FIRST_BYTES = 4 * 1024 * 1024;

const GOALS = { start_ms: 500, end_ms: 700, seek_ms: 500, stalls: 0 };

const log = (...a) => console.error(...a);

// ---- Media -----------------------------------------------------------------------------

function ffmpeg(args) {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (r.error?.code === 'ENOENT') throw new Error('ffmpeg not found: install it (scripts/setup.sh --test)');
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

function ffprobe(path) {
  const r = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'format=duration,bit_rate', '-of', 'json', path],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `ffprobe ${path}: ${r.stderr}`);
  const f = JSON.parse(r.stdout).format;
  return { duration: Number(f.duration), bitRate: Number(f.bit_rate) };
}

/** Where the MP4's moov box starts. */
function moovOffset(path) {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(16);
  const size = statSync(path).size;
  try {
    let off = 0;
    while (off + 8 <= size) {
      const n = readSync(fd, head, 0, head.length, off);
      if (n < 8) break;
      let boxSize = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      if (boxSize === 1) boxSize = Number(head.readBigUInt64BE(8));
      else if (boxSize === 0) boxSize = size - off;
      if (type === 'moov') return off;
      if (boxSize < 8) break;
      off += boxSize;
    }
  } finally {
    closeSync(fd);
  }
  return -1;
}

/**
 * The two variants of the test video (made once, kept in MEDIA_DIR): 1920x1080, 30 fps,
 * ~20 Mbit/s (x264 ultrafast with noise, so it does not compress below the rate), a keyframe
 * every 2 s, AAC audio; a 10 s clip looped 8 times with `-c copy`.
 */
function makeVideos() {
  mkdirSync(MEDIA_DIR, { recursive: true });
  const clip = join(MEDIA_DIR, `clip-${VIDEO_KBPS}k.mp4`);
  const start = join(MEDIA_DIR, `video-${VIDEO_KBPS}k-index-at-start.mp4`);
  const end = join(MEDIA_DIR, `video-${VIDEO_KBPS}k-index-at-end.mp4`);
  if (!existsSync(clip)) {
    log(`encoding a ${CLIP_SECS} s clip at ${VIDEO_KBPS / 1000} Mbit/s…`);
    ffmpeg([
      '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=48000',
      '-t', String(CLIP_SECS),
      '-vf', 'noise=alls=12:allf=t',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
      '-b:v', `${VIDEO_KBPS}k`, '-maxrate', `${VIDEO_KBPS}k`, '-bufsize', `${VIDEO_KBPS}k`,
      '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
      '-c:a', 'aac', '-b:a', '128k',
      `${clip}.part.mp4`,
    ]);
    renameSync(`${clip}.part.mp4`, clip);
  }
  for (const [path, flags] of [[start, ['-movflags', '+faststart']], [end, []]]) {
    if (existsSync(path)) continue;
    ffmpeg(['-stream_loop', String(LOOPS - 1), '-i', clip, '-c', 'copy', ...flags, `${path}.part.mp4`]);
    renameSync(`${path}.part.mp4`, path);
  }
  const out = {};
  for (const [name, path] of [['start', start], ['end', end]]) {
    const size = statSync(path).size;
    const moov = moovOffset(path);
    assert.ok(name === 'start' ? moov < 1024 * 1024 : moov > size / 2, `${name}: moov at ${moov} of ${size}`);
    out[name] = { path, size, moov, ...ffprobe(path) };
  }
  return out;
}

/** BIG_MIB of random bytes (not compressible, no two pieces alike). */
function makeBigFile() {
  const path = join(MEDIA_DIR, `random-${BIG_MIB}MiB.bin`);
  const size = BIG_MIB * 1024 * 1024;
  if (existsSync(path) && statSync(path).size === size) return { path, size };
  log(`writing ${BIG_MIB} MiB of random data…`);
  const fd = openSync(`${path}.part`, 'w');
  const buf = Buffer.alloc(8 * 1024 * 1024);
  for (let left = size; left > 0; left -= buf.length) {
    randomFillSync(buf);
    writeSync(fd, buf, 0, Math.min(left, buf.length));
  }
  closeSync(fd);
  renameSync(`${path}.part`, path);
  return { path, size };
}

// ---- Figures -----------------------------------------------------------------------------

/** Same rule as the Rust benchmarks (benches/common): nearest rank, rounded. */
function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.round((v.length - 1) * p)];
}
const stats = (v) => ({ n: v.length, p50: percentile(v, 0.5), p95: percentile(v, 0.95), max: Math.max(...v), min: Math.min(...v) });
const ms = (x) => `${Math.round(x).toLocaleString('en-US')} ms`;
const fmt = (s) => `p50 ${ms(s.p50)}, p95 ${ms(s.p95)}, max ${ms(s.max)}`;

function machineLine() {
  const r = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout?.trim() ?? '';
  const chromium = r(process.env.CHROMIUM_BIN || '/usr/bin/chromium', ['--version']).split('\n')[0];
  return `Machine: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${r('uname', ['-sr'])}; date ${r('date', ['-u', '+%F'])}. Loopback only. ${chromium}, headless, software decoding.`;
}

// ---- Nodes and pages -----------------------------------------------------------------------

/** B holds nothing of `id` (no download, no partial data): the next read streams from A. */
async function reset(b, id) {
  const listed = (await api(b, 'list_downloads')).some((d) => d.content_id === id);
  if (listed) await api(b, 'cancel_download', { content_id: id });
  await eventually(10_000, async () => {
    const r = await api(b, 'get_resource', { content_id: id });
    assert.equal(r.local, 'none', `B still has ${id}: ${r.local}`);
    assert.ok(!(await api(b, 'list_downloads')).some((d) => d.content_id === id), 'still listed');
  });
}

async function progressOf(b, id) {
  return (await api(b, 'list_downloads')).find((d) => d.content_id === id)?.progress ?? 0;
}

const mediaUrl = (b, id) => `${b.url}/media/${id}?token=${b.token}`;

/** Opens B's resource page and waits for its play button. */
async function openResource(browser, b, id) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${b.url}/#/resource/${id}?token=${b.token}`);
  await page.getByTestId('play').waitFor({ timeout: 15_000 }).catch((e) => {
    throw new Error(`no play button on the resource page (${e.message}); page errors: ${errors.join('; ')}`);
  });
  // Timestamps in the page's clock; capture listeners see every media element's events.
  await page.evaluate(() => {
    const t = (window.__bench = { events: [] });
    document.addEventListener(
      'click',
      (e) => {
        if (t.click === undefined && e.target instanceof Element && e.target.closest('[data-testid="play"]')) {
          t.click = performance.now();
        }
      },
      true,
    );
    for (const name of ['loadedmetadata', 'canplay', 'playing', 'waiting', 'seeking', 'seeked', 'error', 'ended']) {
      document.addEventListener(
        name,
        (e) => {
          if (!(e.target instanceof HTMLMediaElement)) return;
          const now = performance.now();
          t.events.push({ name, at: now, time: e.target.currentTime });
          if (name === 'playing' && t.playing === undefined) t.playing = now;
          if (name === 'error') t.error = e.target.error ? `${e.target.error.code}: ${e.target.error.message}` : 'error';
        },
        true,
      );
    }
  });
  return page;
}

async function waitPlaying(page, timeoutMs = 30_000) {
  return eventually(
    timeoutMs,
    async () => {
      const t = await page.evaluate(() => window.__bench);
      return t.error || t.playing !== undefined ? t : false;
    },
    20,
  ).then((t) => {
    if (t.error) throw new Error(`player error: ${t.error}`);
    return t;
  });
}

/** Click -> first `playing`, in the page's clock; B starts from nothing. */
async function clickTrial(browser, b, id) {
  await reset(b, id);
  const page = await openResource(browser, b, id);
  try {
    await page.getByTestId('play').click();
    const t = await waitPlaying(page);
    return { ms: t.playing - t.click, events: t.events.map((e) => ({ ...e, at: e.at - t.click })) };
  } finally {
    await page.close();
  }
}

/** Baseline: a bare <video> on the media URL, made in the same (already loaded) page. */
async function bareTrial(browser, b, id) {
  await reset(b, id);
  const page = await openResource(browser, b, id);
  try {
    const t = await page.evaluate(
      (src) =>
        new Promise((resolve, reject) => {
          const v = document.createElement('video');
          v.muted = true;
          const start = performance.now();
          v.addEventListener('playing', () => resolve({ ms: performance.now() - start }), { once: true });
          v.addEventListener('error', () => reject(new Error(`bare video error: ${v.error?.message}`)), { once: true });
          setTimeout(() => reject(new Error('bare video: no playing within 30 s')), 30_000);
          document.body.append(v);
          v.src = src;
          void v.play().catch(() => {});
        }),
      mediaUrl(b, id),
    );
    return t;
  } finally {
    await page.close();
  }
}

/** The engine alone: B's node serves the first 4 MiB (and, for the index at the end, then the index). */
async function engineTrial(b, video, id) {
  await reset(b, id);
  const t0 = performance.now();
  const res = await fetch(mediaUrl(b, id), { headers: { Range: `bytes=0-${FIRST_BYTES - 1}` } });
  assert.equal(res.status, 206);
  const headersMs = performance.now() - t0;
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(body.length, FIRST_BYTES);
  const firstMs = performance.now() - t0;
  let indexMs = null;
  if (video.moov > FIRST_BYTES) {
    const t1 = performance.now();
    const tail = await fetch(mediaUrl(b, id), { headers: { Range: `bytes=${video.moov}-` } });
    assert.equal(tail.status, 206);
    await tail.arrayBuffer();
    indexMs = performance.now() - t1;
  }
  return { headersMs, firstMs, indexMs };
}

/**
 * Click play, and as soon as it plays seek to a random point in 10-90% (B has only started
 * downloading): seek -> the video's time moving again past the target (polled every 5 ms).
 */
async function seekTrial(browser, b, id, video) {
  await reset(b, id);
  const page = await openResource(browser, b, id);
  try {
    await page.getByTestId('play').click();
    await waitPlaying(page);
    const progressBefore = await progressOf(b, id);
    const target = video.duration * (0.1 + 0.8 * Math.random());
    const r = await page.evaluate(
      (target) =>
        new Promise((resolve, reject) => {
          const v = document.querySelector('[data-testid="player"]');
          const seen = {};
          v.addEventListener('seeked', () => (seen.seeked ??= performance.now()), { once: true });
          v.addEventListener('waiting', () => (seen.waiting ??= performance.now()), { once: true });
          v.addEventListener('playing', () => (seen.playing ??= performance.now()), { once: true });
          v.addEventListener('error', () => reject(new Error(`player error ${v.error?.message}`)), { once: true });
          const start = performance.now();
          v.currentTime = target;
          const timer = setInterval(() => {
            // Moving again: the seek completed and the clock runs past the target.
            if (seen.seeked && !v.paused && v.currentTime > target + 0.01) {
              clearInterval(timer);
              resolve({
                resumedMs: performance.now() - start,
                seekedMs: seen.seeked - start,
                // After a `waiting`, the `playing` that ends it.
                playingMs: seen.playing === undefined ? null : seen.playing - start,
                waited: seen.waiting !== undefined,
              });
            } else if (performance.now() - start > 30_000) {
              clearInterval(timer);
              reject(new Error(`seek to ${target}: not playing after 30 s (t=${v.currentTime}, rs=${v.readyState})`));
            }
          }, 5);
        }),
      target,
    );
    return { target, progressBefore, ...r };
  } finally {
    await page.close();
  }
}

/**
 * Plays the video for STALL_SECS while B downloads the big file from A: the download starts
 * just before the click, and again (fresh) once the video is halfway.
 */
async function stallTrial(browser, b, id, big) {
  await reset(b, id);
  await reset(b, big.id);
  const downloads = [];
  const startBig = async () => {
    const began = Date.now();
    await api(b, 'start_download', { content_id: big.id });
    downloads.push({ began, done: null });
  };
  const page = await openResource(browser, b, id);
  try {
    await startBig();
    const clickedAt = Date.now();
    await page.getByTestId('play').click();
    await waitPlaying(page);
    let restarted = false;
    await eventually(
      (STALL_SECS + 60) * 1000,
      async () => {
        const d = (await api(b, 'list_downloads')).find((x) => x.content_id === big.id);
        const cur = downloads.at(-1);
        if (d?.state === 'complete' && cur.done === null) cur.done = Date.now();
        const s = await page.getByTestId('player').evaluate((v) => ({ t: v.currentTime, ended: v.ended, err: v.error?.message }));
        if (s.err) return s;
        if (!restarted && s.t >= STALL_SECS / 2 && cur.done !== null) {
          restarted = true;
          await api(b, 'cancel_download', { content_id: big.id });
          await startBig();
        }
        return (s.t >= STALL_SECS || s.ended) && downloads.every((x) => x.done !== null) ? s : false;
      },
      50,
    ).then((s) => {
      if (s.err) throw new Error(`player error: ${s.err}`);
    });
    const t = await page.evaluate(() => window.__bench);
    const quality = await page.getByTestId('player').evaluate((v) => {
      const q = v.getVideoPlaybackQuality();
      return { dropped: q.droppedVideoFrames, total: q.totalVideoFrames, time: v.currentTime };
    });
    const afterFirst = t.events.filter((e) => e.at > t.playing);
    const waits = afterFirst.filter((e) => e.name === 'waiting');
    let stalledMs = 0;
    for (const w of waits) {
      const resumed = afterFirst.find((e) => e.name === 'playing' && e.at > w.at);
      stalledMs += (resumed?.at ?? performance.now()) - w.at;
    }
    return {
      stalls: waits.length,
      stalledMs,
      played_s: quality.time,
      startMs: t.playing - t.click,
      droppedFrames: quality.dropped,
      totalFrames: quality.total,
      bigDownloads: downloads.map((d) => ({
        startedAfterClickMs: d.began - clickedAt,
        tookMs: d.done - d.began,
      })),
    };
  } finally {
    await page.close();
    await api(b, 'cancel_download', { content_id: big.id }).catch(() => {});
  }
}

// ---- Run -----------------------------------------------------------------------------------

async function main() {
  checkPrerequisites();
  const machine = machineLine();
  log(machine);
  log(`node binary: ${HEARTH_BIN}`);
  const videos = makeVideos();
  const bigFile = makeBigFile();

  const a = await startNode('Seeder', ['--bt-port', '0']);
  const statusA = await eventually(10_000, async () => {
    const s = await api(a, 'status');
    assert.ok(s.listen_addrs.length > 0);
    return s;
  });
  const b = await startNode('Viewer', ['--bt-port', '0', '--bootstrap', statusA.listen_addrs[0]]);
  await eventually(20_000, async () =>
    assert.ok((await api(b, 'list_peers')).some((p) => p.peer_id === statusA.peer_id && p.online)),
  );
  log('publishing…');
  for (const v of [videos.start, videos.end, bigFile]) {
    const r = await api(a, 'publish', { path: v.path });
    v.id = r.content_id;
  }
  for (const v of [videos.start, videos.end, bigFile]) {
    await eventually(60_000, async () => assert.ok((await api(b, 'get_resource', { content_id: v.id })).available));
  }
  // The seeder's own copy through its media route: a binary older than the route answers
  // with the UI's index.html instead.
  {
    const res = await fetch(mediaUrl(a, videos.start.id), { headers: { Range: 'bytes=0-99' } });
    const body = Buffer.from(await res.arrayBuffer());
    const want = Buffer.alloc(100);
    const fd = openSync(videos.start.path, 'r');
    readSync(fd, want, 0, 100, 0);
    closeSync(fd);
    assert.ok(
      res.status === 206 && body.equals(want),
      `${HEARTH_BIN} does not serve /media (status ${res.status}, ${res.headers.get('content-type')}): rebuild it`,
    );
  }

  const browser = await launchBrowser();
  const result = {
    machine,
    binary: relative(ROOT, HEARTH_BIN),
    videos: Object.fromEntries(
      Object.entries(videos).map(([k, v]) => [k, { ...v, path: basename(v.path) }]),
    ),
    big: { size: bigFile.size },
    goals: GOALS,
  };
  try {
    for (const name of ['start', 'end']) {
      const v = videos[name];
      log(`index at the ${name}: warm-up, then ${TRIALS} trials…`);
      const warm = await clickTrial(browser, b, v.id);
      const clicks = [];
      const bare = [];
      const engine = [];
      for (let i = 0; i < TRIALS; i++) {
        clicks.push(await clickTrial(browser, b, v.id));
        bare.push(await bareTrial(browser, b, v.id));
        engine.push(await engineTrial(b, v, v.id));
        log(`  ${i + 1}: click->playing ${Math.round(clicks.at(-1).ms)} ms, bare ${Math.round(bare.at(-1).ms)} ms, first 4 MiB ${Math.round(engine.at(-1).firstMs)} ms`);
      }
      result[name] = {
        warmup_ms: warm.ms,
        click_to_playing: stats(clicks.map((c) => c.ms)),
        bare_video_to_playing: stats(bare.map((c) => c.ms)),
        engine_first_4mib: stats(engine.map((e) => e.firstMs)),
        engine_headers: stats(engine.map((e) => e.headersMs)),
        engine_index_after_first: name === 'end' ? stats(engine.map((e) => e.indexMs)) : null,
        example_events: clicks.at(-1).events,
        trials: clicks.map((c, i) => ({ click_ms: c.ms, bare_ms: bare[i].ms, ...engine[i] })),
      };
    }

    log(`${SEEKS} random seeks (index at the end), each right after playback starts…`);
    const seeks = [];
    for (let i = 0; i < SEEKS; i++) {
      seeks.push(await seekTrial(browser, b, videos.end.id, videos.end));
      const s = seeks.at(-1);
      log(`  ${i + 1}: to ${s.target.toFixed(1)} s (B had ${(s.progressBefore * 100).toFixed(0)}%): ${Math.round(s.resumedMs)} ms`);
    }
    result.seeks = {
      resumed: stats(seeks.map((s) => s.resumedMs)),
      seeked: stats(seeks.map((s) => s.seekedMs)),
      progress_before: stats(seeks.map((s) => s.progressBefore)),
      trials: seeks,
    };

    log(`stalls: ${STALL_SECS} s of playback while B downloads ${BIG_MIB} MiB…`);
    result.stalls = await stallTrial(browser, b, videos.start.id, bigFile);
    log(`  ${JSON.stringify(result.stalls)}`);
  } catch (e) {
    dumpLogs();
    throw e;
  } finally {
    await browser.close();
    await stopAllNodes();
  }

  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, 'video.json'), JSON.stringify(result, null, 2));
  printTable(result);
}

function printTable(r) {
  const yes = (ok) => (ok ? 'yes' : '**no**');
  const mb = (n) => `${(n / 1e6).toFixed(0)} MB`;
  const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
  const share = (v, extra = 0) => `${Math.round((100 * (v.engine_first_4mib.p50 + extra)) / v.click_to_playing.p50)}%`;
  const at = (msFromClick) =>
    Math.abs(msFromClick) < 500 ? 'with the click' : `${(msFromClick / 1000).toFixed(1)} s after it`;
  const s = r.start;
  const e = r.end;
  const st = r.stalls;
  const lines = [
    r.machine,
    '',
    `Binary: \`${r.binary}\`. ` +
      `Video: ${mb(r.videos.start.size)}, ${r.videos.start.duration.toFixed(0)} s, ${(r.videos.start.bitRate / 1e6).toFixed(1)} Mbit/s H.264 1080p30 + AAC, keyframe every 2 s; ` +
      `one seeder, one viewer whose download is cancelled before every trial (${s.click_to_playing.n} trials per variant after one warm-up).`,
    '',
    '| measure | Hearth | baseline (same run) | goal | met |',
    '|---|---|---|---|---|',
    `| click -> first frame (\`playing\`), index at the start | ${fmt(s.click_to_playing)} | bare \`<video>\` on the media URL: ${fmt(s.bare_video_to_playing)} | p95 <= ${GOALS.start_ms} ms | ${yes(s.click_to_playing.p95 <= GOALS.start_ms)} |`,
    `| click -> first frame, index at the end | ${fmt(e.click_to_playing)} | bare \`<video>\`: ${fmt(e.bare_video_to_playing)} | p95 <= ${GOALS.end_ms} ms | ${yes(e.click_to_playing.p95 <= GOALS.end_ms)} |`,
    `| engine's share: the viewer's node serves the first 4 MiB, fresh | index at the start: ${fmt(s.engine_first_4mib)} (${share(s)} of click -> \`playing\` at p50); at the end: ${fmt(e.engine_first_4mib)}, then the index (last ${kib(r.videos.end.size - r.videos.end.moov)}): ${fmt(e.engine_index_after_first)} (together ${share(e, e.engine_index_after_first.p50)}) | response headers after: p50 ${ms(s.engine_headers.p50)} | | |`,
    `| random seek (10-90%) right after playback starts -> playing again, index at the end | ${fmt(r.seeks.resumed)} (\`seeked\`: ${fmt(r.seeks.seeked)}; ${r.seeks.trials.filter((t) => t.waited).length} of ${r.seeks.trials.length} went through \`waiting\`) | viewer had p50 ${(r.seeks.progress_before.p50 * 100).toFixed(0)}% of the file when seeking | p95 <= ${GOALS.seek_ms} ms | ${yes(r.seeks.resumed.p95 <= GOALS.seek_ms)} |`,
    `| stalls (\`waiting\` after the first \`playing\`), ${st.played_s.toFixed(0)} s of playback while a ${r.big.size / 2 ** 20} MiB download runs | ${st.stalls} (${ms(st.stalledMs)} stalled); ${st.droppedFrames} of ${st.totalFrames} frames dropped | the download, started ${st.bigDownloads.map((d) => `${at(d.startedAfterClickMs)}, took ${(d.tookMs / 1000).toFixed(1)} s`).join('; again ')} | 0 | ${yes(st.stalls === 0)} |`,
    '',
    `Warm-up trial (not counted): index at the start ${ms(s.warmup_ms)}, at the end ${ms(e.warmup_ms)}. ` +
      'Click -> `playing` is measured in the page (capture listeners, performance.now) from the play button\'s click event; ' +
      'the bare baseline creates a muted `<video>` in the same page and times `src` -> `playing`. ' +
      'Engine share: `fetch` with `Range: bytes=0-4194303` on the viewer\'s `/media` route until the body is read; for the index at the end, then the range from the moov box to the end. ' +
      'Seeks: playback started fresh each time, then `currentTime` set to a random point; resumed = after `seeked`, `currentTime` moving past the target (5 ms polling). ' +
      'Stalls: the download of the big file starts just before the click and again, fresh, halfway through.',
  ];
  console.log(lines.join('\n'));
}

await main();
