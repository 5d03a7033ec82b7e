// The chat part of the mock node: a passphrase lock, rooms and direct conversations with some
// history, replies that arrive on a timer. A development aid only.
import { randomBytes } from 'node:crypto';

const ADA = '12D3KooWAdaLoveLaceAnalyticalEngine000000000001';
const GRACE = '12D3KooWGraceHopperCobolCompiler00000000000002';
const EMMY = '12D3KooWEmmyNoetherRingTheory000000000000004';

const hex = (bytes) => randomBytes(bytes).toString('hex');

export function createChat({ self, peers, emit, now = Date.now() }) {
  let passphrase = 'correct horse';
  let unlocked = false;
  const rooms = new Map();
  const dms = new Map();
  const timers = new Set();

  const nameOf = (id) => (id === self.id ? self.name() : (peers.get(id)?.profile?.display_name ?? null));
  const member = (id, extra = {}) => ({
    peer_id: id,
    display_name: nameOf(id),
    online: id === self.id ? true : (peers.get(id)?.online ?? false),
    host: false,
    creator: false,
    ...extra,
  });
  const message = (extra) => ({
    id: hex(16),
    room_id: null,
    peer_id: null,
    sender: self.id,
    mine: true,
    kind: 'text',
    body: '',
    seq: null,
    sent_ms: Date.now(),
    state: 'delivered',
    ...extra,
  });
  const roomView = (r) => ({
    ...r.info,
    members: r.info.members.map((m) => ({ ...m, online: m.peer_id === self.id || (peers.get(m.peer_id)?.online ?? false) })),
    pending: r.messages.filter((m) => m.mine && m.state !== 'delivered').length,
    last_message: r.messages.at(-1) ?? null,
  });
  const dmView = (d) => ({
    ...d.conv,
    online: peers.get(d.conv.peer_id)?.online ?? false,
    pending: d.messages.filter((m) => m.mine && m.state !== 'delivered').length,
    last_message: d.messages.at(-1) ?? null,
  });
  const commit = (r, sender, kind, body, sent_ms = Date.now(), state) => {
    const mine = sender === self.id;
    const m = message({
      room_id: r.info.room_id,
      sender,
      mine,
      kind,
      body,
      seq: r.nextSeq++,
      sent_ms,
      state: state ?? (mine ? 'delivered' : 'received'),
    });
    r.messages.push(m);
    if (!mine && kind === 'text') r.info.unread++;
    return m;
  };
  const newRoom = (name, creator, members, extra = {}) => {
    const room_id = hex(32);
    const r = {
      info: {
        room_id,
        name,
        creator,
        members: [member(creator, { host: true, creator: true }), ...members.filter((m) => m !== creator).map((m) => member(m))],
        host: creator,
        is_host: creator === self.id,
        term: 1,
        unread: 0,
        pending: 0,
        left: false,
        muted: false,
        deleted: false,
        last_message: null,
        ...extra,
      },
      messages: [],
      nextSeq: 1,
    };
    rooms.set(room_id, r);
    return r;
  };
  const dm = (peerId) => {
    let d = dms.get(peerId);
    if (!d) {
      d = { conv: { peer_id: peerId, display_name: nameOf(peerId), online: false, unread: 0, pending: 0, last_message: null }, messages: [], nextSeq: 1 };
      dms.set(peerId, d);
    }
    return d;
  };
  const later = (ms, fn) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  // ---- some history ----
  const min = 60_000;
  const t0 = now - 26 * 60 * min;
  const reading = newRoom('Reading group', ADA, [self.id, GRACE, EMMY]);
  commit(reading, ADA, 'created', 'Reading group', t0);
  commit(reading, ADA, 'invited', self.id, t0 + 1000);
  commit(reading, ADA, 'invited', GRACE, t0 + 2000);
  commit(reading, ADA, 'invited', EMMY, t0 + 3000);
  commit(reading, ADA, 'text', 'Welcome, everyone! First up: the Menabrea memoir, with my notes.', t0 + 5 * min);
  commit(reading, ADA, 'text', 'Note G is the long one. Take your time with it.', t0 + 6 * min);
  commit(reading, self.id, 'text', 'Thanks Ada. I will start tonight.', t0 + 9 * min);
  const t1 = now - 40 * min;
  commit(reading, GRACE, 'text', 'I have a question about the table of operations in Note G: why does the variable card for B7 come back twice?', t1);
  commit(reading, EMMY, 'text', 'It is reused for the next Bernoulli number, I believe.', t1 + 2 * min);
  commit(reading, self.id, 'text', 'Same reading here.\nThe cycle repeats with n+1.', t1 + 4 * min);
  commit(reading, ADA, 'host_changed', '', t1 + 5 * min);
  commit(reading, ADA, 'text', 'Exactly. Next week: Note A and the difference engine.', t1 + 6 * min);
  reading.info.unread = 2;
  const compilers = newRoom('Compilers', GRACE, [self.id], { left: true });
  commit(compilers, GRACE, 'created', 'Compilers', t0 - 3 * 86_400_000);
  commit(compilers, GRACE, 'invited', self.id, t0 - 3 * 86_400_000 + 1000);
  commit(compilers, GRACE, 'text', 'Anyone up for A-0 this weekend?', t0 - 3 * 86_400_000 + 10 * min);
  commit(compilers, self.id, 'left', '', t0 - 2 * 86_400_000);
  const adaDm = dm(ADA);
  for (const [sender, body, dt] of [
    [ADA, 'Did you get the translation I shared?', 70],
    [self.id, 'Yes, downloading now. Thank you!', 68],
    [ADA, 'The plates are in the second folder.', 12],
  ]) {
    adaDm.messages.push(message({ peer_id: ADA, sender, mine: sender === self.id, body, seq: adaDm.nextSeq++, sent_ms: now - dt * min, state: sender === self.id ? 'delivered' : 'received' }));
  }
  adaDm.conv.unread = 1;
  const emmyDm = dm(EMMY);
  emmyDm.messages.push(message({ peer_id: EMMY, body: 'Your symmetry notes were lovely. Could you share the lecture slides?', seq: emmyDm.nextSeq++, sent_ms: now - 90 * min, state: 'not_delivered_yet' }));

  const locked = (fail, res) => fail(res, 503, 'unavailable', 'Chat is locked: unlock it with your passphrase');
  const roomFrom = (id, fail, res) => {
    const r = rooms.get(id);
    if (!r) fail(res, 404, 'not_found', 'no such room');
    return r;
  };
  const page = (all, before, limit) => {
    const max = limit ?? 100;
    const committed = all.filter((m) => m.seq !== null && (before == null || m.seq < before));
    const shown = committed.slice(Math.max(0, committed.length - max));
    const pending = before == null ? all.filter((m) => m.seq === null) : [];
    return { messages: [...shown, ...pending], more: shown.length < committed.length };
  };

  return {
    /** Handles a chat route; returns `false` for any other. */
    async handle(route, url, req, res, { json, fail, readBody }) {
      const status = () => ({ unlocked, has_passphrase: passphrase !== null });
      if (route === 'GET /api/chat/status') return json(res, 200, status());
      if (route === 'POST /api/chat/unlock') {
        const body = await readBody(req);
        await new Promise((r) => setTimeout(r, 600)); // Argon2id takes a while
        if (passphrase === null) {
          if ((body?.passphrase ?? '').length < 8) return fail(res, 400, 'bad_request', 'the passphrase must be at least 8 characters');
          passphrase = body.passphrase;
        } else if (body?.passphrase !== passphrase) {
          return fail(res, 403, 'forbidden', 'wrong passphrase');
        }
        unlocked = true;
        emit({ type: 'chat_status_changed', status: status() });
        return json(res, 200, status());
      }
      const chatRoute = /^(GET|POST) \/api\/(rooms|dms|chat)(\/|$)/.test(route);
      if (!chatRoute) return false;
      if (!unlocked) return locked(fail, res);
      if (route === 'POST /api/chat/passphrase') {
        const body = await readBody(req);
        if (body?.old !== passphrase) return fail(res, 403, 'forbidden', 'wrong passphrase');
        passphrase = body.new;
        return json(res, 200, null);
      }
      if (route === 'GET /api/rooms') return json(res, 200, [...rooms.values()].map(roomView));
      if (route === 'POST /api/rooms') {
        const body = await readBody(req);
        if (!body?.name?.trim()) return fail(res, 400, 'bad_request', 'a room needs a name');
        const r = newRoom(body.name.trim(), self.id, [self.id, ...(body.members ?? [])]);
        for (const m of [commit(r, self.id, 'created', r.info.name), ...(body.members ?? []).map((id) => commit(r, self.id, 'invited', id))]) {
          emit({ type: 'chat_message', message: m });
        }
        emit({ type: 'room_updated', room: roomView(r) });
        return json(res, 200, roomView(r));
      }
      const one = /^GET \/api\/rooms\/([0-9a-f]+)$/.exec(route);
      if (one) {
        const r = roomFrom(one[1], fail, res);
        return r ? json(res, 200, roomView(r)) : undefined;
      }
      if (route.startsWith('POST /api/rooms/')) {
        const action = route.slice('POST /api/rooms/'.length);
        const body = (await readBody(req)) ?? {};
        const r = roomFrom(body.room_id, fail, res);
        if (!r) return;
        const changed = (m) => {
          if (m) emit({ type: 'chat_message', message: m });
          emit({ type: 'room_updated', room: roomView(r) });
          return json(res, 200, null);
        };
        switch (action) {
          case 'rename':
            r.info.name = body.name;
            return changed(commit(r, self.id, 'renamed', body.name));
          case 'invite':
            r.info.members.push(member(body.peer_id));
            return changed(commit(r, self.id, 'invited', body.peer_id));
          case 'leave':
            r.info.left = true;
            return changed(commit(r, self.id, 'left', ''));
          case 'delete':
            if (r.info.creator !== self.id) return fail(res, 403, 'forbidden', 'only the creator can delete the room');
            r.info.deleted = true;
            return changed(commit(r, self.id, 'deleted', ''));
          case 'read':
            r.info.unread = 0;
            return changed(null);
          case 'history':
            return json(res, 200, page(r.messages, body.before, body.limit));
          case 'send': {
            const m = message({ room_id: r.info.room_id, body: body.body, state: 'sending' });
            r.messages.push(m);
            // the host takes it, then everyone has it; someone answers now and then
            later(700, () => {
              r.messages = r.messages.filter((x) => x.id !== m.id);
              const done = { ...m, seq: r.nextSeq++, state: 'held_by_host' };
              r.messages.push(done);
              emit({ type: 'chat_message', message: done });
              later(900, () => {
                done.state = 'delivered';
                // (`message_state` would say the same, but its `id` collides with the event's own.)
                emit({ type: 'chat_message', message: { ...done } });
                emit({ type: 'room_updated', room: roomView(r) });
              });
            });
            if (/\?\s*$/.test(body.body)) {
              later(2500, () => {
                emit({ type: 'chat_message', message: commit(r, ADA, 'text', 'Good question! Let me look at my notes.') });
                emit({ type: 'room_updated', room: roomView(r) });
              });
            }
            return json(res, 200, m);
          }
          default:
            return fail(res, 404, 'not_found', 'no such route');
        }
      }
      if (route === 'GET /api/dms') return json(res, 200, [...dms.values()].map(dmView));
      if (route.startsWith('POST /api/dms/')) {
        const action = route.slice('POST /api/dms/'.length);
        const body = (await readBody(req)) ?? {};
        if (!body.peer_id) return fail(res, 400, 'bad_request', 'peer_id is missing');
        if (action === 'history') return json(res, 200, page(dms.get(body.peer_id)?.messages ?? [], body.before, body.limit));
        const d = dm(body.peer_id);
        if (action === 'read') {
          d.conv.unread = 0;
          emit({ type: 'dm_updated', conversation: dmView(d) });
          return json(res, 200, null);
        }
        if (action === 'send') {
          const online = peers.get(body.peer_id)?.online ?? false;
          const m = message({ peer_id: body.peer_id, body: body.body, seq: d.nextSeq++, state: online ? 'delivered' : 'queued' });
          d.messages.push(m);
          emit({ type: 'chat_message', message: m });
          emit({ type: 'dm_updated', conversation: dmView(d) });
          return json(res, 200, m);
        }
        return fail(res, 404, 'not_found', 'no such route');
      }
      return fail(res, 404, 'not_found', 'no such route');
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
