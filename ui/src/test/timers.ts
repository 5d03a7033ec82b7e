/** Timers a test fires by hand, in the order they were set: pass `setTimeout`/`clearTimeout` on. */
export function manualTimers() {
  const timers: { fn: () => void; ms: number; id: number }[] = [];
  let nextId = 1;
  return {
    /** The timers pending, oldest first. */
    timers,
    setTimeout: (fn: () => void, ms: number): unknown => {
      const id = nextId++;
      timers.push({ fn, ms, id });
      return id;
    },
    clearTimeout: (id: unknown): void => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
    /** Fires the oldest pending timer and answers the delay it was set for. */
    fire: (): number => {
      const t = timers.shift();
      if (!t) throw new Error('no timer pending');
      t.fn();
      return t.ms;
    },
  };
}
