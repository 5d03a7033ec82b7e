import { useState } from 'preact/hooks';
import type { Follow, PeerInfo } from '../../api/types';
import { describeError } from '../../backend';
import { Avatar, CopyButton, EmptyState, PageHeader } from '../../components/common';
import { BanIcon, CheckIcon, LinkIcon, PeersIcon, PlusIcon } from '../../components/icons';
import { useBackend, useNodeView, useNow } from '../../context';
import { authorHref, href } from '../../router';
import { linkLabel, onlineCount, peerName, shortId, sortedPeers, type NodeState } from './peers';
import { InviteCard, JoinForm } from './Invite';
import { Diagnose } from './Diagnose';
import { useFollows, type FollowsView } from './useFollows';
import { formatBytes, formatRtt, relativeTime, snippet } from '../../util/format';
import { AddressInput } from '../../components/AddressInput';
import './peers.css';

/** `invite`: an invite to put in "Join with an invite" (a `#/peers?invite=…` address). */
export function PeersPage({ invite = null }: { invite?: string | null }) {
  const backend = useBackend();
  const { state, listen } = useNodeView();
  const follows = useFollows(backend, listen);
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
      <section class="card connect-card" aria-label="Connect to people">
        <JoinForm initial={invite} />
        <InviteCard />
        <details class="connect-more">
          <summary>Connect to an address instead</summary>
          <ConnectForm />
        </details>
      </section>
      <FollowingCard follows={follows} state={state} />
      {peers.length === 0 ? (
        <EmptyState icon={<PeersIcon size={30} />} title="No peers yet" testId="peers-empty">
          <p>
            Peers appear here as soon as your node finds them: on your local network, through a
            bootstrap node, or when you connect to an address above.
          </p>
          <p>To invite a friend, make an invite above and send it to them.</p>
        </EmptyState>
      ) : (
        <ul class="list-col peer-list" data-testid="peer-list">
          {peers.map((p) => (
            <PeerRow key={p.peer_id} peer={p} now={now} follows={follows} />
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
      await backend.call('connect', { addr: value });
      setAddr('');
      setResult({ ok: true, text: 'Dialing. The peer appears in the list once the connection is up.' });
    } catch (err) {
      setResult({ ok: false, text: describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="connect-form" onSubmit={onSubmit}>
      <label class="field-label" for="connect-addr">
        Connect to an address
      </label>
      <div class="input-row">
        <AddressInput
          id="connect-addr"
          value={addr}
          onChange={(v) => {
            setAddr(v);
            setResult(null);
          }}
          testId="connect-addr"
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

function PeerRow({ peer, now, follows }: { peer: PeerInfo; now: number; follows: FollowsView }) {
  const backend = useBackend();
  const { refresh } = useNodeView();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const name = peerName(peer);
  const hasName = !!peer.profile?.display_name.trim();
  const affiliation = peer.profile?.affiliation.trim() ?? '';
  const bio = peer.profile?.bio.trim() ?? '';
  const followed = follows.byId?.[peer.peer_id];

  const toggleBlock = async () => {
    setBusy(true);
    setError(null);
    try {
      if (peer.blocked) await backend.call('unblock_peer', { peer_id: peer.peer_id });
      else await backend.call('block_peer', { peer_id: peer.peer_id });
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
          {peer.connected && peer.connection !== null && (
            <span
              class="chip"
              data-testid="peer-link"
              title={peer.relay !== null ? `Through the relay ${peer.relay}` : 'How the connection reaches the peer'}
            >
              {linkLabel(peer.connection)}
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
        {followed && (
          <div class="peer-follow">
            <MirrorSwitch follow={followed} onFollows={follows.set} testId="peer-mirror" />
            <span class="peer-follow-hint">
              Keep copies of everything they publish, within your <a href={href('settings')}>mirror quota</a>
            </span>
            <MirroredStats follow={followed} testId="peer-mirrored" />
          </div>
        )}
        {!peer.blocked && <Diagnose peer={peer} />}
        {error && <p class="form-msg err">{error}</p>}
      </div>

      <div class="peer-actions">
        <FollowButton
          peerId={peer.peer_id}
          follow={followed}
          loaded={follows.byId !== null}
          onFollows={follows.set}
          testId="peer-follow"
        />
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

// ---------------------------------------------------------------------------------------
// Following and mirroring

/** Followed peers, online or not, with their mirrors. */
function FollowingCard({ follows, state }: { follows: FollowsView; state: NodeState }) {
  if (follows.error && follows.byId === null) {
    return (
      <p class="form-msg err following-error" role="alert">
        Could not load the peers you follow: {follows.error}
      </p>
    );
  }
  if (follows.list.length === 0) return null;
  const mirrored = follows.list.filter((f) => f.mirror).length;
  return (
    <div class="card following-card" data-testid="following-card">
      <div class="card-head">
        <CheckIcon size={18} />
        <h2>Following</h2>
        <span class="card-head-note">
          {follows.list.length} {follows.list.length === 1 ? 'peer' : 'peers'}
          {mirrored > 0 && ` · mirroring ${mirrored}`}
        </span>
      </div>
      <p class="setting-help following-help">
        Your node fetches what they publish from them directly. Mirror a peer to keep copies of
        everything they publish, within your <a href={href('settings')}>mirror quota</a>.
      </p>
      <ul class="follow-list" data-testid="following-list">
        {follows.list.map((f) => {
          const peer = state.peers[f.peer_id];
          const known = peer ? peer.profile?.display_name.trim() : f.name?.trim();
          const name = known || shortId(f.peer_id);
          const online = peer ? peer.online : f.online;
          return (
            <li key={f.peer_id} class={online ? 'follow-row' : 'follow-row is-offline'} data-testid="follow-row" data-peer-id={f.peer_id}>
              <span class={online ? 'dot dot-on' : 'dot dot-off'} title={online ? 'online' : 'offline'} />
              <a class={known ? 'follow-name' : 'follow-name mono'} href={authorHref(f.peer_id)} title={`Everything ${name} shares`}>
                {name}
              </a>
              <span class="follow-state">{online ? 'online' : 'offline'}</span>
              <MirroredStats follow={f} testId="follow-mirrored" />
              <span class="follow-actions">
                <MirrorSwitch follow={f} onFollows={follows.set} testId="follow-mirror" />
                <FollowButton peerId={f.peer_id} follow={f} loaded onFollows={follows.set} testId="follow-toggle" small />
              </span>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

/** "Follow" / "Following": a toggle. */
function FollowButton({
  peerId,
  follow,
  loaded,
  onFollows,
  testId,
  small = false,
}: {
  peerId: string;
  follow: Follow | undefined;
  loaded: boolean;
  onFollows: (list: Follow[]) => void;
  testId: string;
  small?: boolean;
}) {
  const backend = useBackend();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const following = follow !== undefined;
  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      onFollows(following ? await backend.call('unfollow', { peer_id: peerId }) : await backend.call('follow', { peer_id: peerId }));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const copies = follow?.mirrored_items ?? 0;
  const title = following
    ? copies > 0
      ? `Stop following (deletes the ${copies} mirrored ${copies === 1 ? 'copy' : 'copies'})`
      : 'Stop following'
    : 'Fetch what this peer publishes directly and often';
  return (
    <span class="follow-toggle">
      <button
        type="button"
        class={following ? `btn btn-quiet is-following${small ? ' btn-sm' : ''}` : `btn btn-quiet${small ? ' btn-sm' : ''}`}
        aria-pressed={following}
        onClick={toggle}
        disabled={busy || !loaded}
        title={title}
        data-testid={testId}
      >
        {following ? <CheckIcon size={15} /> : <PlusIcon size={15} />}
        {following ? 'Following' : 'Follow'}
      </button>
      {error && (
        <span class="form-msg err" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

/** The "Mirror" switch of a followed peer. */
function MirrorSwitch({ follow, onFollows, testId }: { follow: Follow; onFollows: (list: Follow[]) => void; testId: string }) {
  const backend = useBackend();
  // The switch shows the new position while the node answers.
  const [pending, setPending] = useState<boolean | null>(null);
  const [error, setError] = useState<string | null>(null);
  const on = pending ?? follow.mirror;
  const change = async (next: boolean) => {
    setPending(next);
    setError(null);
    try {
      onFollows(await backend.call('set_mirror', { peer_id: follow.peer_id, on: next }));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setPending(null);
    }
  };
  const items = follow.mirrored_items;
  const title = follow.mirror
    ? items > 0
      ? `Turning it off deletes the ${items} mirrored ${items === 1 ? 'copy' : 'copies'}`
      : 'Stop mirroring'
    : 'Keep copies of everything they publish, within your mirror quota';
  return (
    <span class="mirror-switch">
      <label class="switch" title={title}>
        <input
          type="checkbox"
          checked={on}
          disabled={pending !== null}
          onChange={(e) => void change(e.currentTarget.checked)}
          data-testid={testId}
        />
        <span class="switch-track" aria-hidden="true" />
        Mirror
      </label>
      {error && (
        <span class="form-msg err" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

/** "12 items · 3.4 GB mirrored", for a mirrored peer. */
function MirroredStats({ follow: f, testId }: { follow: Follow; testId: string }) {
  if (!f.mirror && f.mirrored_items === 0) return null;
  return (
    <span class="mirror-stats" data-testid={testId} title="Held here as mirror copies">
      {f.mirrored_items === 0
        ? 'nothing mirrored yet'
        : `${f.mirrored_items.toLocaleString()} ${f.mirrored_items === 1 ? 'item' : 'items'} · ${formatBytes(f.mirrored_bytes)} mirrored`}
    </span>
  );
}
