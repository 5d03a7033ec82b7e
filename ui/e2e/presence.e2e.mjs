// End-to-end: two real headless nodes, the real UI in Chromium.
// Node A sets its display name in Settings; node B's Peers page shows A online under that name.
//
// Needs the node binary (`../target/debug/hearth`, or HEARTH_BIN) and Chromium (/usr/bin/chromium,
// or CHROMIUM_BIN). Run with `npm run e2e`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually, launchBrowser } from './lib/browser.mjs';

const UI_DIR = fileURLToPath(new URL('..', import.meta.url));
const HEARTH_BIN = process.env.HEARTH_BIN
  ? resolve(process.env.HEARTH_BIN)
  : resolve(UI_DIR, '../target/debug/hearth');
const SHOTS = join(UI_DIR, 'e2e', 'screenshots');

const nodes = [];
const tempDirs = [];
let browser;

/** A running `hearth run` process with its API address and token. */
async function startNode(name, extraArgs = []) {
  const dataDir = mkdtempSync(join(tmpdir(), `hearth-e2e-${name}-`));
  tempDirs.push(dataDir);
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
    env: { ...process.env, RUST_BACKTRACE: '1' },
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

async function api(node, path) {
  const res = await fetch(node.url + path, { headers: { Authorization: `Bearer ${node.token}` } });
  const body = await res.json();
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(body)}`);
  return body;
}

async function stopNode(node) {
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

/** Collects page errors and CSP violations, which must not happen. */
function watch(page, label, problems) {
  page.on('pageerror', (e) => problems.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy|Refused to/i.test(m.text())) problems.push(`${label}: ${m.text()}`);
  });
}

before(() => {
  assert.ok(
    existsSync(HEARTH_BIN),
    `node binary not found at ${HEARTH_BIN}: build it (cargo build) or set HEARTH_BIN`,
  );
  // The node serves the UI from ui/dist.
  assert.ok(existsSync(join(UI_DIR, 'dist', 'index.html')), 'ui/dist is missing: run `npm run build` first');
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  await Promise.all(nodes.map(stopNode));
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

test('a profile set on one node shows up live on the other node\'s Peers page', { timeout: 120_000 }, async () => {
  try {
    await presenceScenario();
  } catch (e) {
    for (const n of nodes) console.error(`--- ${n.name} log ---\n${n.log}`);
    throw e;
  }
});

async function presenceScenario() {
  const a = await startNode('NodeA');
  const statusA = await eventually(10_000, async () => {
    const s = await api(a, '/api/status');
    assert.ok(s.listen_addrs.length > 0, 'node A has no listen address yet');
    return s;
  });
  const addrA = statusA.listen_addrs[0];
  assert.match(addrA, /\/p2p\//, 'a listen address includes the peer id');
  const b = await startNode('NodeB', ['--bootstrap', addrA]);

  browser = await launchBrowser();
  const problems = [];
  const name = `Ada ${Date.now()}`;

  // Node A: set the display name in Settings.
  const pageA = await browser.context.newPage();
  watch(pageA, 'A', problems);
  await pageA.goto(a.pageUrl);
  // the token leaves the address bar
  await eventually(5_000, async () => assert.ok(!pageA.url().includes('token='), pageA.url()));
  await pageA.getByTestId('nav-settings').click();
  const nameInput = pageA.getByTestId('profile-display-name');
  await eventually(10_000, async () => assert.ok(await nameInput.isEnabled()));
  await nameInput.fill(name);
  await pageA.getByTestId('profile-affiliation').fill('Analytical Engine Society');
  await pageA.getByTestId('profile-bio').fill('Notes on the Analytical Engine.');
  await pageA.getByTestId('profile-save').click();
  await pageA.getByTestId('profile-saved').waitFor({ state: 'visible', timeout: 10_000 });

  // A's Settings shows A's own peer id, and the sidebar shows the new name.
  await eventually(10_000, async () => {
    assert.equal((await pageA.getByTestId('self-peer-id').innerText()).trim(), statusA.peer_id);
    assert.equal((await pageA.getByTestId('self-name').innerText()).trim(), name);
  });
  assert.equal((await api(a, '/api/profile')).display_name, name);
  await pageA.screenshot({ path: join(SHOTS, 'nodeA-settings.png'), fullPage: true });

  // Node B: A appears on the Peers page, online, under the new name, without a reload.
  const pageB = await browser.context.newPage();
  watch(pageB, 'B', problems);
  await pageB.goto(b.pageUrl);
  await pageB.getByTestId('nav-peers').click();
  await pageB.getByTestId('page-peers').waitFor();
  const rowA = pageB.locator(`[data-testid="peer-row"][data-peer-id="${statusA.peer_id}"]`);
  await eventually(10_000, async () => {
    assert.equal((await rowA.getByTestId('peer-name').innerText()).trim(), name);
    assert.equal((await rowA.getByTestId('peer-status').innerText()).trim(), 'online');
  }).catch(async (e) => {
    await pageB.screenshot({ path: join(SHOTS, 'nodeB-peers-failed.png'), fullPage: true });
    throw e;
  });
  await pageB.screenshot({ path: join(SHOTS, 'nodeB-peers.png'), fullPage: true });

  assert.deepEqual(problems, [], 'no page errors or CSP violations');
}
