import { useCallback, useEffect, useReducer, useRef, useState } from 'preact/hooks';
import type { Event, Status } from './api/types';
import { ApiError, type Backend } from './backend';
import { initialState, reducer, type NodeState } from './features/peers/peers';

export interface NodeView {
  state: NodeState;
  /** The live event stream is up. `null` until the first attempt settles. */
  connected: boolean | null;
  /** Why the last attempt to load the node's state failed, if it did. */
  loadError: ApiError | null;
  /** The node rejected our token. */
  unauthorized: boolean;
  /** Refetches status and peers. */
  refresh: () => Promise<void>;
  /** Records a fresh status (e.g. after saving the profile). */
  setStatus: (s: Status) => void;
  /**
   * Passes on every event of the node's one stream, after the node state has taken it.
   * After an outage of the stream the listener also gets a `resync` (its state may be stale).
   * Returns a function that stops listening.
   */
  listen: (listener: (event: Event) => void) => () => void;
}

/**
 * Keeps the node's status and peer list live: fetches a snapshot, then applies the event
 * stream. Events that arrive while a snapshot is being fetched are applied again on top of
 * it, so a snapshot never hides a newer event.
 */
export function useNode(backend: Backend): NodeView {
  const [state, dispatch] = useReducer(reducer, initialState);
  const [connected, setConnected] = useState<boolean | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [unauthorized, setUnauthorized] = useState(false);
  const loading = useRef<{ queue: Event[] } | null>(null);
  const generation = useRef(0);
  const listeners = useRef(new Set<(event: Event) => void>());

  const notify = useCallback((event: Event) => {
    for (const l of [...listeners.current]) {
      try {
        l(event);
      } catch (e) {
        console.error('event listener failed', e);
      }
    }
  }, []);

  const listen = useCallback((listener: (event: Event) => void) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);

  const fail = useCallback((e: unknown) => {
    const err = e instanceof ApiError ? e : new ApiError('internal', String(e));
    if (err.code === 'unauthorized') setUnauthorized(true);
    setLoadError(err);
  }, []);

  const refresh = useCallback(async () => {
    const gen = ++generation.current;
    const load = { queue: [] as Event[] };
    loading.current = load;
    try {
      const [status, peers] = await Promise.all([backend.call('status'), backend.call('list_peers')]);
      if (gen !== generation.current) return;
      dispatch({ type: 'status', status, at: Date.now() });
      dispatch({ type: 'snapshot', peers });
      for (const event of load.queue) dispatch({ type: 'event', event });
      setLoadError(null);
    } catch (e) {
      if (gen === generation.current) fail(e);
    } finally {
      if (loading.current === load) loading.current = null;
    }
  }, [backend, fail]);

  useEffect(() => {
    let lost = false;
    void refresh();
    const unsubscribe = backend.subscribe(
      (event) => {
        loading.current?.queue.push(event);
        if (event.type === 'resync') void refresh();
        else dispatch({ type: 'event', event });
        notify(event);
      },
      (up) => {
        setConnected(up);
        if (!up) {
          lost = true;
        } else if (lost) {
          // Back after an outage (maybe the node restarted): make sure nothing is stale.
          lost = false;
          void refresh();
          notify({ id: 0, time_ms: Date.now(), type: 'resync' });
        }
      },
    );
    return unsubscribe;
  }, [backend, refresh, notify]);

  // Keep retrying the initial load while it fails (e.g. the node is still starting).
  useEffect(() => {
    if (!loadError || unauthorized || state.self) return;
    const t = setTimeout(() => void refresh(), 2000);
    return () => clearTimeout(t);
  }, [loadError, unauthorized, state.self, refresh]);

  // While the stream is down, check now and then whether the node is back but no longer
  // accepts our token (it restarted with a new one): the stream alone cannot tell.
  useEffect(() => {
    if (connected !== false || unauthorized) return;
    const t = setInterval(() => {
      backend.call('status').then(
        (status) => dispatch({ type: 'status', status, at: Date.now() }),
        (e: unknown) => {
          if (e instanceof ApiError && e.code === 'unauthorized') setUnauthorized(true);
        },
      );
    }, 5000);
    return () => clearInterval(t);
  }, [connected, unauthorized, backend]);

  const setStatus = useCallback(
    (status: Status) => dispatch({ type: 'status', status, at: Date.now() }),
    [],
  );

  return { state, connected, loadError, unauthorized, refresh, setStatus, listen };
}
