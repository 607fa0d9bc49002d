// Wakes the live tail (GET /messages/stream): at once after this store's own commits, and for rows
// written elsewhere (another replica, an operator's sqlite3 or psql) by a poll of the arrival head that
// runs only while someone listens. The first poll wakes too: rows may have come before it.
type ArrivalWatch = { notify(): void; watch(onChange: () => void): () => void };

export function createArrivalWatch(head: () => Promise<string>, pollMs: number): ArrivalWatch {
  const listeners = new Set<() => void>();
  const notify = (): void => listeners.forEach((listener) => listener());
  let timer: NodeJS.Timeout | undefined;
  let seen: string | undefined;
  let polling = false;
  const poll = async (): Promise<void> => {
    if (polling) return;
    polling = true;
    // The database away: the next poll asks again.
    const now = await head().catch(() => seen);
    if (now !== seen) notify();
    seen = now;
    polling = false;
  };
  return {
    notify,
    watch(onChange) {
      listeners.add(onChange);
      timer ??= setInterval(() => void poll(), pollMs).unref();
      return () => {
        listeners.delete(onChange);
        if (listeners.size > 0) return;
        clearInterval(timer);
        timer = undefined;
        seen = undefined;
      };
    },
  };
}
