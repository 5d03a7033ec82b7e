// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { ADA_ID, BOB_ID, CAROL_ID, SELF_ID, FakeBackend, peerInfo } from '../../test/fake';
import { $, $$, click, mount as mountAt, press, root, setupApp, submit, type } from '../../test/app';
import { tick, waitFor } from '../../test/dom';

const mount = (b: FakeBackend, hash = '#/chat') => mountAt(b, hash);

setupApp();

const none = (testId: string) => expect(root.querySelector(`[data-testid="${testId}"]`)).toBeNull();

/** A backend that knows Ada and Bob (online) and Carol (offline). */
function withPeers(): FakeBackend {
  const b = new FakeBackend();
  const carol = { ...peerInfo(CAROL_ID, 'Carol'), online: false, connected: false };
  b.on.list_peers.mockResolvedValue([peerInfo(ADA_ID, 'Ada'), peerInfo(BOB_ID, 'Bob'), carol]);
  return b;
}

const messages = () => $$('chat-message');
const texts = () => messages().map((m) => m.textContent);

/** Creates a room through the dialog and waits until it is open. */
async function createRoom(b: FakeBackend, name: string, members: string[]) {
  await waitFor(() => $('chat-new-room'));
  click($('chat-new-room'));
  await waitFor(() => $('new-room-name'));
  await type($('new-room-name') as HTMLInputElement, name);
  for (const id of members) click($(`new-room-member-${id}`));
  await tick();
  click($('new-room-create'));
  await waitFor(() => expect(b.on.create_room).toHaveBeenCalled());
  const room = await (b.on.create_room.mock.results.at(-1)!.value as ReturnType<FakeBackend['handlers']['create_room']>);
  const roomId = room.room_id;
  await waitFor(() => expect(window.location.hash).toBe(`#/chat/room/${roomId}`));
  await waitFor(() => $('room-members'));
  return roomId;
}

describe('Chat: locked', () => {
  it('asks for a new passphrase twice the first time, and shows the node’s refusal', async () => {
    const b = new FakeBackend();
    b.chatUnlocked = false;
    b.chatPassphrase = null;
    await mount(b);
    await waitFor(() => $('chat-unlock-confirm'));
    expect(root.textContent).toMatch(/Choose a chat passphrase/);
    none('chat-new-room');

    await type($('chat-unlock-passphrase') as HTMLInputElement, 'short');
    await type($('chat-unlock-confirm') as HTMLInputElement, 'short');
    submit($('chat-unlock-submit'));
    await waitFor(() => expect($('chat-unlock-error').textContent).toMatch(/at least 8/));
    expect(b.on.unlock_chat).not.toHaveBeenCalled();

    await type($('chat-unlock-passphrase') as HTMLInputElement, 'correct horse');
    await type($('chat-unlock-confirm') as HTMLInputElement, 'correct horsE');
    submit($('chat-unlock-submit'));
    await waitFor(() => expect($('chat-unlock-error').textContent).toMatch(/not the same/));

    await type($('chat-unlock-confirm') as HTMLInputElement, 'correct horse');
    submit($('chat-unlock-submit'));
    await waitFor(() => $('chat-new-room'));
    expect(b.on.unlock_chat).toHaveBeenCalledWith({ passphrase: 'correct horse' });
    expect(b.on.list_rooms).toHaveBeenCalled();
  });

  it('unlocks with one field, showing progress and a wrong passphrase', async () => {
    const b = new FakeBackend();
    b.chatUnlocked = false;
    await mount(b);
    await waitFor(() => $('chat-unlock-passphrase'));
    none('chat-unlock-confirm');
    expect(root.textContent).toMatch(/Unlock your messages/);

    await type($('chat-unlock-passphrase') as HTMLInputElement, 'not it');
    submit($('chat-unlock-submit'));
    await waitFor(() => expect($('chat-unlock-error').textContent).toBe('wrong passphrase'));

    let release!: () => void;
    const real = b.on.unlock_chat.getMockImplementation()!;
    b.on.unlock_chat.mockImplementationOnce(async (req) => {
      await new Promise<void>((r) => (release = r));
      return real(req);
    });
    await type($('chat-unlock-passphrase') as HTMLInputElement, 'correct horse');
    submit($('chat-unlock-submit'));
    await waitFor(() => expect($('chat-unlock-submit').textContent).toMatch(/Unlocking…/));
    expect(($('chat-unlock-submit') as HTMLButtonElement).disabled).toBe(true);
    release();
    await waitFor(() => $('chat-new-room'));
  });
});

