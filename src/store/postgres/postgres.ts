// The Store on PostgreSQL, for several replicas of the service behind a load balancer: a bounded pool,
// every statement under a timeout and every call through one gate (calls.ts), group commit for inserts
// (writer.ts), /stats from counters that inserts append to (stats.ts), the schema migrated at start.
import type { Sql } from 'postgres';
import { createArrivalWatch } from '../arrival-watch.ts';
import { eraseInBatches, scanPages, type OnEvent, type Store } from '../store.ts';
import { createTail } from './arrivals.ts';
import { createCalls, isTransient, translate } from './calls.ts';
import type { PostgresDriver } from './driver.ts';
import { createLister, createScanner } from './list.ts';
import { migrate } from './migrate.ts';
import { createStatsReader, startMerging } from './stats.ts';
import { escapeNul } from './text.ts';
import { createInsertQueue } from './writer.ts';

/** The longest any statement may run: a slow query cannot hold a connection longer (then 503). */
const STATEMENT_TIMEOUT_MS = 5_000;
/** A call not answered by then is refused (503): for a server that stopped answering at all. */
const CALL_DEADLINE_MS = STATEMENT_TIMEOUT_MS + 1_000;
/** How often an open stream looks for rows other replicas committed (SPEC: they reach it within a second). */
const ARRIVAL_POLL_MS = 250;
/** Rows an erasure deletes per statement: each commits on its own, so inserts and reads never wait long. */
const ERASE_BATCH = 1_000;

export type PostgresStoreOptions = {
  url: string;
  driver: PostgresDriver;
  /** created_at of each insert; injected so tests can move time (retention). */
  clock?: () => Date;
  onCommit?: (rows: number, seconds: number) => void;
  onEvent?: OnEvent;
  /** Connections per replica: a few replicas stay well inside PostgreSQL's default max_connections (100). */
  poolSize?: number;
};

export type PostgresStore = Store & { ready: Promise<void> };

export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const poolSize = options.poolSize ?? 10;
  const sql = connect(options.driver, options.url, poolSize);
  const calls = createCalls(poolSize);
  const bounded = <T>(fn: () => Promise<T>): Promise<T> => calls.run(fn, CALL_DEADLINE_MS);
  const tail = createTail(sql);
  const watch = createArrivalWatch(() => bounded(tail.arrivalHead), ARRIVAL_POLL_MS);
  const inserts = createInsertQueue(sql, options.clock ?? (() => new Date()), CALL_DEADLINE_MS, (rows, seconds) => {
    options.onCommit?.(rows, seconds);
    watch.notify();
  });
  const [list, stats, scanPage] = [createLister(sql), createStatsReader(sql), createScanner(sql)];
  let closing: Promise<void> | null = null;
  let stopMerging = async (): Promise<void> => {};
  const ready = startUp(sql, options).then(() => {
    if (!closing) stopMerging = startMerging(sql, calls, options.onEvent);
  });
  ready.catch(() => {}); // whoever awaits `ready` still sees the failure

  return {
    ready,
    insertMany: (messages) => calls.run(() => inserts.add(messages)),
    list: (query) => bounded(() => list(query)),
    stats: (top) => bounded(() => stats(top)),
    ping: () => calls.run(async () => void (await ready, await sql`SELECT version FROM schema_version`), 2_000),
    prune: (before, limit) =>
      // SKIP LOCKED: replicas pruning at once take different rows instead of waiting on each other.
      bounded(async () => (await sql`DELETE FROM messages WHERE message_id IN (SELECT message_id FROM messages
        WHERE created_at < ${before} ORDER BY created_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)`).count),
    erase(target) {
      const which = 'messageId' in target ? sql`message_id = ${escapeNul(target.messageId)}` : sql`from_msisdn = ${target.from}`;
      return eraseInBatches(ERASE_BATCH, () =>
        bounded(async () => (await sql`DELETE FROM messages WHERE message_id IN (SELECT message_id FROM messages WHERE ${which} LIMIT ${ERASE_BATCH})`).count),
      );
    },
    scan: (filter, pageSize) => scanPages((after) => bounded(() => scanPage(filter, pageSize, after))),
    arrivalHead: () => bounded(tail.arrivalHead),
    arrivalIssued: (position) => bounded(() => tail.arrivalIssued(position)),
    arrivals: (position, filter, limit) => bounded(() => tail.arrivals(position, filter, limit)),
    watchArrivals: watch.watch,
    load: () => ({ pendingInserts: inserts.pending(), pool: { busy: Math.min(calls.active(), poolSize), size: poolSize } }),
    close() {
      closing ??= (async () => {
        await ready.catch(() => {});
        await inserts.drain();
        await stopMerging();
        calls.close();
        await sql.end({ timeout: 5 });
      })();
      return closing;
    },
  };
}

/** The driver's pool: bounded, every statement under a timeout, reconnecting within half a second. */
function connect(driver: PostgresDriver, url: string, max: number): Sql {
  return driver(url, {
    max,
    idle_timeout: 60,
    connect_timeout: 5,
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
    // NOTICEs (such as "already exists, skipping") would go to console.log and break the JSON logs.
    onnotice: () => {},
    connection: {
      application_name: 'lyftr-webhook-api',
      statement_timeout: STATEMENT_TIMEOUT_MS,
      lock_timeout: 2_000,
      idle_in_transaction_session_timeout: 10_000,
      // One generic plan would serve every LIKE pattern, and walk the whole sort index for a 2-character q
      // that a scan answers sooner: each call is planned for its values.
      plan_cache_mode: 'force_custom_plan',
    },
  });
}

/** The migration, retried for 30 s while the server cannot be reached yet (a database container starting). */
async function startUp(sql: Sql, { onEvent }: PostgresStoreOptions): Promise<void> {
  const until = Date.now() + 30_000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const version = await migrate(sql, onEvent);
      onEvent?.('database schema ready', { engine: 'postgres', version });
      break;
    } catch (err) {
      if (!isTransient(err) || Date.now() >= until) {
        await sql.end({ timeout: 1 });
        throw translate(err);
      }
      onEvent?.('PostgreSQL not reachable yet; retrying', { attempt, error: String(err) }, 'WARNING');
      await new Promise((r) => setTimeout(r, Math.min(2_000, 200 * attempt)));
    }
  }
  // pg_trgm takes only the letters of the database's LC_CTYPE into trigrams: under C or POSIX a q of
  // non-ASCII letters cannot be narrowed by the index and scans (the answers stay the same).
  const [db] = await sql<{ ctype: string; encoding: string }[]>`
    SELECT datctype AS ctype, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = current_database()`;
  if (db === undefined || (/utf-?8/i.test(db.ctype) && db.encoding === 'UTF8')) return;
  onEvent?.(
    `the database's LC_CTYPE is ${db.ctype} (encoding ${db.encoding}): the trigram index cannot narrow a q of non-ASCII letters, which scans the table; create the database with a UTF-8 locale (LC_CTYPE such as C.UTF-8) for fast search`,
    { lc_ctype: db.ctype, encoding: db.encoding },
    'WARNING',
  );
}
