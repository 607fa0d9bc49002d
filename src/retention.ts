// RETENTION_DAYS (SPEC, Retention): messages received longer ago than that are deleted by the service
// itself, at start and then periodically, a small batch at a time so ingest and reads go on between them.
import type { Store } from './store/store.ts';

/**
 * Rows one prune deletes at most, and the pause between two (below): small and spaced enough that unique
 * ingest keeps its rate while old rows go (bench/README.md, "Constants and the figures behind them").
 */
export const PRUNE_BATCH = 100;
/** Pause between two batches of one run: the group commits waiting meanwhile go first. */
export const PRUNE_PAUSE_MS = 50;
/** How often a run starts, after the one at start. */
export const PRUNE_EVERY_MS = 60_000;

export type RetentionOptions = {
  store: Store;
  days: number;
  clock?: () => Date;
  onPruned?: (rows: number) => void;
  /** A run that failed (storage trouble, say); the next one tries again. */
  onError?: (err: unknown) => void;
  everyMs?: number;
};

export type Retention = {
  /** One whole run now: deletes every message past the retention, batch after batch; resolves with the count. */
  run(): Promise<number>;
  /** Stops the schedule and waits for a run under way to finish its batch. */
  stop(): Promise<void>;
};

export function startRetention(options: RetentionOptions): Retention {
  const clock = options.clock ?? (() => new Date());
  let stopped = false;
  let running: Promise<number> | null = null;

  const runOnce = async (): Promise<number> => {
    const before = new Date(clock().getTime() - options.days * 86_400_000);
    let total = 0;
    while (!stopped) {
      const deleted = await options.store.prune(before, PRUNE_BATCH);
      total += deleted;
      if (deleted > 0) options.onPruned?.(deleted);
      if (deleted < PRUNE_BATCH) break;
      await new Promise((resolve) => setTimeout(resolve, PRUNE_PAUSE_MS));
    }
    return total;
  };
  const run = (): Promise<number> => {
    running ??= runOnce().finally(() => (running = null));
    return running;
  };
  const scheduled = (): void => {
    if (stopped) return;
    run().catch((err: unknown) => options.onError?.(err));
  };
  const timer = setInterval(scheduled, options.everyMs ?? PRUNE_EVERY_MS);
  timer.unref();
  setImmediate(scheduled);

  return {
    run,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
