// End-to-end: two real headless nodes, the real UI in Chromium.
// Node A picks a profile picture in Settings; node B's Peers page shows it beside A, loaded
// from B's own node (which fetched it from A by its hash).
//
// Needs the node binary (`../target/debug/hearth`, or HEARTH_BIN) and Chromium (/usr/bin/chromium,
// or CHROMIUM_BIN). Run with `npm run e2e`.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { eventually } from './lib/browser.mjs';
import { SHOTS, api, startNode, watch, scenario, openBrowser, startListening } from './lib/nodes.mjs';

const PICTURE = fileURLToPath(new URL('../../icons/256x256.png', import.meta.url));

scenario('a profile picture picked on one node shows on the other node\'s Peers page', { timeout: 120_000 }, async () => {
  const { node: a, status: statusA } = await startListening('PicA');
  const b = await startNode('PicB', ['--bootstrap', statusA.listen_addrs[0]]);
  const browser = await openBrowser();
  const problems = [];

  const pageA = await browser.context.newPage();
  watch(pageA, 'A', problems);
  await pageA.goto(a.pageUrl);
  await pageA.getByTestId('nav-settings').click();
  const choose = pageA.getByTestId('avatar-choose');
  await eventually(10_000, async () => assert.ok(await choose.isEnabled()));
  await pageA.getByTestId('avatar-input').setInputFiles(PICTURE);
  let hash;
  await eventually(15_000, async () => {
    hash = (await api(a, 'get_profile')).avatar;
    assert.match(hash ?? '', /^[0-9a-f]{64}$/);
  });
  // A's own page shows it, decoded at 256 px.
  const ownPicture = pageA.locator('.profile-preview [data-testid="avatar-img"]');
  await eventually(10_000, async () => {
    assert.equal(await ownPicture.evaluate((img) => img.naturalWidth), 256);
  });

  const pageB = await browser.context.newPage();
  watch(pageB, 'B', problems);
  await pageB.goto(b.pageUrl);
  await pageB.getByTestId('nav-peers').click();
  const rowA = pageB.locator(`[data-testid="peer-row"][data-peer-id="${statusA.peer_id}"]`);
  await eventually(30_000, async () => {
    const img = rowA.getByTestId('avatar-img');
    assert.ok((await img.getAttribute('src')).includes(`/avatars/${hash}`));
    assert.equal(await img.evaluate((el) => el.naturalWidth), 256);
  }).catch(async (e) => {
    await pageB.screenshot({ path: join(SHOTS, 'avatar-peers-failed.png'), fullPage: true });
    throw e;
  });
  await pageB.screenshot({ path: join(SHOTS, 'avatar-peers.png'), fullPage: true });
  assert.deepEqual(problems, [], 'no page errors or CSP violations');
});
