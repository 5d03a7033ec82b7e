import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Event, Follow } from '../../api/types';
import { describeError, type Backend } from '../../backend';

export interface FollowsView {
  /** Followed peers by id; `null` until fetched. */
  byId: Readonly<Record<string, Follow>> | null;
  /** Followed peers in the order followed. */
  list: Follow[];
  error: string | null;
  /** Records the list a follow, unfollow or mirror change answered. */
  set: (list: Follow[]) => void;
}

/** Peers this node follows, kept live from `follows_changed` while the component is mounted. */
export function useFollows(
  backend: Backend,
  listen: (listener: (event: Event) => void) => () => void,
): FollowsView {
  const [list, setList] = useState<Follow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const alive = useRef(true);
  // An answer that arrives after a newer list (from an event) must not replace it.
  const version = useRef(0);

  const set = useCallback((next: Follow[]) => {
    version.current++;
    setList(next);
    setError(null);
  }, []);

  const load = useCallback(async () => {
    const v = version.current;
    try {
      const fetched = await backend.call('list_follows');
      if (!alive.current || v !== version.current) return;
      set(fetched);
    } catch (e) {
      if (alive.current) setError(describeError(e));
    }
  }, [backend, set]);

  useEffect(() => {
    alive.current = true;
    void load();
    const stop = listen((event) => {
      if (event.type === 'follows_changed') set(event.follows);
      else if (event.type === 'resync') void load();
    });
    return () => {
      alive.current = false;
      stop();
    };
  }, [load, listen, set]);

  const byId: Record<string, Follow> | null = list ? Object.fromEntries(list.map((f) => [f.peer_id, f])) : null;
  return { byId, list: list ?? [], error, set };
}
