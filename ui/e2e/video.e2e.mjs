// End-to-end: a video streams from a peer while it downloads.
// Node A (its uploads capped, so the whole file takes clearly longer than starting to play)
// publishes an H.264 MP4 whose index is at the END of the file, made here with ffmpeg. In
// node B's browser the resource page's play button starts it: the video plays while B's
// download is still incomplete, and a seek to 90% plays on from there. B's media route
// answers byte ranges and refuses requests without the token. A file named .mp4 that holds
// random bytes shows the player's error and the way to the system player.
//
// Needs the node binary (`../target/debug/hearth`, or HEARTH_BIN), Chromium (/usr/bin/chromium,
// or CHROMIUM_BIN) and ffmpeg (`scripts/setup.sh --test` installs both). Run with `npm run e2e`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually } from './lib/browser.mjs';
import { api, startNode, watch, scenario, openBrowser, startListening, waitOnline, shot, shootOnFailure } from './lib/nodes.mjs';

/** A's upload cap, bytes per second: the ~6 MB video takes ~15 s to reach B in full. */
const UPLOAD_LIMIT_BPS = 400_000;
/** Length of the test video, seconds. */
const VIDEO_SECS = 36;

const scratch = [];

scenario(
  'a video plays while it downloads from a peer, seeks, and an unplayable one offers the system player',
  {
    timeout: 110_000,
    cleanup: () => {
      for (const d of scratch) rmSync(d, { recursive: true, force: true });
    },
  },
  videoScenario,
);

function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(d);
  return d;
}

/** Runs ffmpeg; fails with its own message. */
function ffmpeg(args) {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error?.code === 'ENOENT') throw new Error('ffmpeg not found: install it (scripts/setup.sh --test)');
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

/**
 * A 640x360 H.264 + AAC MP4 of `secs` seconds at ~1.2 Mbit/s (so playing needs data over
 * time), a keyframe every 2 s (so seeking lands quickly). Without `-movflags +faststart` the
 * index (moov) is written after the media data, at the end of the file.
 */
function makeVideo(path, secs) {
  ffmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-t', String(secs),
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
    '-b:v', '1200k', '-maxrate', '1200k', '-bufsize', '2400k',
    '-g', '50', '-keyint_min', '50', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '96k',
    path,
  ]);
}

/** Where the MP4 index box sits: its offset, and the file's length. */
function moovOffset(buf) {
  let off = 0;
  while (off + 8 <= buf.length) {
    let size = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (size === 1) size = Number(buf.readBigUInt64BE(off + 8));
    if (type === 'moov') return off;
    if (size < 8) break;
    off += size;
  }
  return -1;
}

/** What the page's player is doing now. */
function playerState(page) {
  return page.getByTestId('player').evaluate((v) => ({
    src: v.currentSrc,
    currentTime: v.currentTime,
    duration: v.duration,
    paused: v.paused,
    ended: v.ended,
    readyState: v.readyState,
    error: v.error ? `${v.error.code}: ${v.error.message}` : null,
  }));
}

