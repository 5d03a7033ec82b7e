import { useState } from 'preact/hooks';
import type { PeerInfo } from '../api/types';
import { describeError } from '../backend';
import { Avatar, CopyButton, EmptyState, PageHeader } from '../components/common';
import { BanIcon, CheckIcon, LinkIcon, PeersIcon } from '../components/icons';
import { useBackend, useNodeView, useNow } from '../context';
import { authorHref, href } from '../router';
import { onlineCount, peerName, shortId, sortedPeers } from '../store/peers';
import { formatRtt, relativeTime, snippet } from '../util/format';

export function PeersPage() {
  const { state } = useNodeView();
  const now = useNow();
  const peers = sortedPeers(state);
  const online = onlineCount(state);

  return (
    <section class="page" data-testid="page-peers">
      <PageHeader
        title="Peers"
        subtitle={
          peers.length === 0
            ? 'People your node knows about'
            : `${online} online · ${peers.length} known`
        }
      />
      <ConnectForm />
      {peers.length === 0 ? (
        <EmptyState icon={<PeersIcon size={30} />} title="No peers yet" testId="peers-empty">
          <p>
            Peers appear here as soon as your node finds them: on your local network, through a
            bootstrap node, or when you connect to an address above.
          </p>
          <p>
            To invite a friend, give them one of your addresses from{' '}
            <a href={href('settings')}>Settings → Network</a>.
          </p>
        </EmptyState>
      ) : (
        <ul class="peer-list" data-testid="peer-list">
          {peers.map((p) => (
            <PeerRow key={p.peer_id} peer={p} now={now} />
          ))}
        </ul>
      )}
    </section>
  );
}

function ConnectForm() {
  const backend = useBackend();
  const [addr, setAddr] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const value = addr.trim();
    if (!value) return;
    if (!value.startsWith('/')) {
      setResult({ ok: false, text: 'A peer address starts with “/”, e.g. /ip4/203.0.113.5/tcp/4001/p2p/12D3Koo…' });
      return;
    }
    setBusy(true);
    setResult(null);
    try {
      await backend.connect(value);
      setAddr('');
      setResult({ ok: true, text: 'Dialing. The peer appears in the list once the connection is up.' });
    } catch (err) {
      setResult({ ok: false, text: describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card connect-card" onSubmit={onSubmit}>
      <label class="field-label" for="connect-addr">
        Connect to an address
      </label>
      <div class="input-row">
        <input
          id="connect-addr"
          class="input mono"
          type="text"
          placeholder="/ip4/…/tcp/…/p2p/12D3Koo…"
          autocomplete="off"
          spellcheck={false}
          value={addr}
          onInput={(e) => {
            setAddr(e.currentTarget.value);
            setResult(null);
          }}
          data-testid="connect-addr"
        />
        <button class="btn btn-primary" type="submit" disabled={busy || !addr.trim()} data-testid="connect-submit">
          <LinkIcon size={16} />
          {busy ? 'Connecting…' : 'Connect'}
        </button>
      </div>
      {result && (
        <p class={result.ok ? 'form-msg ok' : 'form-msg err'} role="status" data-testid="connect-result">
          {result.text}
        </p>
      )}
    </form>
  );
}

function PeerRow({ peer, now }: { peer: PeerInfo; now: number }) {
  const backend = useBackend();
  const { refresh } = useNodeView();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const name = peerName(peer);
  const hasName = !!peer.profile?.display_name.trim();
  const affiliation = peer.profile?.affiliation.trim() ?? '';
  const bio = peer.profile?.bio.trim() ?? '';

  const toggleBlock = async () => {
    setBusy(true);
    setError(null);
    try {
      if (peer.blocked) await backend.unblockPeer(peer.peer_id);
      else await backend.blockPeer(peer.peer_id);
      await refresh();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const classes = ['peer-row', 'card'];
  if (!peer.online) classes.push('is-offline');
  if (peer.blocked) classes.push('is-blocked');

  return (
    <li class={classes.join(' ')} data-testid="peer-row" data-peer-id={peer.peer_id}>
      <div class="peer-avatar">
        <Avatar id={peer.peer_id} name={hasName ? name : null} size={44} />
        <span
          class={peer.online ? 'presence presence-on' : 'presence presence-off'}
          aria-hidden="true"
        />
      </div>

      <div class="peer-main">
        <div class="peer-title">
          <span class={hasName ? 'peer-name' : 'peer-name mono'} data-testid="peer-name" title={name}>
            {name}
          </span>
          {affiliation && (
            <span class="peer-affiliation" data-testid="peer-affiliation">
              {affiliation}
            </span>
          )}
        </div>
        {bio ? (
          <p class="peer-bio" data-testid="peer-bio" title={snippet(bio, 600)}>
            {snippet(bio, 160)}
          </p>
        ) : (
          !hasName && <p class="peer-bio muted">Profile not received yet</p>
        )}
        <div class="peer-meta">
          <span class={peer.online ? 'status status-on' : 'status status-off'}>
            <span class={peer.online ? 'dot dot-on' : 'dot dot-off'} />
            <span data-testid="peer-status">{peer.online ? 'online' : 'offline'}</span>
          </span>
          {peer.online && (
            <span class="chip" data-testid="peer-route" title={peer.connected ? 'A direct connection is open' : 'Reachable through other peers'}>
              {peer.connected ? 'connected' : 'via others'}
            </span>
          )}
          {peer.blocked && <span class="chip chip-danger">blocked</span>}
          {peer.online && peer.rtt_ms !== null && (
            <span class="meta-item" title="Round-trip time" data-testid="peer-rtt">
              {formatRtt(peer.rtt_ms)}
            </span>
          )}
          {!peer.online && peer.last_seen_ms !== null && (
            <span class="meta-item" data-testid="peer-last-seen" title={new Date(peer.last_seen_ms).toLocaleString()}>
              seen {relativeTime(peer.last_seen_ms, now)}
            </span>
          )}
          {!peer.online && peer.last_seen_ms === null && <span class="meta-item">never seen online</span>}
          <a class="meta-item" href={authorHref(peer.peer_id)} data-testid="peer-shared" title="What this peer publishes">
            shared items
          </a>
          <span class="meta-item peer-id">
            <span class="mono" title={peer.peer_id}>
              {shortId(peer.peer_id)}
            </span>
            <CopyButton text={peer.peer_id} label="Copy peer id" testId="peer-copy-id" />
          </span>
        </div>
        {error && <p class="form-msg err">{error}</p>}
      </div>

      <div class="peer-actions">
        <button
          type="button"
          class={peer.blocked ? 'btn btn-quiet' : 'btn btn-quiet btn-danger-quiet'}
          onClick={toggleBlock}
          disabled={busy}
          data-testid="peer-block"
          title={peer.blocked ? 'Allow this peer again' : 'Stop exchanging anything with this peer'}
        >
          {peer.blocked ? <CheckIcon size={15} /> : <BanIcon size={15} />}
          {peer.blocked ? 'Unblock' : 'Block'}
        </button>
      </div>
    </li>
  );
}
