// The real desktop window, driven over WebDriver (tauri-driver in front of WebKitWebDriver),
// with a headless node beside it: the pages, joining the node by its invite, publishing a
// video through the file-picker command (its test hook), playing it in the window's player
// (the loopback media server), a direct message that reaches the headless node, and a
// second launch with a magnet link, which the running window takes and downloads.
//
// Run by scripts/desktop-webdriver.sh under Xvfb and a D-Bus session. Needs
// target/debug/hearth-desktop and target/debug/hearth (HEARTH_DESKTOP_BIN, HEARTH_BIN),
// tauri-driver (TAURI_DRIVER) and WebKitWebDriver on PATH, and ffmpeg.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const DESKTOP = process.env.HEARTH_DESKTOP_BIN ?? join(ROOT, 'target/debug/hearth-desktop');
const HEARTH = process.env.HEARTH_BIN ?? join(ROOT, 'target/debug/hearth');
const DRIVER = process.env.TAURI_DRIVER ?? join(ROOT, '.tools/cargo/bin/tauri-driver');
const SHOTS = join(ROOT, 'target/screenshots');
const PASSPHRASE = 'a passphrase for the desktop test';
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

const children = [];
const dirs = [];
const tempDir = (prefix) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

/** Waits until `check` stops throwing (or returns a value), for at most `ms`. */
async function eventually(ms, check, what) {
  const until = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== null && v !== false) return v;
      last = new Error(`not yet: ${what}`);
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${last?.message}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function freePort() {
  return await new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

function start(cmd, args, env, name) {
  // Its own process group, so that what it starts (the driver starts WebKitWebDriver, which
  // starts the app) is stopped with it.
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const p = { child, log: '', name };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => (p.log += d));
  child.stderr.on('data', (d) => (p.log += d));
  children.push(p);
  return p;
}

/** Stops `p` and everything it started. */
function stop(p, signal = 'SIGTERM') {
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    // already gone
  }
}