async function videoScenario(t) {
  // ---- Media, made here (no binary fixtures) ---------------------------------------------
  const media = tempDir('hearth-e2e-video-');
  const videoPath = join(media, 'testsrc-index-at-end.mp4');
  makeVideo(videoPath, VIDEO_SECS);
  const video = readFileSync(videoPath);
  const moov = moovOffset(video);
  assert.ok(moov > video.length / 2, `the index is at the end of the file (moov at ${moov} of ${video.length})`);
  // Random bytes under a video's name: published as a video, but nothing can decode it.
  const junkPath = join(media, 'x.mp4');
  const junkBytes = randomBytes(1024 * 1024 + 4321);
  writeFileSync(junkPath, junkBytes);

  // ---- Nodes: A publishes, uploads capped; B sees A online --------------------------------
  const dataA = tempDir('hearth-e2e-videoA-');
  writeFileSync(join(dataA, 'hearth.toml'), `bt_upload_limit_bps = ${UPLOAD_LIMIT_BPS}\n`);
  const { node: a, status: statusA } = await startListening('NodeA', ['--bt-port', '0'], { dataDir: dataA });
  const b = await startNode('NodeB', ['--bt-port', '0', '--bootstrap', statusA.listen_addrs[0]]);
  await waitOnline(b, statusA.peer_id, 'A is not online at B yet');

  const published = await api(a, 'publish', { path: videoPath });
  assert.equal(published.kind, 'video');
  assert.equal(published.size, video.length);
  const junk = await api(a, 'publish', { path: junkPath });
  assert.equal(junk.kind, 'video', 'a .mp4 is a video by its name');
  const id = published.content_id;

  // B's catalog has both, with A online as a holder.
  for (const r of [published, junk]) {
    await eventually(30_000, async () => {
      const seen = await api(b, 'get_resource', { content_id: r.content_id });
      assert.ok(seen.available, `${r.title} is in B's catalog but not available yet`);
    });
  }
  const downloadOf = async (contentId) =>
    (await api(b, 'list_downloads')).find((d) => d.content_id === contentId);
  assert.equal(await downloadOf(id), undefined, 'B has not started the video before play');

  const browser = await openBrowser();
  const problems = [];

  // ---- B: play; it plays while the download is still running -----------------------------
  const page = await browser.context.newPage();
  watch(page, 'B', problems);
  await page.goto(`${b.url}/#/resource/${id}?token=${b.token}`);
  await page.getByTestId('page-resource').waitFor();
  await page.getByTestId('play').click({ timeout: 15_000 });
  const clickedAt = Date.now();
  const player = page.getByTestId('player');
  await player.waitFor({ timeout: 10_000 }).catch(shootOnFailure(page, 'video'));

  let atPlay;
  await eventually(
    40_000,
    async () => {
      const s = await playerState(page);
      assert.equal(s.error, null, 'the player reports an error');
      assert.ok(s.currentTime > 1, `currentTime is ${s.currentTime}`);
      // Sampled after currentTime passed 1 s: progress only grows, so it was below 1 then too.
      const d = await downloadOf(id);
      atPlay = { ...s, progress: d?.progress, state: d?.state };
    },
    200,
  ).catch(shootOnFailure(page, 'video'));
  assert.ok(atPlay.src.includes(`/media/${id}`), `the player reads the media route (${atPlay.src})`);
  assert.ok(
    typeof atPlay.progress === 'number' && atPlay.progress < 1,
    `the video played ${atPlay.currentTime.toFixed(1)} s while B's download was at ${atPlay.progress}`,
  );
  assert.ok(Math.abs(atPlay.duration - VIDEO_SECS) < 1.5, `duration ${atPlay.duration}`);
  t.diagnostic(
    `played ${atPlay.currentTime.toFixed(1)} s ${((Date.now() - clickedAt) / 1000).toFixed(1)} s after the click, ` +
      `B's download at ${(atPlay.progress * 100).toFixed(0)}%`,
  );

  // ---- Seek to 90%: playback goes on from there -----------------------------------------
  const seekedAt = Date.now();
  const target = await player.evaluate((v) => {
    const t = 0.9 * v.duration;
    v.currentTime = t;
    return t;
  });
  await eventually(
    40_000,
    async () => {
      const s = await playerState(page);
      assert.equal(s.error, null, 'the player reports an error');
      assert.ok(
        s.currentTime > target + 1 || (s.ended && s.currentTime >= target),
        `currentTime is ${s.currentTime} after a seek to ${target.toFixed(1)}`,
      );
    },
    200,
  ).catch(shootOnFailure(page, 'video'));
  t.diagnostic(`seek to ${target.toFixed(1)} s: 1 s past it ${((Date.now() - seekedAt) / 1000).toFixed(1)} s later`);
  await shot(page, 'video.png', 0);

  // ---- B's media route, asked directly ---------------------------------------------------
  const mediaUrl = `${b.url}/media/${id}`;
  const first = await fetch(`${mediaUrl}?token=${b.token}`, { headers: { Range: 'bytes=0-99' } });
  assert.equal(first.status, 206);
  assert.equal(first.headers.get('content-range'), `bytes 0-99/${video.length}`);
  assert.deepEqual(Buffer.from(await first.arrayBuffer()), video.subarray(0, 100));
  const tail = await fetch(`${mediaUrl}?token=${b.token}`, { headers: { Range: `bytes=${moov}-` } });
  assert.equal(tail.status, 206);
  assert.equal(tail.headers.get('content-range'), `bytes ${moov}-${video.length - 1}/${video.length}`);
  assert.ok(Buffer.from(await tail.arrayBuffer()).equals(video.subarray(moov)), 'the index bytes match');
  const noToken = await fetch(mediaUrl, { headers: { Range: 'bytes=0-99' } });
  assert.equal(noToken.status, 401);
  await noToken.body?.cancel();

  // The whole file reaches B, as published.
  await eventually(60_000, async () => assert.equal((await downloadOf(id))?.state, 'complete'));
  const d = await downloadOf(id);
  const onDisk = statSync(d.path).isDirectory() ? join(d.path, 'testsrc-index-at-end.mp4') : d.path;
  assert.ok(readFileSync(onDisk).equals(video), 'the downloaded video matches the published one');

  // ---- WebM plays too --------------------------------------------------------------------
  const webmPath = join(media, 'testsrc.webm');
  ffmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-t', '6',
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k',
    webmPath,
  ]);
  const webm = await api(a, 'publish', { path: webmPath });
  assert.equal(webm.mime, 'video/webm');
  await eventually(30_000, async () => {
    assert.ok((await api(b, 'get_resource', { content_id: webm.content_id })).available, 'the WebM is not available at B yet');
  });
  const pageWebm = await browser.context.newPage();
  watch(pageWebm, 'B webm', problems);
  await pageWebm.goto(`${b.url}/#/resource/${webm.content_id}?token=${b.token}`);
  await pageWebm.getByTestId('page-resource').waitFor();
  await pageWebm.getByTestId('play').click({ timeout: 15_000 });
  await eventually(
    30_000,
    async () => {
      const s = await playerState(pageWebm);
      assert.equal(s.error, null, 'the player reports an error for the WebM');
      assert.ok(s.currentTime > 1, `WebM currentTime is ${s.currentTime}`);
    },
    200,
  ).catch(shootOnFailure(pageWebm, 'video-webm'));
  await pageWebm.close();

  // ---- An unplayable .mp4: the error, and the way to the system player -------------------
  // First a range of it before B has any of it: served from A as the pieces arrive.
  assert.equal(await downloadOf(junk.content_id), undefined, 'B has none of the junk file yet');
  const junkHead = await fetch(`${b.url}/media/${junk.content_id}?token=${b.token}`, {
    headers: { Range: 'bytes=100-199' },
  });
  assert.equal(junkHead.status, 206);
  assert.equal(junkHead.headers.get('content-range'), `bytes 100-199/${junkBytes.length}`);
  assert.ok(Buffer.from(await junkHead.arrayBuffer()).equals(junkBytes.subarray(100, 200)), 'the range matches');

  const pageJunk = await browser.context.newPage();
  watch(pageJunk, 'B junk', problems);
  await pageJunk.goto(`${b.url}/#/resource/${junk.content_id}?token=${b.token}`);
  await pageJunk.getByTestId('page-resource').waitFor();
  await pageJunk.getByTestId('play').click({ timeout: 15_000 });
  const junkFailed = shootOnFailure(pageJunk, 'video-error');
  await pageJunk.getByTestId('player-error').waitFor({ timeout: 30_000 }).catch(junkFailed);
  await pageJunk.getByTestId('open-system-player').waitFor({ timeout: 5_000 }).catch(junkFailed);
  assert.ok(await pageJunk.getByTestId('open-system-player').isEnabled(), 'the system player button is on');
  await shot(pageJunk, 'video-error.png', 0);

  assert.deepEqual(problems, [], 'no page errors or CSP violations');
}
