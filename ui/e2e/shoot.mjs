// Development aid: builds the UI with its in-page fake node (`vite build --mode fake`, booted
// by `?fake`: src/test/fake/demo.ts), serves it with the node's CSP, drives every page in
// headless Chromium (light and dark) and saves screenshots to e2e/screenshots/fake-*.png,
// checking a few behaviours on the way. Needs no node binary.
//
//   node e2e/shoot.mjs            (Chromium at /usr/bin/chromium, or CHROMIUM_BIN)
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { eventually, launchBrowser } from './lib/browser.mjs';
import { CSP } from './lib/csp.mjs';

const UI = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(UI, 'e2e', 'screenshots') + '/';
mkdirSync(OUT, { recursive: true });

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Builds the UI in fake mode into a temporary folder. */
async function buildFake() {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-ui-fake-'));
  await build({ root: UI, mode: 'fake', logLevel: 'warn', build: { outDir: dir, emptyOutDir: true } });
  return dir;
}

/** Serves `dir` on loopback with the headless node's Content-Security-Policy. */
async function serve(dir) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const rel = path === '/' ? 'index.html' : normalize(decodeURIComponent(path)).replace(/^[/\\]+/, '');
    if (rel.includes('..')) return res.writeHead(400).end();
    try {
      const body = await readFile(join(dir, rel));
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
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

const dist = await buildFake();
const site = await serve(dist);
/** Tells the page's fake node to emit an event. */
const emit = (page, kind) => page.evaluate((k) => window.hearthFake.emit(k), kind);
const problems = [];
try {
  for (const scheme of ['light', 'dark']) {
    const browser = await launchBrowser({ colorScheme: scheme });
    try {
      const page = await browser.context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`[${scheme}] ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`[${scheme}] page error: ${e.message}`));
      const shot = (name) => page.screenshot({ path: `${OUT}fake-${scheme}-${name}.png`, fullPage: true });

      await page.goto(`${site.url}/?fake`);
      await page.getByTestId('page-explore').waitFor();
      await eventually(5000, async () => assert.match(await page.getByTestId('online-count').innerText(), /online/));
      await eventually(5000, async () => assert.ok((await page.getByTestId('result').count()) >= 5));
      // untrusted titles are shown as text; unavailable results are greyed out
      assert.equal(await page.locator('[data-testid="result"] img[src="x"]').count(), 0);
      assert.ok((await page.locator('[data-testid="result"][data-available="false"]').count()) >= 1);
      await shot('explore');

      // a resource page, downloading live
      const pick = scheme === 'light' ? 'Bernoulli numbers, plotted' : 'Sketch of the Analytical Engine';
      await page.locator('[data-testid="result"]', { hasText: pick }).locator('a').click();
      await page.getByTestId('download-button').click();
      await eventually(10000, async () => assert.equal(await page.getByTestId('download-progress').getAttribute('aria-valuenow'), '100'));
      await page.waitForTimeout(400);
      await shot('resource');

      for (const r of ['library', 'downloads']) {
        await page.getByTestId(`nav-${r}`).click();
        await page.getByTestId(`page-${r}`).waitFor();
        await shot(r);
      }

      // chat: locked (the first scheme), then a room and a direct conversation
      await page.getByTestId('nav-chat').click();
      await page.getByTestId('page-chat').waitFor();
      if (scheme === 'light') {
        await page.getByTestId('chat-unlock-passphrase').fill('not it');
        await page.getByTestId('chat-unlock-submit').click();
        await page.getByTestId('chat-unlock-error').waitFor();
        await shot('chat-locked');
      }
      await page.getByTestId('chat-unlock-passphrase').fill('correct horse');
      await page.getByTestId('chat-unlock-submit').click();
      await page.getByTestId('chat-new-room').waitFor();
      await shot('chat');
      await page.locator('a[data-testid^="room-item-"]', { hasText: 'Reading group' }).click();
      await page.getByTestId('room-members').waitFor();
      await page.getByTestId('chat-composer').fill(`Is Note G in the ${scheme} edition too?`);
      await page.getByTestId('chat-composer').press('Enter');
      await eventually(5000, async () => assert.equal(await page.locator('[data-testid="chat-message"][data-state="delivered"].msg-mine').count() >= 3, true));
      await eventually(5000, async () => assert.match(await page.getByTestId('chat-messages').innerText(), /Good question/));
      await page.waitForTimeout(300);
      await shot('chat-room');
      await page.getByTestId('room-invite').click();
      await page.getByTestId('invite-dialog').waitFor();
      await shot('chat-invite');
      await page.keyboard.press('Escape');
      await page.getByTestId('dm-item-12D3KooWEmmyNoetherRingTheory000000000000004').click();
      await page.getByTestId('chat-peer-offline-banner').waitFor();
      await shot('chat-dm');
      await page.getByTestId('chat-new-room').click();
      await page.getByTestId('new-room-name').fill('Journal club');
      await page.getByTestId('new-room-member-12D3KooWAdaLoveLaceAnalyticalEngine000000000001').check();
      await shot('chat-new-room');
      await page.getByTestId('new-room-create').click();
      await page.getByTestId('room-delete').waitFor();
      await shot('chat-created');

      await page.getByTestId('nav-peers').click();
      await eventually(5000, async () => assert.ok((await page.getByTestId('peer-row').count()) >= 5));
      // untrusted text is shown as text
      const bio = page.locator('[data-peer-id="12D3KooWEmmyNoetherRingTheory000000000000004"] [data-testid="peer-bio"]');
      assert.match(await bio.innerText(), /<script>/);
      // live: a new peer appears without reload
      const id = `12D3KooWLive${scheme}Peer000000000000000000000`;
      await emit(page, { type: 'peer_online', peer: { peer_id: id, profile: { display_name: `Live ${scheme}`, affiliation: 'Elsewhere', bio: '' }, addrs: [], rtt_ms: 3, online: true, connected: true, last_seen_ms: Date.now(), blocked: false } });
      await eventually(5000, async () => assert.equal(await page.locator(`[data-peer-id="${id}"] [data-testid="peer-status"]`).innerText(), 'online'));
      await emit(page, { type: 'peer_offline', peer_id: id });
      await eventually(5000, async () => assert.equal(await page.locator(`[data-peer-id="${id}"] [data-testid="peer-status"]`).innerText(), 'offline'));
      await shot('peers');

      // an invite that is not one
      await page.getByTestId('join-invite').fill('not-an-invite');
      await page.getByTestId('join-submit').click();
      await page.getByTestId('join-result').waitFor();

      await page.getByTestId('nav-settings').click();
      const nameInput = page.getByTestId('profile-display-name');
      await eventually(5000, async () => assert.equal(await nameInput.isEnabled(), true));
      await nameInput.fill(`Ada ${scheme}`);
      await page.getByTestId('profile-affiliation').fill('Analytical Engine Society');
      await page.getByTestId('profile-bio').fill('Sharing notes and translations.');
      await page.getByTestId('profile-save').click();
      await page.getByTestId('profile-saved').waitFor({ timeout: 5000 });
      await eventually(5000, async () => assert.equal(await page.getByTestId('self-name').innerText(), `Ada ${scheme}`));
      await shot('settings');

      // reconnect banner
      await page.evaluate(() => window.hearthFake.dropConnection(1500));
      await page.getByTestId('banner-reconnecting').waitFor({ timeout: 5000 });
      await page.screenshot({ path: `${OUT}fake-${scheme}-reconnecting.png` });
      await page.getByTestId('banner-reconnecting').waitFor({ state: 'detached', timeout: 10000 });

      // narrow window
      await page.setViewportSize({ width: 560, height: 800 });
      await page.getByTestId('nav-peers').click();
      await shot('peers-narrow');

      // no token
      const page2 = await browser.context.newPage();
      await page2.goto(`${site.url}/`);
      await page2.getByTestId('no-token').waitFor();
      await page2.screenshot({ path: `${OUT}fake-${scheme}-no-token.png` });
    } finally {
      await browser.close();
    }
  }
} finally {
  await site.close();
  rmSync(dist, { recursive: true, force: true });
}
const unexpected = problems;
if (unexpected.length) {
  console.error('problems:\n' + unexpected.join('\n'));
  process.exitCode = 1;
} else {
  console.log(`screenshots saved to ${OUT}`);
}
