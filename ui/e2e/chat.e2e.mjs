// End-to-end: three real headless nodes, the real UI in Chromium.
// A and C unlock chat at start (HEARTH_PASSPHRASE); B chooses its passphrase in the UI. In A's
// browser a room "Reading group" is created with B and C; B's browser sees it arrive, and A and
// B exchange messages that both browsers show once each, in the same order. C is stopped, A and
// B write five more, C starts again on the same data: its browser shows every message it
// missed, in order, once each.
//
// Needs the node binary (`../target/debug/hearth`, or HEARTH_BIN) and Chromium (/usr/bin/chromium,
// or CHROMIUM_BIN). Run with `npm run e2e`.
import assert from 'node:assert/strict';
import { eventually } from './lib/browser.mjs';
import { api, startNode, stopNode, watch, scenario, openBrowser, shot, shootOnFailure } from './lib/nodes.mjs';

scenario('a room carries messages between browsers, and catches up a member who was offline', { timeout: 300_000 }, chatScenario);

const PASSPHRASE = 'e2e chat passphrase';
const unlocked = { HEARTH_PASSPHRASE: PASSPHRASE };

/** The text messages a page shows, in order: id, body and state mark. */
async function textMessages(page) {
  return page.$$eval('[data-testid="chat-message"][data-kind="text"]', (els) =>
    els.map((e) => ({
      id: e.getAttribute('data-id'),
      body: e.querySelector('[data-testid="message-body"]')?.textContent ?? '',
      state: e.getAttribute('data-state'),
    })),
  );
}

/** Checks that a page shows exactly `bodies`, in this order, each once. */
async function showsExactly(page, bodies) {
  const shown = await textMessages(page);
  assert.deepEqual(
    shown.map((m) => m.body),
    bodies,
    `shown: ${JSON.stringify(shown.map((m) => m.body))}`,
  );
  assert.equal(new Set(shown.map((m) => m.id)).size, shown.length, 'a message is shown twice');
  return shown;
}

/** Types a message into the composer and sends it with Enter. */
async function send(page, body) {
  const composer = page.getByTestId('chat-composer');
  await composer.fill(body);
  await composer.press('Enter');
  await eventually(5_000, async () => assert.equal(await composer.inputValue(), ''));
}

/** Opens the Chat page; chat is unlocked (the room list is there). */
async function openChat(page, label) {
  await page.getByTestId('nav-chat').click();
  await page.getByTestId('page-chat').waitFor();
  await page
    .getByTestId('chat-new-room')
    .waitFor({ timeout: 15_000 })
    .catch(shootOnFailure(page, `chat-${label}`));
}

