// End-to-end: two real headless nodes, the real UI in Chromium.
// Node A sets its display name in Settings; node B's Peers page shows A online under that name.
// Two nodes that know nothing of each other: one makes an invite on its Peers page, the
// other pastes it into its own, and they are connected.
//
// Needs the node binary (`../target/debug/hearth`, or HEARTH_BIN) and Chromium (/usr/bin/chromium,
// or CHROMIUM_BIN). Run with `npm run e2e`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually } from './lib/browser.mjs';
import { SHOTS, api, startNode, watch, scenario, openBrowser, startListening, shootOnFailure } from './lib/nodes.mjs';

scenario('a profile set on one node shows up live on the other node\'s Peers page', { timeout: 120_000 }, presenceScenario);

scenario('a node joins another by an invite pasted in the browser', { timeout: 120_000 }, inviteScenario);

async function presenceScenario() {
  const { node: a, status: statusA } = await startListening('NodeA');
  const addrA = statusA.listen_addrs[0];
  assert.match(addrA, /\/p2p\//, 'a listen address includes the peer id');
  const b = await startNode('NodeB', ['--bootstrap', addrA]);

  const browser = await openBrowser();
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
  assert.equal((await api(a, 'get_profile')).display_name, name);
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

async function inviteScenario() {
  const { node: a, status: statusA } = await startListening('Inviter');
  const { node: b, status: statusB } = await startListening('Joiner');
  assert.equal((await api(b, 'list_peers')).length, 0, 'the joiner knows nobody yet');

  const browser = await openBrowser();
  const problems = [];

  // A makes an invite on its Peers page and copies the text shown.
  const pageA = await browser.context.newPage();
  watch(pageA, 'A', problems);
  await pageA.goto(a.pageUrl);
  await pageA.getByTestId('nav-peers').click();
  await pageA.getByTestId('invite-create').click();
  const inviteText = pageA.getByTestId('invite-text');
  await inviteText.waitFor({ timeout: 10_000 });
  const invite = await inviteText.inputValue();
  assert.match(invite, /^hearth:invite\/[A-Za-z0-9_-]+$/);
  assert.match(await pageA.getByTestId('invite-reach').innerText(), /this computer only/);
  await pageA.screenshot({ path: join(SHOTS, 'invite-made.png'), fullPage: true });

  // B pastes it into "Join with an invite".
  const pageB = await browser.context.newPage();
  watch(pageB, 'B', problems);
  await pageB.goto(b.pageUrl);
  await pageB.getByTestId('nav-peers').click();
  await pageB.getByTestId('join-invite').fill(`${invite}\n`);
  await pageB.getByTestId('join-submit').click();
  const result = pageB.getByTestId('join-result');
  await eventually(20_000, async () => assert.match(await result.innerText(), /^Connected to Inviter/)).catch(
    shootOnFailure(pageB, 'invite-join'),
  );
  // Each page lists the other online, without a reload.
  for (const [page, id, label] of [
    [pageB, statusA.peer_id, 'B'],
    [pageA, statusB.peer_id, 'A'],
  ]) {
    const row = page.locator(`[data-testid="peer-row"][data-peer-id="${id}"]`);
    await eventually(15_000, async () => {
      assert.equal((await row.getByTestId('peer-status').innerText()).trim(), 'online');
    }).catch(shootOnFailure(page, `invite-${label}-peers`));
  }
  // The joined peer's row explains how it is connected.
  const rowA = pageB.locator(`[data-testid="peer-row"][data-peer-id="${statusA.peer_id}"]`);
  await rowA.getByTestId('peer-diagnose-toggle').click();
  await eventually(10_000, async () => {
    assert.match(await rowA.getByTestId('peer-diagnosis-summary').innerText(), /connected/);
  });
  await pageB.screenshot({ path: join(SHOTS, 'invite-joined.png'), fullPage: true });

  // A second paste of the same invite: already connected.
  await pageB.getByTestId('join-invite').fill(invite);
  await pageB.getByTestId('join-submit').click();
  await eventually(10_000, async () => assert.match(await result.innerText(), /^Already connected to Inviter/));
  assert.deepEqual(problems, [], 'no page errors or CSP violations');
}
