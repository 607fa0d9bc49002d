// The Store on PostgreSQL, for several replicas of the service behind a load balancer. A bounded pool of
// connections, every statement under a timeout, group commit for inserts (writer.ts), /stats from
// counters that inserts append to rather than update (stats.ts), and the schema applied at start under
// an advisory lock (migrate.ts). Errors that may pass become storeUnavailable (errors.ts): 503s.
import type { Sql } from 'postgres';
import { storeUnavailable, type ListQuery, type Store } from '../store.ts';
import type { PostgresDriver } from './driver.ts';
import { isTransient, isUnreachable, translate } from './errors.ts';
import { createLister } from './list.ts';
import { migrate } from './migrate.ts';
import { createStatsReader, foldDeltas } from './stats.ts';
import { createWriter } from './writer.ts';

/** Connections per replica: a few replicas stay well inside PostgreSQL's default max_connections (100). */
export const POOL_SIZE = 10;
/** Requests waiting for a connection beyond this are refused at once (503) rather than queued for ever. */
export const MAX_WAITING = 500;
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
  const clock = options.clock ?? (() => new Date());
  const sql: Sql = options.driver(options.url, {
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
  let active = 0;
  let closing = false;
  let closed = false;
  // While the server cannot be reached, calls do not queue in the driver for its reconnects: one call at a
  // time (or a readiness ping) tries the server, and the calls arriving meanwhile wait for its outcome
  // (bounded by its deadline): refused at once (503) if it failed, sent if it got through.
  let unreachable = false;
  let trial: Promise<boolean> | null = null;
  // Every call to the server goes through here: counted (pool use), bounded, errors translated.
  const run = async <T>(fn: () => Promise<T>, probe = false): Promise<T> => {
    if (closed) throw new Error('store is closed');
    if (active >= poolSize + MAX_WAITING) throw storeUnavailable('PostgreSQL pool saturated: too many requests waiting');
    let settle: ((ok: boolean) => void) | null = null;
    if (unreachable && !probe) {
      if (trial !== null) {
        if (!(await trial)) throw storeUnavailable('PostgreSQL unreachable: retrying');
      } else {
        trial = new Promise<boolean>((resolve) => (settle = resolve));
      }
    }
    active += 1;
    let ok = false;
    try {
      const value = await fn();
      unreachable = false;
      ok = true;
      return value;
    } catch (err) {
      if (isUnreachable(err)) unreachable = true;
      else ok = true; // the server answered, with an error of its own
      throw translate(err);
    } finally {
      active -= 1;
      if (settle !== null) {
        trial = null;
        (settle as (ok: boolean) => void)(ok);
      }
    }
  };
  // A call the server does not answer in time: the caller gets a 503 (the statement may still finish).
  const bounded = <T>(promise: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(storeUnavailable(`PostgreSQL did not answer within ${CALL_DEADLINE_MS} ms`)), CALL_DEADLINE_MS);
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  };
  const writer = createWriter({ sql, clock, deadlineMs: CALL_DEADLINE_MS, ...(options.onCommit && { onCommit: options.onCommit }) });
  const list = createLister(sql);
  const stats = createStatsReader(sql);

  let foldTimer: NodeJS.Timeout | undefined;
  let folding: Promise<unknown> = Promise.resolve();
  let foldFailing = false;
  const fold = (): void => {
    folding = run(() => foldDeltas(sql)).then(
      () => (foldFailing = false),
      (err: unknown) => {
        // Said once per spell of trouble, not every half second.
        if (!foldFailing) options.onEvent?.('stats fold failed; will retry', { error: String(err) }, 'WARNING');
        foldFailing = true;
      },
    );
  };

  const ready = startUp(sql, options).then(() => {
    if (closing) return;
    foldTimer = setInterval(fold, FOLD_INTERVAL_MS);
    foldTimer.unref();
  });
  ready.catch(() => {}); // whoever awaits `ready` still sees the failure

  return {
    ready,
    insert: async (message) => {
      const [outcome] = await run(() => writer.add([message]));
      if (outcome === undefined) throw new Error('the writer gave no outcome for this insert');
      return outcome;
    },
    insertMany: (messages) => run(() => writer.add(messages)),
    list: (query: ListQuery) => run(() => bounded(list(query))),
    stats: (top) => run(() => bounded(stats(top))),
    ping: () =>
      run(async () => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(storeUnavailable(`PostgreSQL did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
        });
        try {
          await Promise.race([ready, timeout]);
          await Promise.race([sql`SELECT version FROM schema_version`, timeout]);
        } finally {
          clearTimeout(timer);
        }
      }, true),
    prune: (before, limit) =>
      run(async () => {
        // SKIP LOCKED: replicas pruning at once take different rows instead of waiting on each other.
        const result = await sql`
          DELETE FROM messages WHERE message_id IN (
            SELECT message_id FROM messages WHERE created_at < ${before} ORDER BY created_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)`;
        return result.count;
      }),
    load: () => ({ pendingInserts: writer.pending(), pool: { busy: Math.min(active, poolSize), size: poolSize } }),
    async close() {
      if (closing) throw new Error('store is closed');
      closing = true;
      await ready.catch(() => {});
      clearInterval(foldTimer);
      await writer.drain();
      await folding;
      closed = true;
      await sql.end({ timeout: 5 });
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
