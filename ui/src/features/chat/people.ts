import type { PeerInfo } from '../../api/types';
import { useChatView, useNodeView } from '../../context';
import { convHref, personName, type ConvKey } from './chat';

export function usePersonName(): (peerId: string) => string {
  const node = useNodeView();
  const chat = useChatView();
  return (peerId) => personName(peerId, node.state, chat.state);
}


/** Roughly what a peer id looks like (base58, as printed by Hearth). */
export function looksLikePeerId(text: string): boolean {
  return /^[1-9A-Za-z]{30,100}$/.test(text);
}

/** Known peers one could write to or invite: not blocked, not this node, not in `exclude`. */
export function candidatePeers(peers: PeerInfo[], selfId: string | null, exclude: ReadonlySet<string>): PeerInfo[] {
  return peers.filter((p) => !p.blocked && p.peer_id !== selfId && !exclude.has(p.peer_id));
}

export function go(key: ConvKey) {
  window.location.hash = convHref(key);
}
