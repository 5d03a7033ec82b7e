import { useCallback, useEffect, useReducer, useState } from 'preact/hooks';
import type { Download, Event } from '../../api/types';
import type { Backend } from '../../backend';
import { useSnapshot } from '../../util/useSnapshot';
import { downloadsReducer, initialDownloads, type DownloadsState } from '../catalog/catalog';

export interface DownloadsView {
  state: DownloadsState;
  /** The list has been fetched at least once. */
  loaded: boolean;
  error: string | null;
  refresh: () => Promise<void>;
  /** Records a download the UI just started or changed, before its event arrives. */
  upsert: (d: Download) => void;
  remove: (contentId: string) => void;
}

/**
 * Keeps this node's downloads live: fetches the list, then applies `download_progress` and
 * `download_removed`. Events that arrive while the list is being fetched are applied again
 * on top of it, so a snapshot never hides a newer event.
 */
export function useDownloads(
  backend: Backend,
  listen: (listener: (event: Event) => void) => () => void,
): DownloadsView {
  const [state, dispatch] = useReducer(downloadsReducer, initialDownloads);
  const [loaded, setLoaded] = useState(false);
  const snapshot = useSnapshot();
  const error = snapshot.error;

  const refresh = useCallback(
    () =>
      snapshot.run(async ({ current, queued }) => {
        const downloads = await backend.call('list_downloads');
        if (!current()) return;
        dispatch({ type: 'snapshot', downloads });
        for (const event of queued) dispatch({ type: 'event', event });
        setLoaded(true);
      }),
    [backend, snapshot.run],
  );

  useEffect(() => {
    void refresh();
    return listen((event) => {
      if (event.type === 'resync') {
        void refresh();
        return;
      }
      if (event.type !== 'download_progress' && event.type !== 'download_removed') return;
      snapshot.seen(event);
      dispatch({ type: 'event', event });
    });
  }, [listen, refresh, snapshot.seen]);

  // Keep retrying the first load while it fails (e.g. the node is still starting).
  useEffect(() => {
    if (loaded || !error) return;
    const t = setTimeout(() => void refresh(), 3000);
    return () => clearTimeout(t);
  }, [loaded, error, refresh]);

  const upsert = useCallback((download: Download) => dispatch({ type: 'upsert', download }), []);
  const remove = useCallback((contentId: string) => dispatch({ type: 'remove', contentId }), []);

  return { state, loaded, error, refresh, upsert, remove };
}
