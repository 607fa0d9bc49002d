// The Store on PostgreSQL, for several replicas of the service behind a load balancer. A bounded pool of
// connections, every statement under a timeout, every call through one gate (calls.ts: pool use,
// deadline, errors that may pass become storeUnavailable, 503s), group commit for inserts (writer.ts),
// /stats from counters that inserts append to rather than update (stats.ts), and the schema migrated at
// start under an advisory lock (migrate.ts).
import type { Sql } from 'postgres';
import { createArrivalWatch } from '../arrival-watch.ts';
import type { ListPosition, Store } from '../store.ts';
import { createTail } from './arrivals.ts';
import { createCalls, type Calls } from './calls.ts';
import type { PostgresDriver } from './driver.ts';
import { isTransient, translate } from './errors.ts';
import { createLister, createScanner } from './list.ts';
import { migrate } from './migrate.ts';
import { createStatsReader, foldDeltas } from './stats.ts';
import { escapeNul } from './text.ts';
import { createWriter } from './writer.ts';

/** Connections per replica: a few replicas stay well inside PostgreSQL's default max_connections (100). */
export const POOL_SIZE = 10;
/** The longest any statement may run; a slow query cannot hold a connection longer (then 503). */
export const STATEMENT_TIMEOUT_MS = 5_000;
/** How long a statement may wait for a row or table lock before it gives up (then 503). */
export const LOCK_TIMEOUT_MS = 2_000;
/**
 * A call the server has not answered by then is refused (503) rather than left to hold its request: the
 * statement timeout plus a margin, for a server that stopped answering at all.
 */
export const CALL_DEADLINE_MS = STATEMENT_TIMEOUT_MS + 1_000;
/** The most the driver waits before reconnecting to a server that went away (its default grows to 20 s). */
export const RECONNECT_MAX_S = 0.5;
/** Connecting (TCP, TLS, authentication) gives up after this many seconds. */
export const CONNECT_TIMEOUT_S = 5;
/** Readiness answers within this, whatever the server does. */
export const PING_TIMEOUT_MS = 2_000;
/** At start, a server that does not answer yet is retried for this long before the start fails. */
export const STARTUP_WAIT_MS = 30_000;
/** How often a replica tries to fold the stats deltas (only one replica folds at a time). */
export const FOLD_INTERVAL_MS = 500;
/** Rows an erasure deletes per statement: each commits on its own, so inserts and reads never wait long. */
export const ERASE_BATCH = 1_000;
/**
 * How often an open stream asks for rows other replicas committed (one indexed query per replica,
 * only while a stream is open): SPEC wants them on every replica's streams within a second.
 */
export const ARRIVAL_POLL_MS = 250;

export type PostgresStoreOptions = {
  url: string;
  driver: PostgresDriver;
  /** created_at of each insert; injected so tests can move time (retention). */
  clock?: () => Date;
  onCommit?: (rows: number, seconds: number) => void;
  onEvent?: (msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'WARNING' | 'ERROR') => void;
  poolSize?: number;
  startupWaitMs?: number;
};

export type PostgresStore = Store & { ready: Promise<void> };

export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const poolSize = options.poolSize ?? POOL_SIZE;
  const sql = connect(options, poolSize);
  const calls = createCalls(poolSize);
  const bounded = { deadlineMs: CALL_DEADLINE_MS };
  const tail = createTail(sql);
  const watch = createArrivalWatch(() => calls.run(tail.head, bounded), ARRIVAL_POLL_MS);
  const writer = createWriter({
    sql,
    clock: options.clock ?? (() => new Date()),
    deadlineMs: CALL_DEADLINE_MS,
    onCommit(rows, seconds) {
      options.onCommit?.(rows, seconds);
      watch.notify();
    },
  });
  const list = createLister(sql);
  const stats = createStatsReader(sql);
  let closing = false;
  let folding: { stop(): Promise<void> } | null = null;
  const ready = startUp(sql, options).then(() => {
    if (!closing) folding = foldInBackground(sql, calls, options);
  });
  ready.catch(() => {}); // whoever awaits `ready` still sees the failure

  return {
    ready,
    insert: async (message) => {
      const [outcome] = await calls.run(() => writer.add([message]));
      if (outcome === undefined) throw new Error('the writer gave no outcome for this insert');
      return outcome;
    },
    insertMany: (messages) => calls.run(() => writer.add(messages)),
    list: (query) => calls.run(() => list(query), bounded),
    stats: (top) => calls.run(() => stats(top), bounded),
    ping: () =>
      calls.run(
        async () => {
          await ready;
          await sql`SELECT version FROM schema_version`;
        },
        { probe: true, deadlineMs: PING_TIMEOUT_MS },
      ),
    prune: (before, limit) =>
      calls.run(async () => {
        // SKIP LOCKED: replicas pruning at once take different rows instead of waiting on each other.
        const result = await sql`
          DELETE FROM messages WHERE message_id IN (
            SELECT message_id FROM messages WHERE created_at < ${before} ORDER BY created_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)`;
        return result.count;
      }),
    ...erasureAndScan(sql, calls),
    arrivalHead: () => calls.run(tail.head, bounded),
    arrivalIssued: (position) => calls.run(() => tail.issued(position), bounded),
    arrivals: (position, filter, limit) => calls.run(() => tail.after(position, filter, limit), bounded),
    watchArrivals: watch.watch,
    load: () => ({ pendingInserts: writer.pending(), pool: { busy: Math.min(calls.active(), poolSize), size: poolSize } }),
    async close() {
      if (closing) throw new Error('store is closed');
      closing = true;
      await ready.catch(() => {});
      await writer.drain();
      await (folding as { stop(): Promise<void> } | null)?.stop();
      calls.close();
      await sql.end({ timeout: 5 });
    },
  };
}

