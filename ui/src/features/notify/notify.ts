// Which events become desktop notifications, decided apart from any UI: a finished
// download, a new item from someone followed, a full mirror quota, a followed peer coming
// online; each behind its switch in Settings (chat messages are decided in chat.ts).
import type { Event, NotificationSettings } from '../../api/types';
import { formatBytes } from '../../util/format';

export const DEFAULT_NOTIFICATIONS: NotificationSettings = {
  chat: true,
  downloads: true,
  followed_items: true,
  mirror_full: true,
  followed_online: false,
};

/** Items published longer ago than this are catch-up, not news. */
export const NEWS_MS = 60 * 60 * 1000;
/** A followed peer coming online again within this is not news either. */
export const ONLINE_AGAIN_MS = 10 * 60 * 1000;

export interface Notice {
  title: string;
  body: string;
}

export interface NoticeContext {
  settings: NotificationSettings;
  /** Peer ids I follow. */
  followed: ReadonlySet<string>;
  selfId: string | null;
  nameOf: (peerId: string) => string;
  nowMs: number;
}

/** What the rules remember between events (one per app). */
export class NoticeMemory {
  /** Downloads seen unfinished in this session: only those announce their end. */
  readonly running = new Set<string>();
  /** Items already announced. */
  readonly announced = new Set<string>();
  /** When each followed peer was last announced online. */
  readonly online = new Map<string, number>();
}

/** The notification `event` deserves, if any; updates `memory`. */
export function noticeFor(event: Event, ctx: NoticeContext, memory: NoticeMemory): Notice | null {
  const n = ctx.settings;
  switch (event.type) {
    case 'download_progress': {
      const d = event.download;
      if (d.state !== 'complete') {
        if (d.state !== 'failed') memory.running.add(d.content_id);
        return null;
      }
      const wasRunning = memory.running.delete(d.content_id);
      if (!wasRunning || d.mirror || !n.downloads) return null;
      return { title: 'Download finished', body: d.title };
    }
    case 'resource_added': {
      const r = event.resource;
      if (!n.followed_items || r.author === ctx.selfId || !ctx.followed.has(r.author)) return null;
      if (ctx.nowMs - r.created_ms > NEWS_MS || memory.announced.has(r.content_id)) return null;
      memory.announced.add(r.content_id);
      return { title: `New from ${r.author_name?.trim() || ctx.nameOf(r.author)}`, body: r.title };
    }
    case 'mirror_quota_full': {
      if (!n.mirror_full) return null;
      const items = event.left_out === 1 ? '1 item' : `${event.left_out} items`;
      return {
        title: 'Mirror quota is full',
        body: `${items} from the peers you mirror do not fit in ${formatBytes(event.quota_bytes)}. Raise the quota in Settings.`,
      };
    }
    case 'peer_online': {
      const id = event.peer.peer_id;
      if (!n.followed_online || !ctx.followed.has(id)) return null;
      const last = memory.online.get(id);
      memory.online.set(id, ctx.nowMs);
      if (last !== undefined && ctx.nowMs - last < ONLINE_AGAIN_MS) return null;
      return { title: `${ctx.nameOf(id)} is online`, body: 'Someone you follow is online now.' };
    }
    default:
      return null;
  }
}