async function chatScenario() {
  // ---- three nodes, B and C joining through A -------------------------------------------
  const a = await startNode('NodeA', ['--bt-port', '0'], { env: unlocked });
  const statusA = await eventually(10_000, async () => {
    const s = await api(a, 'status');
    assert.ok(s.listen_addrs.length > 0, 'node A has no listen address yet');
    return s;
  });
  const addrA = statusA.listen_addrs[0];
  const chatA = await api(a, 'chat_status').catch((e) => {
    throw new Error(`this node binary has no chat API (${e.message}): build the current one`);
  });
  assert.equal(chatA.unlocked, true, 'HEARTH_PASSPHRASE unlocks chat at start');

  const cArgs = ['--bt-port', '0', '--bootstrap', addrA];
  const b = await startNode('NodeB', ['--bt-port', '0', '--bootstrap', addrA]);
  let c = await startNode('NodeC', cArgs, { env: unlocked });
  const idB = (await api(b, 'status')).peer_id;
  const idC = (await api(c, 'status')).peer_id;
  assert.equal((await api(b, 'chat_status')).unlocked, false, 'B starts locked: its browser unlocks it');

  // Everyone knows everyone (A relays what it knows of the others).
  const sees = (node, id) => async () => {
    const peers = await api(node, 'list_peers');
    assert.ok(peers.some((p) => p.peer_id === id && p.online), `${node.name} does not see ${id} online yet`);
  };
  await eventually(30_000, sees(a, idB));
  await eventually(30_000, sees(a, idC));
  await eventually(30_000, sees(b, statusA.peer_id));
  await eventually(30_000, sees(c, statusA.peer_id));

  const browser = await openBrowser();
  const problems = [];

  // ---- B: choose a passphrase in the form ------------------------------------------------
  const pageB = await browser.context.newPage();
  watch(pageB, 'B', problems);
  await pageB.goto(b.pageUrl);
  await pageB.getByTestId('nav-chat').click();
  await pageB.getByTestId('chat-unlock-passphrase').waitFor({ timeout: 15_000 }).catch(shootOnFailure(pageB, 'chat-unlock'));
  // First time: the passphrase is being chosen, so it is asked twice; too short is refused.
  await pageB.getByTestId('chat-unlock-passphrase').fill('short');
  await pageB.getByTestId('chat-unlock-confirm').fill('short');
  await pageB.getByTestId('chat-unlock-submit').click();
  await pageB.getByTestId('chat-unlock-error').waitFor({ timeout: 5_000 });
  await shot(pageB, 'chat-unlock.png');
  await pageB.getByTestId('chat-unlock-passphrase').fill('a passphrase for B');
  await pageB.getByTestId('chat-unlock-confirm').fill('a passphrase for B');
  await pageB.getByTestId('chat-unlock-submit').click();
  await pageB.getByTestId('chat-new-room').waitFor({ timeout: 20_000 }).catch(shootOnFailure(pageB, 'chat-unlock'));
  assert.equal((await api(b, 'chat_status')).unlocked, true);

  // ---- A: create "Reading group" with B and C --------------------------------------------
  const pageA = await browser.context.newPage();
  watch(pageA, 'A', problems);
  await pageA.goto(a.pageUrl);
  await openChat(pageA, 'A');
  await pageA.getByTestId('chat-new-room').click();
  await pageA.getByTestId('new-room-name').fill('Reading group');
  await pageA.getByTestId(`new-room-member-${idB}`).check({ timeout: 10_000 });
  await pageA.getByTestId(`new-room-member-${idC}`).check({ timeout: 10_000 });
  await shot(pageA, 'chat-new-room.png');
  await pageA.getByTestId('new-room-create').click();
  const roomId = await eventually(15_000, async () => {
    const m = /#\/chat\/room\/([0-9a-f]+)/.exec(pageA.url());
    assert.ok(m, `no room open yet: ${pageA.url()}`);
    return m[1];
  }).catch(shootOnFailure(pageA, 'chat-new-room'));
  await pageA.getByTestId(`room-item-${roomId}`).waitFor({ timeout: 10_000 });
  await eventually(10_000, async () => {
    const members = pageA.getByTestId('room-members');
    assert.equal(await members.locator(`[data-testid="room-member-${statusA.peer_id}"]`).getAttribute('data-host'), 'true');
    assert.equal(await members.locator(`[data-testid="room-member-${idB}"]`).count(), 1);
    assert.equal(await members.locator(`[data-testid="room-member-${idC}"]`).count(), 1);
  }).catch(shootOnFailure(pageA, 'chat-room-a'));

  // ---- B: the invitation arrives live in Requests (A is a stranger); accept, open the room -
  const requestB = pageB.getByTestId(`request-${statusA.peer_id}`);
  await requestB.waitFor({ timeout: 30_000 }).catch(shootOnFailure(pageB, 'chat-request'));
  assert.match(await requestB.innerText(), /Invites you to Reading group/);
  await shot(pageB, 'chat-request.png');
  await pageB.getByTestId(`request-accept-${statusA.peer_id}`).click();
  const itemB = pageB.getByTestId(`room-item-${roomId}`);
  await itemB.waitFor({ timeout: 30_000 }).catch(shootOnFailure(pageB, 'chat-invited'));
  assert.match(await itemB.innerText(), /Reading group/);
  await itemB.click();
  await pageB.getByTestId('room-members').waitFor({ timeout: 10_000 });
  // C has the room too before it goes offline (it accepts A's request through the API).
  await eventually(30_000, async () => {
    const { requests } = await api(c, 'list_requests');
    assert.ok(requests.some((r) => r.peer_id === statusA.peer_id), 'C has no request from A yet');
  });
  await api(c, 'answer_request', { peer_id: statusA.peer_id, accept: true });
  await eventually(30_000, async () => {
    const rooms = await api(c, 'list_rooms');
    assert.ok(rooms.some((r) => r.room_id === roomId), 'C has not received the invitation yet');
  });

  // ---- A and B talk: both browsers show each message once, in the same order -------------
  const pages = { A: pageA, B: pageB };
  const sent = [];
  const say = async (who, body) => {
    await send(pages[who], body);
    sent.push(body);
    // Each message reaches both browsers before the next is written, so the order is known.
    for (const [label, page] of Object.entries(pages)) {
      await eventually(20_000, () => showsExactly(page, sent)).catch(shootOnFailure(page, `chat-room-${label.toLowerCase()}`));
    }
  };
  await say('A', 'Welcome to the reading group!');
  await say('B', 'Thanks, glad to be here.');
  await say('A', 'First up: “The Analytical Engine”, chapters 1 to 3.');
  await say('B', 'Sounds good.\nI will bring notes.');

  // The same messages (same ids) in the same order on both sides.
  const shownA = await showsExactly(pageA, sent);
  const shownB = await showsExactly(pageB, sent);
  assert.deepEqual(shownB.map((m) => m.id), shownA.map((m) => m.id));
  // A's own messages end up delivered (the state mark follows them there).
  await eventually(30_000, async () => {
    const mine = await pageA.$$eval('[data-testid="chat-message"].msg-mine', (els) => els.map((e) => e.getAttribute('data-state')));
    assert.ok(mine.length === 2 && mine.every((s) => s === 'delivered'), `A's states: ${mine}`);
  });
  await shot(pageA, 'chat-room.png');
  await shot(pageB, 'chat-room-b.png');

  // ---- C goes offline; A and B write five more -------------------------------------------
  await stopNode(c);
  assert.ok(c.exited, 'node C has exited');
  await say('A', 'C is away, we carry on.');
  await say('B', 'Chapter 2 is the hard one.');
  await say('A', 'Agreed: the notes on the mill help.');
  await say('B', 'And the table of operations.');
  await say('A', 'Next week: chapter 4.');
  assert.equal(sent.length, 9);
  await shot(pageA, 'chat-room-a-without-c.png');

  // ---- C comes back on the same data and catches up ------------------------------------
  c = await startNode('NodeC', cArgs, { env: unlocked, dataDir: c.dataDir });
  assert.equal((await api(c, 'status')).peer_id, idC, 'C keeps its identity');
  await eventually(30_000, sees(c, statusA.peer_id));
  const pageC = await browser.context.newPage();
  watch(pageC, 'C', problems);
  await pageC.goto(c.pageUrl);
  await openChat(pageC, 'C');
  const itemC = pageC.getByTestId(`room-item-${roomId}`);
  await itemC.waitFor({ timeout: 15_000 }).catch(shootOnFailure(pageC, 'chat-room-c'));
  await itemC.click();
  await pageC.getByTestId('chat-messages').waitFor();
  await eventually(60_000, () => showsExactly(pageC, sent)).catch(shootOnFailure(pageC, 'chat-room-c'));
  const shownC = await showsExactly(pageC, sent);
  const finalA = await showsExactly(pageA, sent);
  assert.deepEqual(shownC.map((m) => m.id), finalA.map((m) => m.id), 'C shows the messages A shows, in A’s order');
  assert.deepEqual(finalA.slice(0, 4).map((m) => m.id), shownA.map((m) => m.id), 'earlier messages kept their place');
  // Nothing arrives twice later either (e.g. when C's live stream replays what it fetched).
  await pageC.waitForTimeout(1500);
  await showsExactly(pageC, sent);
  await shot(pageC, 'chat-room-c.png');

  assert.deepEqual(problems, [], 'no page errors or CSP violations');
}