describe('Chat: rooms', () => {
  it('creates a room with chosen members and shows it with its events', async () => {
    const b = withPeers();
    await mount(b);
    await waitFor(() => $('chat-none'));
    const roomId = await createRoom(b, 'Reading group', [ADA_ID, BOB_ID]);
    expect(b.on.create_room).toHaveBeenCalledWith({ name: 'Reading group', members: [ADA_ID, BOB_ID] });
    await waitFor(() => expect($(`room-item-${roomId}`).textContent).toMatch(/Reading group/));
    await waitFor(() => expect(texts()).toEqual([
      expect.stringMatching(/You created the room “Reading group”/),
      expect.stringMatching(/You invited Ada/),
      expect.stringMatching(/You invited Bob/),
    ]));
    expect(messages().map((m) => m.dataset.kind)).toEqual(['created', 'invited', 'invited']);
    // members, with the host and the creator marked
    const me = $(`room-member-${SELF_ID}`);
    expect(me.dataset.host).toBe('true');
    expect(me.textContent).toMatch(/host/);
    expect(me.textContent).toMatch(/creator/);
    expect($(`room-member-${ADA_ID}`).dataset.host).toBe('false');
    expect($('conv-title').textContent).toMatch(/Reading group/);
  });

  it('sends with Enter (Shift+Enter is a new line) and follows the state of the message', async () => {
    const b = withPeers();
    await mount(b);
    const roomId = await createRoom(b, 'R', [ADA_ID]);
    const composer = $('chat-composer') as HTMLTextAreaElement;
    await type(composer, 'first line');
    press(composer, 'Enter', { shiftKey: true });
    await tick();
    expect(b.on.send_message).not.toHaveBeenCalled();
    await type(composer, 'Hello everyone\n');
    press(composer, 'Enter');
    await waitFor(() => expect(b.on.send_message).toHaveBeenCalledWith({ room_id: roomId, body: 'Hello everyone' }));
    await waitFor(() => expect(messages().at(-1)!.dataset.state).toBe('sending'));
    const mine = messages().at(-1)!;
    expect(mine.dataset.kind).toBe('text');
    expect(mine.classList.contains('msg-mine')).toBe(true);
    expect($('message-state', mine).getAttribute('title')).toMatch(/Sending/);
    expect(composer.value).toBe('');

    // the host orders it: held by the host, then delivered; it stays one message
    b.deliverRoom(roomId, 'held_by_host');
    await waitFor(() => expect(messages().at(-1)!.dataset.state).toBe('held_by_host'));
    b.emit({ type: 'message_state', message_id: mine.dataset.id!, room_id: roomId, peer_id: null, state: 'delivered' });
    await waitFor(() => expect(messages().at(-1)!.dataset.state).toBe('delivered'));
    expect(messages().filter((m) => m.dataset.id === mine.dataset.id)).toHaveLength(1);
    expect(messages().at(-1)!.dataset.seq).not.toBe('');

    // someone answers: shown once, after mine, with their name
    b.receiveRoom(roomId, ADA_ID, 'Hi!');
    await waitFor(() => expect(messages().at(-1)!.textContent).toMatch(/Hi!/));
    expect($('message-sender', messages().at(-1)!).textContent).toBe('Ada');
    expect(messages().filter((m) => m.dataset.kind === 'text').map((m) => $('message-body', m).textContent)).toEqual([
      'Hello everyone',
      'Hi!',
    ]);
    // it is open and in front: marked read
    await waitFor(() => expect(b.on.mark_room_read.mock.calls.length).toBeGreaterThanOrEqual(2));
    expect(b.on.mark_room_read).toHaveBeenLastCalledWith({ room_id: roomId });
  });

  it('refuses a message over 16 KiB', async () => {
    const b = withPeers();
    await mount(b);
    await createRoom(b, 'R', []);
    await type($('chat-composer') as HTMLTextAreaElement, 'x'.repeat(16 * 1024 + 1));
    expect($('chat-composer-size').textContent).toMatch(/Too long/);
    expect(($('chat-send') as HTMLButtonElement).disabled).toBe(true);
  });

  it('says when messages cannot go out: no peers online, or the host is offline', async () => {
    const b = new FakeBackend();
    await mount(b);
    await createRoom(b, 'Alone', []);
    await waitFor(() => expect($('chat-offline-banner').textContent).toMatch(/You are offline: messages will be sent later/));

    const b2 = withPeers();
    const room = await b2.joinRoom('Carol’s room', CAROL_ID, [ADA_ID]);
    await mount(b2, `#/chat/room/${room.room_id}`);
    await waitFor(() => $(`room-member-${CAROL_ID}`));
    expect($(`room-member-${CAROL_ID}`).dataset.host).toBe('true');
    await waitFor(() => $('chat-offline-banner'));
    // a host who is online: no banner
    b2.emit({ type: 'peer_online', peer: peerInfo(CAROL_ID, 'Carol') });
    await waitFor(() => none('chat-offline-banner'));
  });

  it('invites a known peer who is not a member yet, or a pasted peer id', async () => {
    const b = withPeers();
    await mount(b);
    const roomId = await createRoom(b, 'R', [ADA_ID]);
    click($('room-invite'));
    await waitFor(() => $(`invite-peer-${BOB_ID}`));
    none(`invite-peer-${ADA_ID}`);
    none(`invite-peer-${SELF_ID}`);
    click($(`invite-peer-${BOB_ID}`));
    await tick();
    click($('invite-submit'));
    await waitFor(() => expect(b.on.invite).toHaveBeenCalledWith({ room_id: roomId, peer_id: BOB_ID }));
    await waitFor(() => none('invite-dialog'));
    await waitFor(() => $(`room-member-${BOB_ID}`));
    await waitFor(() => expect(texts().at(-1)).toMatch(/You invited Bob/));

    click($('room-invite'));
    await waitFor(() => $('invite-peer-id'));
    await type($('invite-peer-id') as HTMLInputElement, 'not a peer id');
    click($('invite-submit'));
    await waitFor(() => expect($('invite-error').textContent).toMatch(/does not look like a peer id/));
    const stranger = '12D3KooWStrangerStrangerStrangerStrangerStr';
    await type($('invite-peer-id') as HTMLInputElement, stranger);
    click($('invite-submit'));
    await waitFor(() => expect(b.on.invite).toHaveBeenCalledWith({ room_id: roomId, peer_id: stranger }));
  });

  it('lets only the creator delete, after confirming; then the room is read-only', async () => {
    const b = withPeers();
    const theirs = await b.joinRoom('Ada’s room', ADA_ID);
    await mount(b, `#/chat/room/${theirs.room_id}`);
    await waitFor(() => $('room-leave'));
    none('room-delete');

    window.location.hash = '#/chat';
    await waitFor(() => $('chat-none'));
    const roomId = await createRoom(b, 'Mine', [ADA_ID]);
    click($('room-delete'));
    await waitFor(() => $('room-delete-confirm'));
    expect(b.on.delete_room).not.toHaveBeenCalled();
    click($('room-delete-confirm'));
    await waitFor(() => expect(b.on.delete_room).toHaveBeenCalledWith({ room_id: roomId }));
    await waitFor(() => $(`room-deleted-${roomId}`));
    expect(($('chat-composer') as HTMLTextAreaElement).disabled).toBe(true);
    expect($('chat-composer-disabled').textContent).toMatch(/deleted/);
    none('room-delete');
    none('room-invite');
    expect(texts().at(-1)).toMatch(/You deleted the room/);
  });

  it('leaves a room after confirming', async () => {
    const b = withPeers();
    const theirs = await b.joinRoom('Ada’s room', ADA_ID);
    await mount(b, `#/chat/room/${theirs.room_id}`);
    await waitFor(() => $('room-leave'));
    click($('room-leave'));
    await waitFor(() => $('room-leave-confirm'));
    click($('room-leave-confirm'));
    await waitFor(() => expect(b.on.leave_room).toHaveBeenCalledWith({ room_id: theirs.room_id }));
    await waitFor(() => $(`room-left-${theirs.room_id}`));
    expect($('chat-composer-disabled').textContent).toMatch(/You left this room/);
  });

  it('renames a room inline', async () => {
    const b = withPeers();
    await mount(b);
    const roomId = await createRoom(b, 'Old name', []);
    click($('room-rename'));
    await waitFor(() => $('room-rename-input'));
    await type($('room-rename-input') as HTMLInputElement, 'New name');
    submit($('room-rename-save'));
    await waitFor(() => expect(b.on.rename_room).toHaveBeenCalledWith({ room_id: roomId, name: 'New name' }));
    await waitFor(() => expect($('conv-title').textContent).toMatch(/New name/));
    expect(texts().at(-1)).toMatch(/You renamed the room to “New name”/);
  });

  it('shows unread counts, marks read on opening, and notifies for another conversation', async () => {
    const b = withPeers();
    const one = await b.joinRoom('One', ADA_ID);
    const two = await b.joinRoom('Two', BOB_ID);
    await mount(b, `#/chat/room/${one.room_id}`);
    await waitFor(() => $(`room-item-${two.room_id}`));
    b.receiveRoom(two.room_id, BOB_ID, 'Are you there?');
    await waitFor(() => expect($(`room-unread-${two.room_id}`).textContent).toBe('1'));
    expect($('nav-chat-count').textContent).toBe('1');
    expect(b.notify).toHaveBeenCalledWith('Two', 'Bob: Are you there?');

    click($(`room-item-${two.room_id}`));
    window.location.hash = `#/chat/room/${two.room_id}`;
    await waitFor(() => expect(b.on.mark_room_read).toHaveBeenCalledWith({ room_id: two.room_id }));
    await waitFor(() => none(`room-unread-${two.room_id}`));
    none('nav-chat-count');
    expect(texts().at(-1)).toMatch(/Are you there\?/);
  });

  it('loads earlier messages', async () => {
    const b = withPeers();
    const room = await b.joinRoom('Busy', ADA_ID);
    for (let i = 1; i <= 150; i++) b.receiveRoom(room.room_id, ADA_ID, `m${i}`);
    await mount(b, `#/chat/room/${room.room_id}`);
    await waitFor(() => expect(messages()).toHaveLength(100));
    expect(messages().at(-1)!.textContent).toMatch(/m150/);
    click($('chat-load-earlier'));
    await waitFor(() => expect(messages()).toHaveLength(152));
    none('chat-load-earlier');
    const bodies = messages().filter((m) => m.dataset.kind === 'text').map((m) => $('message-body', m).textContent);
    expect(bodies).toEqual(Array.from({ length: 150 }, (_, i) => `m${i + 1}`));
    const seqs = messages().map((m) => Number(m.dataset.seq));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });
});

