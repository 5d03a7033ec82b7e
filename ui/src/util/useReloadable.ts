import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from '../backend';

/**
 * Something a page loads from the node when it mounts and asks for again when events say it
 * changed: its value, the load error (as a sentence), `load` to ask now, and `reloadSoon` to
 * ask once after `delayMs`, however many events call it meanwhile. Answers that arrive after
 * the page is gone are dropped; `alive` tells callers with their own follow-ups.
 */
export function useReloadable<T>(fetch: () => Promise<T>, deps: unknown[]) {
  const [value, setValue] = useState<T | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const alive = useRef(true);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const load = useCallback(async () => {
    try {
      const v = await fetch();
      if (!alive.current) return;
      setValue(v);
      setLoadError(null);
    } catch (e) {
      if (alive.current) setLoadError(describeError(e));
    }
  }, deps);

  useEffect(() => {
    alive.current = true;
    void load();
    return () => {
      alive.current = false;
      if (timer.current) clearTimeout(timer.current);
      timer.current = null;
    };
  }, [load]);

  const reloadSoon = useCallback(
    (delayMs: number) => {
      if (timer.current) return;
      timer.current = setTimeout(() => {
        timer.current = null;
        void load();
      }, delayMs);
    },
    [load],
  );

  return { value, setValue, loadError, load, reloadSoon, alive };
}
