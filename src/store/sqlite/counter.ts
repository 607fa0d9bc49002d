// The second core for a long count (a walk of the time order over a million rows: `since`, or a `q`
// matched row by row): a helper thread counts one part of the time range on a connection of its own
// while the reading connection counts the rest. node:sqlite cannot give two connections one snapshot, so the parts are added only when both read
// the same message_totals.revision (schema.ts); otherwise the reader counts the helper's part itself.
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

type Params = Record<string, SQLInputValue>;

/** Statements prepared once per SQL text; one parameter object serves every shape, each taking the names it uses. */
export function statementCache(db: DatabaseSync): (sql: string) => StatementSync {
  const statements = new Map<string, StatementSync>();
  return (sql) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statement.setAllowUnknownNamedParameters(true);
      statements.set(sql, statement);
    }
    return statement;
  };
}

export type Counter = {
  /**
   * `sql` (a `SELECT count(*) AS n`) counted by the helper, while `own()` runs here; null unless the
   * helper answered for exactly `revision`.
   */
  count(sql: string, params: Params, revision: number, own: () => number): { own: number; other: number | null };
  close(): Promise<void>;
};

// Slots shared with the helper: [the request it last finished (negative: failed), its count, its
// revision, 1 once its connection is open].
const SLOTS = 4;
const MODULE = import.meta.url.endsWith('.ts') ? './counter.ts' : './counter.js';

/** A helper thread on the file at `path`, started by the first count, which it does not share yet. */
export function createCounter(path: string): Counter {
  const slots = new BigInt64Array(new SharedArrayBuffer(SLOTS * 8));
  let worker: Worker | null = null;
  let down = false;
  let seq = 0n;
  const start = (): Worker => {
    const w = new Worker(new URL(MODULE, import.meta.url), {
      workerData: { counter: { path, slots } },
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    });
    w.unref();
    w.on('error', () => (down = true));
    w.on('exit', () => (down = true));
    return w;
  };
  // Not while it starts, nor while it still owes the answer to a part it was given up on.
  const idle = (): boolean => slots[3] === 1n && Math.abs(Number(Atomics.load(slots, 0))) === Number(seq);
  return {
    count(sql, params, revision, own) {
      if (down) return { own: own(), other: null };
      worker ??= start();
      if (!idle()) return { own: own(), other: null };
      seq += 1n;
      worker.postMessage({ seq, sql, params });
      const started = performance.now();
      const mine = own();
      // Waits for the helper at most a few times as long as this part took (plus a second): past that it
      // is stuck or starved, and the caller counts its part instead.
      const deadline = performance.now() + 4 * (performance.now() - started) + 1000;
      for (let left = deadline - performance.now(); left > 0; left = deadline - performance.now()) {
        const done = Atomics.load(slots, 0);
        if (done === seq) return { own: mine, other: slots[2] === BigInt(revision) ? Number(slots[1]) : null };
        if (done === -seq) break;
        Atomics.wait(slots, 0, done, left);
      }
      return { own: mine, other: null };
    },
    async close() {
      down = true;
      await worker?.terminate();
    },
  };
}

// As the helper thread: each request counted in a read transaction of its own, beside that snapshot's revision.
if (!isMainThread && parentPort && workerData?.counter) {
  const { path, slots } = workerData.counter as { path: string; slots: BigInt64Array };
  const db = new DatabaseSync(path);
  db.exec('PRAGMA query_only = 1');
  const revision = db.prepare('SELECT revision FROM message_totals WHERE id = 0');
  const prepare = statementCache(db);
  slots[3] = 1n;
  parentPort.on('message', ({ seq, sql, params }: { seq: bigint; sql: string; params: Params }) => {
    let answer = -seq;
    try {
      const statement = prepare(sql);
      db.exec('BEGIN');
      try {
        slots[2] = BigInt((revision.get() as { revision: number }).revision);
        slots[1] = BigInt((statement.get(params) as { n: number }).n);
        answer = seq;
      } finally {
        db.exec('COMMIT');
      }
    } catch {
      // Failed: the reader counts this part itself.
    }
    Atomics.store(slots, 0, answer);
    Atomics.notify(slots, 0);
  });
}
