// End-to-end: two real headless nodes, the real UI in Chromium.
// In node A's Library a ~3 MB file is picked and published with a title; in node B, Explore
// finds it by a word of that title, its page downloads it with a live progress bar up to
// 100, and B's Downloads page lists it complete. The bytes B saved are the bytes A published.
//
// Needs the node binary (`../target/debug/hearth`, or HEARTH_BIN) and Chromium (/usr/bin/chromium,
// or CHROMIUM_BIN). Run with `npm run e2e`.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from './lib/browser.mjs';
import { api, startNode, watch, scenario, openBrowser, startListening, waitOnline, shot, shootOnFailure } from './lib/nodes.mjs';

scenario('a file published in one browser is found, downloaded and listed in another', { timeout: 240_000 }, catalogScenario);

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

async function catalogScenario() {
  // Own BitTorrent ports (0 = any), so the two nodes never compete for the default one.
  const { node: a, status: statusA } = await startListening('NodeA', ['--bt-port', '0']);
  const b = await startNode('NodeB', ['--bt-port', '0', '--bootstrap', statusA.listen_addrs[0]]);
  // B must know A (online) before anything A publishes can reach it live.
  await waitOnline(b, statusA.peer_id, 'A is not online at B yet');

  const browser = await openBrowser();
  const problems = [];

  // ---- Node A: publish a file picked in the Library -------------------------------------
  // A size that is not a multiple of any power-of-two piece length (see DESIGN.md pitfalls).
  const data = randomBytes(3 * 1024 * 1024 + 12_345);
  const word = `Zebrafish${Date.now().toString(36)}`;
  const title = `${word} fin regeneration atlas`;

  const pageA = await browser.context.newPage();
  watch(pageA, 'A', problems);
  await pageA.goto(a.pageUrl);
  await pageA.getByTestId('nav-library').click();
  await pageA.getByTestId('page-library').waitFor();
  await pageA.getByTestId('publish-file-input').setInputFiles({
    name: 'fin-atlas.bin',
    mimeType: 'application/octet-stream',
    buffer: data,
  });
  const titleInput = pageA.getByTestId('publish-title');
  await titleInput.waitFor();
  assert.equal(await titleInput.inputValue(), 'fin-atlas.bin', 'the title starts as the file name');
  await titleInput.fill(title);
  await pageA.getByTestId('publish-description').fill('Regeneration stages, one per line.\nSecond line.');
  await pageA.getByTestId('publish-kind').selectOption('dataset');
  await pageA.getByTestId('publish-tags').fill('biology, e2e');
  await pageA.getByTestId('publish-submit').click();
  await pageA
    .getByTestId('publish-done')
    .waitFor({ timeout: 60_000 })
    .catch(async (e) => {
      const err = await pageA.getByTestId('publish-error').textContent().catch(() => null);
      await shootOnFailure(pageA, 'library')(err ? new Error(`publish failed: ${err}`) : e);
    });
  const item = pageA.locator('[data-testid="published-item"]', { hasText: title });
  await item.waitFor({ timeout: 10_000 }).catch(shootOnFailure(pageA, 'library'));
  const contentId = await item.getAttribute('data-content-id');
  assert.match(contentId ?? '', /^[0-9a-f]{40}$/, 'a published item carries its content id');
  const mine = await api(a, 'get_resource', { content_id: contentId });
  assert.equal(mine.title, title);
  assert.equal(mine.kind, 'dataset');
  assert.deepEqual(mine.tags, ['biology', 'e2e']);
  assert.equal(mine.size, data.length);
  assert.equal(mine.local, 'published');
  await shot(pageA, 'library.png');

  // ---- Node B: Explore finds it by a word of its title ----------------------------------
  const pageB = await browser.context.newPage();
  watch(pageB, 'B', problems);
  await pageB.goto(b.pageUrl);
  await pageB.getByTestId('page-explore').waitFor();
  await pageB.getByTestId('explore-search').fill(word.toLowerCase());
  const result = pageB.locator(`[data-testid="result"][data-content-id="${contentId}"]`);
  // Replication is live: the result appears without reloading or searching again.
  await eventually(60_000, async () => {
    assert.equal(await result.count(), 1, 'not found yet');
    assert.equal(await result.getAttribute('data-available'), 'true', 'found, but not available yet');
  }).catch(shootOnFailure(pageB, 'explore'));
  assert.equal((await result.getByTestId('result-title').innerText()).trim(), title);
  assert.equal((await result.getByTestId('result-author').innerText()).trim(), 'NodeA');
  await shot(pageB, 'explore.png');

  // ---- Node B: its page, the Download button, progress up to 100 ------------------------
  await result.locator('a').click();
  await pageB.getByTestId('page-resource').waitFor();
  await eventually(10_000, async () => {
    assert.equal((await pageB.getByTestId('resource-title').innerText()).trim(), title);
  });
  assert.match(await pageB.getByTestId('resource-description').innerText(), /one per line\.\nSecond line\./);
  await eventually(10_000, async () => {
    const holder = pageB.locator(`[data-testid="holder"][data-peer-id="${statusA.peer_id}"]`);
    assert.match(await holder.innerText(), /online/);
  }).catch(shootOnFailure(pageB, 'resource'));

  const downloadButton = pageB.getByTestId('download-button');
  assert.ok(await downloadButton.isEnabled(), 'Download is on while A is online');
  await downloadButton.click();
  const bar = pageB.getByTestId('download-progress');
  await bar.waitFor({ timeout: 15_000 }).catch(shootOnFailure(pageB, 'resource'));
  assert.equal(await bar.getAttribute('role'), 'progressbar');
  await eventually(
    120_000,
    async () => assert.equal(await bar.getAttribute('aria-valuenow'), '100'),
    50,
  ).catch(async (e) => {
    const err = await pageB.getByTestId('download-error').textContent().catch(() => null);
    await shootOnFailure(pageB, 'resource')(err ? new Error(`${e.message}; download error: ${err}`) : e);
  });
  await eventually(10_000, async () => {
    assert.equal((await pageB.getByTestId('download-state').innerText()).trim(), 'Complete');
  });
  await shot(pageB, 'resource.png');

  // ---- Node B: Downloads lists it complete ----------------------------------------------
  await pageB.getByTestId('nav-downloads').click();
  await pageB.getByTestId('page-downloads').waitFor();
  const row = pageB.locator(`[data-testid="download-row"][data-content-id="${contentId}"]`);
  await eventually(10_000, async () => {
    assert.equal(await row.getAttribute('data-state'), 'complete');
    assert.equal(await row.getByTestId('download-progress').getAttribute('aria-valuenow'), '100');
    assert.equal((await row.getByTestId('download-title').innerText()).trim(), title);
  }).catch(shootOnFailure(pageB, 'downloads'));
  await shot(pageB, 'downloads.png');

  // The bytes on B's disk are A's file.
  const downloads = await api(b, 'list_downloads');
  const d = downloads.find((x) => x.content_id === contentId);
  assert.ok(d, 'B lists the download');
  assert.equal(d.state, 'complete');
  const path = statSync(d.path).isDirectory() ? join(d.path, 'fin-atlas.bin') : d.path;
  assert.equal(sha256(readFileSync(path)), sha256(data), 'the downloaded file matches the published one');

  assert.deepEqual(problems, [], 'no page errors or CSP violations');
}
