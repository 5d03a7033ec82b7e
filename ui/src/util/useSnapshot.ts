import { useCallback, useRef, useState } from 'preact/hooks';
import type { Event } from '../api/types';
import { describeError } from '../backend';

/** One load of a snapshot, as `useSnapshot().run` hands it to the loader. */
export interface SnapshotLoad {
  /** Whether this is still the latest load (a later one makes this one's answers void). */
  current(): boolean;
  /** The events seen since this load began: apply them again on top of its snapshot. */
  readonly queued: readonly Event[];
}

/**
 * Loads state from the node while live events keep arriving, so that a snapshot never hides
 * a newer event: `seen` keeps each event that arrives during a load for the loader to apply
 * again afterwards; only the latest load's answer or failure (`error`, as a sentence) counts.
 */
export function useSnapshot() {
  const [error, setError] = useState<string | null>(null);
  const queue = useRef<Event[] | null>(null);
  const generation = useRef(0);

  const run = useCallback(async (load: (l: SnapshotLoad) => Promise<void>) => {
    const gen = ++generation.current;
    const queued: Event[] = [];
    queue.current = queued;
    const current = () => gen === generation.current;
    try {
      await load({ current, queued });
      if (current()) setError(null);
    } catch (e) {
      if (current()) setError(describeError(e));
    } finally {
      if (queue.current === queued) queue.current = null;
    }
  }, []);

  const seen = useCallback((event: Event) => {
    queue.current?.push(event);
  }, []);

  return { error, run, seen };
}
