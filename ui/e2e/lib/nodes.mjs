// Real headless nodes (`hearth run`) for the end-to-end tests: each on loopback with its own
// temporary data directory, API address and token.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { eventually, launchBrowser } from './browser.mjs';

export const UI_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const HEARTH_BIN = process.env.HEARTH_BIN
  ? resolve(process.env.HEARTH_BIN)
  : resolve(UI_DIR, '../target/debug/hearth');
export const SHOTS = join(UI_DIR, 'e2e', 'screenshots');

/** Every node started by this test file, to stop (and clean up after) at the end. */
export const nodes = [];
const tempDirs = [];

/** Fails early, with what to do, when the binary or the built UI is missing. */
export function checkPrerequisites() {
  assert.ok(
    existsSync(HEARTH_BIN),
    `node binary not found at ${HEARTH_BIN}: build it (cargo build) or set HEARTH_BIN`,
  );
  // The node serves the UI from ui/dist.
  assert.ok(existsSync(join(UI_DIR, 'dist', 'index.html')), 'ui/dist is missing: run `npm run build` first');
  mkdirSync(SHOTS, { recursive: true });
}

/**
 * A running `hearth run` process with its API address and token. `opts.env`: extra
 * environment variables; `opts.dataDir`: the data directory of an earlier run to start
 * again from (e.g. after `stopNode`), instead of a fresh one.
 */
export async function startNode(name, extraArgs = [], opts = {}) {
  let dataDir = opts.dataDir;
  if (dataDir) {
    // The address file of the earlier run must not pass for this run's.
    rmSync(join(dataDir, 'api.json'), { force: true });
  } else {
    dataDir = mkdtempSync(join(tmpdir(), `hearth-e2e-${name}-`));
    tempDirs.push(dataDir);
  }
  const args = [
    'run',
    '--data-dir', dataDir,
    '--listen', '/ip4/127.0.0.1/tcp/0',
    '--http', '127.0.0.1:0',
    '--no-mdns',
    '--name', name,
    ...extraArgs,
  ];
  const child = spawn(HEARTH_BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_BACKTRACE: '1', ...(opts.env ?? {}) },
  });
  const node = { name, child, dataDir, log: '', exited: null, url: null, token: null };
  nodes.push(node);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => (node.log += d));
  child.stderr.on('data', (d) => (node.log += d));
  child.on('exit', (code, signal) => (node.exited = { code, signal }));
  child.on('error', (e) => (node.exited = { error: e.message }));

  await eventually(30_000, () => {
    if (node.exited) {
      throw new Error(`${name} exited early (${JSON.stringify(node.exited)}):\n${node.log}`);
    }
    const m = /(http:\/\/127\.0\.0\.1:\d+)\/#token=([^\s"']+)/.exec(node.log);
    if (m) {
      node.url = m[1];
      node.token = m[2];
      return true;
    }
    // The node also writes its address to <data-dir>/api.json.
    const apiFile = join(dataDir, 'api.json');
    if (existsSync(apiFile)) {
      try {
        const api = JSON.parse(readFileSync(apiFile, 'utf8'));
        if (api.url && api.token) {
          node.url = String(api.url).replace(/\/+$/, '');
          node.token = api.token;
          return true;
        }
      } catch {
        // partially written: try again
      }
    }
    return false;
  }).catch((e) => {
    throw new Error(`${name} did not report its API address: ${e.message}\n--- log ---\n${node.log}`);
  });
  node.pageUrl = `${node.url}/#token=${node.token}`;
  return node;
}

/**
 * Runs one API command on the node directly (to check what the UI shows against the node's
 * own answer): `POST /api/<cmd>` with `req` as the JSON body (none for a command that takes
 * nothing), as the UI's HTTP transport does.
 */
export async function api(node, cmd, req) {
  const headers = { Authorization: `Bearer ${node.token}` };
  if (req !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${node.url}/api/${cmd}`, {
    method: 'POST',
    headers,
    body: req === undefined ? undefined : JSON.stringify(req),
  });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : null;
  assert.equal(res.status, 200, `${cmd}: ${text}`);
  return parsed;
}

export async function stopNode(node) {
  if (node.exited) return;
  const exited = new Promise((r) => node.child.once('exit', r));
  node.child.kill('SIGTERM');
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise((r) => setTimeout(() => r(true), 3000)),
  ]);
  if (timedOut && !node.exited) {
    node.child.kill('SIGKILL');
    await exited;
  }
}

/** Stops every node and removes their data directories. */
export async function stopAllNodes() {
  await Promise.all(nodes.map(stopNode));
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}

/** Prints every node's log (after a failure). */
export function dumpLogs() {
  for (const n of nodes) console.error(`--- ${n.name} log ---\n${n.log}`);
}

/** Collects page errors and CSP violations, which must not happen. */
export function watch(page, label, problems) {
  page.on('pageerror', (e) => problems.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy|Refused to/i.test(m.text())) problems.push(`${label}: ${m.text()}`);
  });
}

/** Every browser opened by this test file (`openBrowser`), to close at the end. */
const browsers = [];

/** A headless Chromium (`launchBrowser`) that `scenario` closes at the end. */
export async function openBrowser(opts) {
  const browser = await launchBrowser(opts);
  browsers.push(browser);
  return browser;
}

/**
 * A test file's one test: the prerequisites checked first, every node's log printed when it
 * fails, and every node and browser stopped at the end (then `cleanup`, if given).
 */
export function scenario(name, { timeout, cleanup }, run) {
  before(checkPrerequisites);
  after(async () => {
    for (const b of browsers.splice(0)) await b.close();
    await stopAllNodes();
    cleanup?.();
  });
  test(name, { timeout }, async (t) => {
    try {
      await run(t);
    } catch (e) {
      dumpLogs();
      throw e;
    }
  });
}

/** Node `name` started, once it reports a listen address: the node and its status. */
export async function startListening(name, extraArgs = [], opts = {}) {
  const node = await startNode(name, extraArgs, opts);
  const status = await eventually(10_000, async () => {
    const s = await api(node, 'status');
    assert.ok(s.listen_addrs.length > 0, `node ${name} has no listen address yet`);
    return s;
  });
  return { node, status };
}

/** Waits until `node` knows the peer `peerId` online. */
export async function waitOnline(node, peerId, what, timeoutMs = 20_000) {
  await eventually(timeoutMs, async () => {
    const peers = await api(node, 'list_peers');
    assert.ok(peers.some((p) => p.peer_id === peerId && p.online), what);
  });
}

/** A full-page screenshot into `SHOTS`, after `settleMs` for transitions to finish. */
export async function shot(page, name, settleMs = 400) {
  if (settleMs > 0) await page.waitForTimeout(settleMs);
  await page.screenshot({ path: join(SHOTS, name), fullPage: true });
}

/** Takes a screenshot, then rethrows: for the step that failed. */
export function shootOnFailure(page, name) {
  return async (e) => {
    await page.screenshot({ path: join(SHOTS, `${name}-failed.png`), fullPage: true }).catch(() => {});
    throw e;
  };
}