describe('Chat: direct messages', () => {
  it('starts a conversation with a known peer, and sends to them', async () => {
    const b = withPeers();
    await mount(b);
    await waitFor(() => $('chat-new-dm'));
    click($('chat-new-dm'));
    await waitFor(() => $(`new-dm-peer-${ADA_ID}`));
    click($(`new-dm-peer-${ADA_ID}`));
    await tick();
    click($('new-dm-start'));
    await waitFor(() => expect(window.location.hash).toBe(`#/chat/dm/${ADA_ID}`));
    await waitFor(() => $(`dm-item-${ADA_ID}`));
    await waitFor(() => $('chat-empty'));
    none('chat-offline-banner');
    none('chat-peer-offline-banner');
    await type($('chat-composer') as HTMLTextAreaElement, 'Hi Ada');
    click($('chat-send'));
    await waitFor(() => expect(b.on.send_dm).toHaveBeenCalledWith({ peer_id: ADA_ID, body: 'Hi Ada' }));
    await waitFor(() => expect(messages()).toHaveLength(1));
    expect(messages()[0]!.dataset.state).toBe('delivered');
    await b.receiveDm(ADA_ID, 'Hello you');
    await waitFor(() => expect(messages()).toHaveLength(2));
    expect($(`dm-item-${ADA_ID}`).textContent).toMatch(/Ada/);
  });

  it('says when the other person is offline, and queues', async () => {
    const b = withPeers();
    await mount(b, `#/chat/dm/${CAROL_ID}`);
    await waitFor(() =>
      expect($('chat-peer-offline-banner').textContent).toMatch(/Carol is offline: your messages will be delivered when they are back/),
    );
    await type($('chat-composer') as HTMLTextAreaElement, 'See you later');
    press($('chat-composer'), 'Enter');
    await waitFor(() => expect(messages()[0]?.dataset.state).toBe('queued'));
    b.emit({ type: 'message_state', message_id: messages()[0]!.dataset.id!, room_id: null, peer_id: CAROL_ID, state: 'not_delivered_yet' });
    await waitFor(() => expect(messages()[0]!.dataset.state).toBe('not_delivered_yet'));
  });

  it('starts a conversation from a pasted peer id', async () => {
    const b = withPeers();
    await mount(b);
    await waitFor(() => $('chat-new-dm'));
    click($('chat-new-dm'));
    const stranger = '12D3KooWStrangerStrangerStrangerStrangerStr';
    await waitFor(() => $('new-dm-peer-id'));
    await type($('new-dm-peer-id') as HTMLInputElement, ` ${stranger} `);
    click($('new-dm-start'));
    await waitFor(() => expect(window.location.hash).toBe(`#/chat/dm/${stranger}`));
    await waitFor(() => $(`dm-item-${stranger}`));
  });
});
