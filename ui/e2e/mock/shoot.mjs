// Development aid: drives the built UI against the mock node and saves screenshots of every
// page (light and dark) to e2e/screenshots/mock-*.png, checking a few behaviours on the way.
//
//   npm run build && node e2e/mock/shoot.mjs
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventually, launchBrowser } from '../lib/browser.mjs';
import { startMockNode } from './mock-node.mjs';

const OUT = fileURLToPath(new URL('../screenshots/', import.meta.url));
mkdirSync(OUT, { recursive: true });

const node = await startMockNode();
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
      const shot = (name) => page.screenshot({ path: `${OUT}mock-${scheme}-${name}.png`, fullPage: true });

      await page.goto(node.pageUrl);
      await eventually(5000, async () => assert.equal(new URL(page.url()).hash, ''));
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
        await page.getByTestId('chat-unlock-passphrase').fill('correct horse');
        await page.getByTestId('chat-unlock-submit').click();
      }
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
      node.emit({ type: 'peer_online', peer: { peer_id: id, profile: { display_name: `Live ${scheme}`, affiliation: 'Elsewhere', bio: '' }, addrs: [], rtt_ms: 3, online: true, connected: true, last_seen_ms: Date.now(), blocked: false } });
      await eventually(5000, async () => assert.equal(await page.locator(`[data-peer-id="${id}"] [data-testid="peer-status"]`).innerText(), 'online'));
      node.emit({ type: 'peer_offline', peer_id: id });
      await eventually(5000, async () => assert.equal(await page.locator(`[data-peer-id="${id}"] [data-testid="peer-status"]`).innerText(), 'offline'));
      await shot('peers');

      // connect error
      await page.getByTestId('connect-addr').fill('not-an-address');
      await page.getByTestId('connect-submit').click();
      await page.getByTestId('connect-result').waitFor();

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
      node.dropSockets();
      await page.getByTestId('banner-reconnecting').waitFor({ timeout: 5000 });
      await page.screenshot({ path: `${OUT}mock-${scheme}-reconnecting.png` });
      await page.getByTestId('banner-reconnecting').waitFor({ state: 'detached', timeout: 10000 });

      // narrow window
      await page.setViewportSize({ width: 560, height: 800 });
      await page.getByTestId('nav-peers').click();
      await shot('peers-narrow');

      // no token
      const page2 = await browser.context.newPage();
      await page2.goto(node.url + '/');
      await page2.getByTestId('no-token').waitFor();
      await page2.screenshot({ path: `${OUT}mock-${scheme}-no-token.png` });
    } finally {
      await browser.close();
    }
  }
} finally {
  await node.close();
}
// The connect error and the wrong chat passphrase above are expected to log failed requests
// (400, 403) in the console.
const unexpected = problems.filter((p) => !/status of 40[03]/.test(p));
if (unexpected.length) {
  console.error('problems:\n' + unexpected.join('\n'));
  process.exitCode = 1;
} else {
  console.log(`screenshots saved to ${OUT}`);
}