/** erase (batches, each its own transaction) and scan (a page a statement), through the calls' gate. */
function erasureAndScan(sql: Sql, calls: Calls): Pick<Store, 'erase' | 'scan'> {
  const bounded = { deadlineMs: CALL_DEADLINE_MS };
  const scanPage = createScanner(sql);
  return {
    async erase(target) {
      if ('messageId' in target) {
        return calls.run(async () => (await sql`DELETE FROM messages WHERE message_id = ${escapeNul(target.messageId)}`).count, bounded);
      }
      // Batch by batch, each its own transaction: a crash part-way leaves the rest for a repeat to erase.
      let deleted = 0;
      for (;;) {
        const batch = await calls.run(async () => {
          const result = await sql`
            DELETE FROM messages WHERE message_id IN (
              SELECT message_id FROM messages WHERE from_msisdn = ${target.from} LIMIT ${ERASE_BATCH})`;
          return result.count;
        }, bounded);
        deleted += batch;
        if (batch < ERASE_BATCH) return deleted;
      }
    },
    async *scan(filter, pageSize) {
      for (let after: ListPosition | undefined; ; ) {
        const page = await calls.run(() => scanPage(filter, pageSize, after), bounded);
        if (page.data.length > 0) yield page.data;
        const last = page.data.at(-1);
        if (!page.more || last === undefined) return;
        after = { ts: last.ts, messageId: last.messageId };
      }
    },
  };
}

/** The driver's pool: bounded, every statement under a timeout, reconnecting quickly. */
function connect(options: PostgresStoreOptions, poolSize: number): Sql {
  return options.driver(options.url, {
    max: poolSize,
    idle_timeout: 60,
    connect_timeout: CONNECT_TIMEOUT_S,
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, RECONNECT_MAX_S),
    // NOTICEs (such as "already exists, skipping") would go to console.log and break the JSON logs.
    onnotice: () => {},
    connection: {
      application_name: 'lyftr-webhook-api',
      statement_timeout: STATEMENT_TIMEOUT_MS,
      lock_timeout: LOCK_TIMEOUT_MS,
      idle_in_transaction_session_timeout: 10_000,
      // Statements are prepared once per connection; a generic plan would pick one plan for every LIKE
      // pattern (a 2-character q walked the whole sort index instead of scanning). Planned per call instead.
      plan_cache_mode: 'force_custom_plan',
    },
  });
}

/** Folds the stats deltas every FOLD_INTERVAL_MS (stats.ts); a failure is said once per spell of trouble. */
function foldInBackground(sql: Sql, calls: Calls, options: PostgresStoreOptions): { stop(): Promise<void> } {
  let folding: Promise<unknown> = Promise.resolve();
  let failing = false;
  const timer = setInterval(() => {
    folding = calls.run(() => foldDeltas(sql)).then(
      () => (failing = false),
      (err: unknown) => {
        if (!failing) options.onEvent?.('stats fold failed; will retry', { error: String(err) }, 'WARNING');
        failing = true;
      },
    );
  }, FOLD_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await folding;
    },
  };
}

/** The migration, retried while the server is not reachable yet (a database container still starting). */
async function startUp(sql: Sql, options: PostgresStoreOptions): Promise<void> {
  const until = Date.now() + (options.startupWaitMs ?? STARTUP_WAIT_MS);
  for (let attempt = 1; ; attempt += 1) {
    try {
      const version = await migrate(sql, (msg, fields) => options.onEvent?.(msg, fields));
      options.onEvent?.('database schema ready', { engine: 'postgres', version });
      await warnOfLocale(sql, options);
      return;
    } catch (err) {
      if (!isTransient(err) || Date.now() >= until) {
        await sql.end({ timeout: 1 });
        throw translate(err);
      }
      options.onEvent?.('PostgreSQL not reachable yet; retrying', { attempt, error: String(err) }, 'WARNING');
      await new Promise((r) => setTimeout(r, Math.min(2_000, 200 * attempt)));
    }
  }
}

/**
 * pg_trgm takes only letters and digits of the database's LC_CTYPE into its trigrams: under C or POSIX
 * no letter beyond ASCII is one, so a q of such letters cannot be narrowed by the index and scans (the
 * answers stay the same: LIKE checks every candidate).
 */
async function warnOfLocale(sql: Sql, options: PostgresStoreOptions): Promise<void> {
  const [db] = await sql<{ ctype: string; encoding: string }[]>`
    SELECT datctype AS ctype, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = current_database()`;
  if (db === undefined || (/utf-?8/i.test(db.ctype) && db.encoding === 'UTF8')) return;
  options.onEvent?.(
    `the database's LC_CTYPE is ${db.ctype} (encoding ${db.encoding}): the trigram index cannot narrow a q of non-ASCII letters, which scans the table; create the database with a UTF-8 locale (LC_CTYPE such as C.UTF-8) for fast search`,
    { lc_ctype: db.ctype, encoding: db.encoding },
    'WARNING',
  );
}
