// Wakes the live tail (GET /messages/stream): at once after this store's own commits, and, for rows
// written elsewhere (another replica, an operator's sqlite3 or psql), by a light poll of the arrival
// head that runs only while someone listens.

export type ArrivalWatch = {
  /** This store committed rows: listeners are told at once. */
  notify(): void;
  watch(onChange: () => void): () => void;
};

export function createArrivalWatch(head: () => Promise<string>, pollMs: number): ArrivalWatch {
  const listeners = new Set<() => void>();
  let timer: NodeJS.Timeout | null = null;
  let seen: string | null = null;
  let polling = false;
  const notify = (): void => {
    for (const listener of listeners) listener();
  };
  const poll = async (): Promise<void> => {
    if (polling) return;
    polling = true;
    try {
      const now = await head();
      // The first poll of a watch wakes too: rows may have come between the listener's read and it.
      if (now !== seen) notify();
      seen = now;
    } catch {
      // The database is away: the next poll asks again, and a changed head then wakes every listener.
    } finally {
      polling = false;
    }
  };
  return {
    notify,
    watch(onChange) {
      listeners.add(onChange);
      if (timer === null) {
        timer = setInterval(() => void poll(), pollMs);
        timer.unref();
      }
      return () => {
        listeners.delete(onChange);
        if (listeners.size === 0 && timer !== null) {
          clearInterval(timer);
          timer = null;
          seen = null;
        }
      };
    },
  };
}
