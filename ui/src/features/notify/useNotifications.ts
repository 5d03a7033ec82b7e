import { useEffect, useRef, useState } from 'preact/hooks';
import type { Event, NotificationSettings } from '../../api/types';
import type { Backend } from '../../backend';
import type { NodeState } from '../peers/peers';
import { peerName } from '../peers/peers';
import { DEFAULT_NOTIFICATIONS, NoticeMemory, noticeFor } from './notify';

/**
 * Shows desktop notifications for the node's events (see `notify.ts`), as Settings says.
 * Returns the notification settings in force, for the chat's own notifications.
 */
export function useNotifications(
  backend: Backend,
  listen: (listener: (event: Event) => void) => () => void,
  node: NodeState,
): NotificationSettings {
  const [settings, setSettings] = useState<NotificationSettings>(DEFAULT_NOTIFICATIONS);
  const followed = useRef(new Set<string>());
  const memory = useRef(new NoticeMemory());
  const latest = useRef({ settings, node });
  latest.current = { settings, node };

  useEffect(() => {
    let live = true;
    const load = () => {
      backend.call('get_settings').then(
        (s) => live && setSettings(s.notifications),
        () => {},
      );
      backend.call('list_follows').then(
        (list) => {
          if (live) followed.current = new Set(list.map((f) => f.peer_id));
        },
        () => {},
      );
    };
    load();
    const stop = listen((event) => {
      if (event.type === 'resync') load();
      if (event.type === 'settings_changed') setSettings(event.settings.notifications);
      if (event.type === 'follows_changed') followed.current = new Set(event.follows.map((f) => f.peer_id));
      const notify = backend.notify;
      const { settings: s, node: n } = latest.current;
      const notice = noticeFor(
        event,
        {
          settings: s,
          followed: followed.current,
          selfId: n.self?.peer_id ?? null,
          nameOf: (id) => {
            const p = n.peers[id];
            return p ? peerName(p) : `${id.slice(0, 12)}…`;
          },
          nowMs: Date.now(),
        },
        memory.current,
      );
      if (notice && notify) notify(notice.title, notice.body);
    });
    return () => {
      live = false;
      stop();
    };
  }, [backend, listen]);

  return settings;
}
