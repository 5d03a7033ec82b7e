import { useState } from 'preact/hooks';
import { describeError } from '../backend';

/** One action at a time on a piece of the page: whether it is under way, and why it failed. */
export interface Action {
  busy: boolean;
  error: string | null;
  /** Runs `op`, busy meanwhile; its failure becomes `error` (cleared by the next run). */
  run: (op: () => Promise<unknown>) => Promise<void>;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (op: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await op();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}