/** The headless node beside the window. */
async function headless() {
  const dir = tempDir('hearth-wd-node-');
  const node = start(
    HEARTH,
    ['--data-dir', dir, 'run', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '127.0.0.1:0', '--bt-port', '0', '--name', 'Headless'],
    { HEARTH_PASSPHRASE: 'the headless passphrase' },
    'headless',
  );
  const url = await eventually(30_000, () => /Open (http:\/\/127\.0\.0\.1:\d+)\/#token=([0-9a-f]+)/.exec(node.log), 'the headless node');
  node.base = url[1];
  node.token = url[2];
  return node;
}

async function api(node, cmd, req) {
  const r = await fetch(`${node.base}/api/${cmd}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' },
    body: req === undefined ? undefined : JSON.stringify(req),
  });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${cmd}: ${r.status} ${JSON.stringify(body)}`);
  return body;
}

/** A minimal W3C WebDriver client. */
class Driver {
  constructor(port) {
    this.base = `http://127.0.0.1:${port}`;
  }
  async req(method, path, body) {
    const r = await fetch(this.base + path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await r.json();
    if (json.value && json.value.error) throw new Error(`${method} ${path}: ${json.value.error}: ${json.value.message}`);
    return json.value;
  }
  async open(application, env) {
    const v = await this.req('POST', '/session', {
      capabilities: { alwaysMatch: { 'tauri:options': { application, env } } },
    });
    this.session = `/session/${v.sessionId}`;
  }
  close() {
    return this.session ? this.req('DELETE', this.session).catch(() => {}) : undefined;
  }
  async find(testId) {
    const v = await this.req('POST', `${this.session}/element`, { using: 'css selector', value: `[data-testid="${testId}"]` });
    return v[ELEMENT];
  }
  async waitFor(testId, ms = 20_000) {
    return await eventually(ms, () => this.find(testId), `[data-testid="${testId}"]`);
  }
  async click(testId) {
    const el = await this.waitFor(testId);
    await this.req('POST', `${this.session}/element/${el}/click`, {});
  }
  async type(testId, text) {
    const el = await this.waitFor(testId);
    await this.req('POST', `${this.session}/element/${el}/clear`, {}).catch(() => {});
    await this.req('POST', `${this.session}/element/${el}/value`, { text });
  }
  async text(testId) {
    const el = await this.waitFor(testId);
    return await this.req('GET', `${this.session}/element/${el}/text`);
  }
  run(script, ...args) {
    return this.req('POST', `${this.session}/execute/sync`, { script, args });
  }
  async shot(name) {
    const png = await this.req('GET', `${this.session}/screenshot`).catch(() => null);
    if (png) writeFileSync(join(SHOTS, name), Buffer.from(png, 'base64'));
  }
}

test('the desktop window: pages, an invite, publishing by the picker, playing, a message', { timeout: 240_000 }, async (t) => {
  spawnSync('mkdir', ['-p', SHOTS]);
  const media = tempDir('hearth-wd-media-');
  const video = join(media, 'Desktop test clip.mp4');
  const made = spawnSync('ffmpeg', [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-t', '6',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', video,
  ]);
  assert.equal(made.status, 0, `ffmpeg: ${made.stderr}`);

  let wd;
  t.after(async () => {
    await wd?.close();
    for (const c of children) stop(c);
    await eventually(10_000, () => children.every((c) => c.child.exitCode !== null || c.child.signalCode !== null), 'every process to stop').catch(
      () => children.forEach((c) => stop(c, 'SIGKILL')),
    );
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const node = await headless();
  const headlessId = (await api(node, 'status')).peer_id;
  const invite = (await api(node, 'create_invite')).text;

  const deskDir = tempDir('hearth-wd-desk-');
  const env = {
    HEARTH_DATA_DIR: deskDir,
    HEARTH_LISTEN: '/ip4/127.0.0.1/tcp/0',
    HEARTH_HTTP: '127.0.0.1:0',
    HEARTH_MDNS: '0',
    HEARTH_NAME: 'Desktop',
    HEARTH_PASSPHRASE: PASSPHRASE,
    HEARTH_TEST_PICK: video,
  };
  // The app inherits its environment from tauri-driver (through WebKitWebDriver).
  const port = await freePort();
  const nativePort = await freePort();
  start(DRIVER, ['--port', String(port), '--native-port', String(nativePort)], env, 'tauri-driver');
  await eventually(20_000, () => fetch(`http://127.0.0.1:${port}/status`).then((r) => r.ok), 'tauri-driver');
  wd = new Driver(port);
  await wd.open(DESKTOP, env);
  try {
    // ---- The pages ----
    await wd.waitFor('page-explore', 60_000);
    for (const page of ['library', 'downloads', 'chat', 'peers', 'settings', 'explore']) {
      await wd.click(`nav-${page}`);
      await wd.waitFor(`page-${page}`);
    }
    await wd.shot('desktop-wd-explore.png');

    // ---- Join the headless node with its invite ----
    await wd.click('nav-peers');
    await wd.type('join-invite', invite);
    await wd.click('join-submit');
    await eventually(30_000, async () => /^Connected to Headless/.test(await wd.text('join-result')), 'the join');
    await eventually(
      20_000,
      async () => (await api(node, 'list_peers')).some((p) => p.online && p.profile?.display_name === 'Desktop'),
      'the headless node to list the desktop online',
    );

    // ---- Publish through the picker command path ----
    await wd.click('nav-library');
    await wd.click('publish-pick');
    await wd.click('publish-submit');
    await wd.waitFor('publish-done', 60_000);
    const found = await eventually(
      30_000,
      async () => (await api(node, 'search', { text: 'clip' })).items.find((r) => r.title.includes('Desktop test clip')),
      'the headless node to find the published video',
    );
    assert.equal(found.kind, 'video');

    // ---- Play it in the window (the loopback media server path) ----
    await wd.run(`window.location.hash = '#/resource/${found.content_id}'; return true;`);
    await wd.click('play');
    const played = await eventually(
      40_000,
      async () => {
        const s = await wd.run(
          `const v = document.querySelector('[data-testid="player"]');
           return v ? { t: v.currentTime, src: v.currentSrc, error: v.error ? v.error.code : null } : null;`,
        );
        assert.ok(s, 'no player yet');
        assert.equal(s.error, null, `the player failed: ${JSON.stringify(s)}`);
        return s.t > 1 ? s : false;
      },
      'the video to play past 1 s',
    );
    assert.match(played.src, /^http:\/\/127\.0\.0\.1:\d+\/media\//, `the player reads the loopback server (${played.src})`);
    await wd.shot('desktop-wd-player.png');

    // ---- A direct message reaches the headless node ----
    await wd.click('nav-chat');
    await wd.click('chat-new-dm');
    await wd.type('new-dm-peer-id', headlessId);
    await wd.click('new-dm-start');
    const body = `Hello from the desktop ${Date.now()}`;
    await wd.type('chat-composer', `${body}\uE007`);
    const deskId = await eventually(10_000, async () => {
      const peers = await api(node, 'list_peers');
      return peers.find((p) => p.profile?.display_name === 'Desktop')?.peer_id;
    }, 'the desktop peer id');
    // The headless node has never talked with the desktop: the message waits in its
    // requests until it is accepted.
    await eventually(
      30_000,
      async () => (await api(node, 'list_requests')).requests.some((r) => r.peer_id === deskId && r.messages.some((m) => m.body === body)),
      'the request at the headless node',
    );
    await api(node, 'answer_request', { peer_id: deskId, accept: true });
    await eventually(
      30_000,
      async () => (await api(node, 'dm_history', { peer_id: deskId, before: null, limit: 20 })).messages.some((m) => m.body === body),
      'the message at the headless node',
    );
    // ... and shows in the window's conversation, delivered.
    await eventually(
      20_000,
      async () => (await wd.text('chat-messages')).includes(body),
      'the sent message in the window',
    );
    // Its mark turns to delivered (the node's events reach the window), and the conversation
    // is listed with it.
    await eventually(
      20_000,
      () => wd.run(`return [...document.querySelectorAll('[data-testid="message-state"]')].some((e) => e.classList.contains('msg-state-delivered'));`),
      'the message marked delivered in the window',
    );
    await wd.shot('desktop-wd-chat.png');

    // ---- One instance: a second launch with a magnet link starts the download here ----
    const paperPath = join(media, 'Handed over.pdf');
    writeFileSync(paperPath, Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(300_000, 7)]));
    const paper = await api(node, 'publish', { path: paperPath });
    const second = spawnSync(DESKTOP, [paper.magnet], {
      env: { ...process.env, ...env, HEARTH_DATA_DIR: tempDir('hearth-wd-second-') },
      timeout: 30_000,
      encoding: 'utf8',
    });
    assert.equal(second.status, 0, `the second launch exits after handing over its link: ${second.stderr}`);
    await wd.waitFor('page-downloads', 20_000);
    await eventually(
      60_000,
      () =>
        wd.run(
          `const row = document.querySelector('[data-testid="download-row"][data-content-id="${paper.content_id}"]');
           return row ? row.dataset.state === 'complete' : false;`,
        ),
      'the handed-over magnet link downloaded in the first window',
    );
    await wd.shot('desktop-wd-magnet.png');
  } catch (e) {
    await wd.shot('desktop-wd-failed.png');
    for (const c of children) console.error(`---- ${c.name} ----\n${c.log.slice(-4000)}`);
    throw e;
  }
});
