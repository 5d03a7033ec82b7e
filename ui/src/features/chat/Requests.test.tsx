// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { ADA_ID, BOB_ID, FakeBackend, peerInfo } from '../../test/fake';
import { $, $$, click, mount, root, setupApp } from '../../test/app';
import { waitFor } from '../../test/dom';

setupApp();

function withPeers(): FakeBackend {
  const b = new FakeBackend();
  b.on.list_peers.mockResolvedValue([peerInfo(ADA_ID, 'Ada'), peerInfo(BOB_ID, 'Bob')]);
  return b;
}

describe('Chat: requests from strangers', () => {
  it('shows nothing while there are no requests', async () => {
    const b = withPeers();
    await mount(b, '#/chat');
    await waitFor(() => $('chat-new-dm'));
    await waitFor(() => expect(b.on.list_requests).toHaveBeenCalled());
    expect(root.querySelector('[data-testid="chat-requests"]')).toBeNull();
  });

  it('lists a stranger’s messages apart from the conversations, and accepting opens the conversation', async () => {
    const b = withPeers();
    await b.receiveRequest(ADA_ID, 'hello, we have not met');
    await b.receiveRequest(ADA_ID, 'I liked your photos');
    await mount(b, '#/chat');
    await waitFor(() => $(`request-${ADA_ID}`));
    expect($('chat-requests').textContent).toMatch(/Requests\s*1/);
    await waitFor(() => expect($('nav-chat-requests').textContent).toBe('1'));
    expect($$('request-text').map((p) => p.textContent)).toEqual(['hello, we have not met', 'I liked your photos']);
    expect($(`request-${ADA_ID}`).textContent).toMatch(/Ada/);
    // Not a conversation, and no notification-worthy message event yet.
    expect(root.querySelector(`[data-testid="dm-item-${ADA_ID}"]`)).toBeNull();
    expect(b.events.some((e) => e.type === 'chat_message')).toBe(false);

    click($(`request-accept-${ADA_ID}`));
    await waitFor(() => expect(b.on.answer_request).toHaveBeenCalledWith({ peer_id: ADA_ID, accept: true }));
    await waitFor(() => $(`dm-item-${ADA_ID}`));
    await waitFor(() => expect(window.location.hash).toBe(`#/chat/dm/${ADA_ID}`));
    await waitFor(() => expect(root.querySelector('[data-testid="chat-requests"]')).toBeNull());
    await waitFor(() => expect(root.querySelector('[data-testid="nav-chat-requests"]')).toBeNull());
  });

  it('declining drops the request without making a conversation', async () => {
    const b = withPeers();
    await b.receiveRequest(BOB_ID, 'buy my stuff');
    await mount(b, '#/chat');
    await waitFor(() => $(`request-decline-${BOB_ID}`));
    click($(`request-decline-${BOB_ID}`));
    await waitFor(() => expect(b.on.answer_request).toHaveBeenCalledWith({ peer_id: BOB_ID, accept: false }));
    await waitFor(() => expect(root.querySelector('[data-testid="chat-requests"]')).toBeNull());
    expect(root.querySelector(`[data-testid="dm-item-${BOB_ID}"]`)).toBeNull();
    expect(b.chatDms.size).toBe(0);
  });

  it('shows a request arriving live, with its room invitation; accepting joins the room', async () => {
    const b = withPeers();
    await mount(b, '#/chat');
    await waitFor(() => $('chat-new-dm'));
    await b.receiveRequest(BOB_ID, null, 'Book club');
    await waitFor(() => $(`request-${BOB_ID}`));
    await waitFor(() => expect($('nav-chat-requests').getAttribute('aria-label')).toBe('1 request'));
    expect($$('request-invite').map((p) => p.textContent)).toEqual([expect.stringMatching(/Invites you to Book club/)]);
    click($(`request-accept-${BOB_ID}`));
    await waitFor(() => expect(root.querySelector('[data-testid="room-list"]')?.textContent).toMatch(/Book club/));
  });
});
