import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MessageChannel, Worker } from 'node:worker_threads';
import { describeSqliteError, isTransient, type SqliteErrorInfo } from './sqlite-errors.ts';
import { createListReader, DEEP_WALK, SORT_LIMIT, WALK_LIMIT } from './sqlite-list.ts';
import { migrate, SENDER_DELTAS_SQL } from './sqlite-schema.ts';
import {
  storeUnavailable,
  type InsertOutcome,
  type Stats,
  type Store,
} from './store.ts';
import {
  createWriter,
  fileId,
  IDLE_INDEX_MS,
  INDEX_BACKLOG,
  RECHECK_MS,
  type InsertRow,
  type WriterConfig,
  type WriterReply,
  type WriterRequest,
} from './writer.ts';

export { SCHEMA, SCHEMA_VERSION } from './sqlite-schema.ts';

/** Upper bound on rows per batch sent to the writer; a burst larger than this takes several. */
export const MAX_BATCH = 512;
/** Batches sent to the writer and not yet answered, at most; the rest wait in the queue. */
export const MAX_IN_FLIGHT = 8;
/** How long one statement waits for another writer's lock. Short: node:sqlite blocks its thread meanwhile. */
export const BUSY_TIMEOUT_MS = 50;
/**
 * SQLite's page cache, KiB (its default is 2,000). Rows a query reads by rowid lie all over a large file;
 * kept here, a repeated sender/time/text query at 1M rows runs in about 1.5 ms instead of 9.
 */
export const CACHE_KIB = 16_000;
/**
 * The writer thread's page cache, KiB. It touches the tail of each index and the pages a new key lands
 * on; reads keep their own, larger cache on the main thread.
 */
export const WRITER_CACHE_KIB = 8_000;

export type WriterControl = { exec(sql: string): Promise<void>; stop(): Promise<void> };

export type SqliteStoreOptions = {
  path: string;
  /** After each group commit: rows in the transaction and seconds from BEGIN to COMMIT, for metrics. */
  onCommit?: (rows: number, seconds: number) => void;
  /** 'FULL' (default) survives power loss; 'NORMAL' survives a process crash only. */
  synchronous?: 'FULL' | 'NORMAL';
  clock?: () => Date;
  /** Rows a text query checks one by one before it asks the search index (tests lower it). */
  walkLimit?: number;
  /** Quiet time before the writer indexes rows waiting for search (tests hold them with Infinity). */
  searchIndexDelayMs?: number;
  /** Rows waiting for search beyond which each commit also indexes some (tests lower it). */
  searchBacklog?: number;
  /** How often the writer looks for work another connection left it (tests lower it). */
  searchRecheckMs?: number;
  /** Matching rows a page may sort from the search hits rather than walk the sort order (tests raise it). */
  sortLimit?: number;
  /** Rows a page's walk may visit before a deep text query starts it near its offset (tests lower it). */
  deepWalk?: number;
  /** Progress of start-up work (migrations) at INFO; storage trouble and its end at ERROR and INFO. */
  onEvent?: (msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'ERROR') => void;
  /**
   * Fault injection for tests: `exec` runs SQL on the writing connection, which lives in the writer
   * thread (PRAGMA max_page_count, query_only); `stop` ends that thread as a crash of it would.
   */
  onOpen?: (writer: WriterControl) => void;
};

type Pending = { row: InsertRow; resolve: (o: InsertOutcome) => void; reject: (e: unknown) => void };
type Row = Record<string, unknown>;

/** A Store on SQLite; `ready` settles once its writer thread has the database open. */
export type SqliteStore = Store & { ready: Promise<void> };

/**
 * `mkdir -p` by hand: Node's recursive mkdir loops for ever where mkdir fails with ENOENT under a folder
 * that exists (`/proc/x`), so a mistyped DATABASE_URL hung the start without a word.
 */
export function makeFolders(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.push(d);
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      // Made meanwhile by someone else: as good.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const clock = options.clock ?? (() => new Date());
  const onEvent = options.onEvent ?? (() => {});
  if (options.path !== ':memory:') makeFolders(dirname(options.path));

  const db = new DatabaseSync(options.path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${options.synchronous ?? 'FULL'}`);
    db.exec(`PRAGMA cache_size = -${CACHE_KIB}`);
    migrate(db, onEvent);
  } catch (err) {
    db.close();
    throw err;
  }
  const opened = options.path === ':memory:' ? null : fileId(options.path);
  const writerConfig: WriterConfig = {
    path: options.path,
    synchronous: options.synchronous ?? 'FULL',
    cacheKib: WRITER_CACHE_KIB,
    busyTimeoutMs: BUSY_TIMEOUT_MS,
    fileId: opened,
    allowExec: options.onOpen !== undefined,
    idleIndexMs: options.searchIndexDelayMs ?? IDLE_INDEX_MS,
    indexBacklog: options.searchBacklog ?? INDEX_BACKLOG,
    recheckMs: options.searchRecheckMs ?? RECHECK_MS,
  };
  // A file gets its writer thread. ':memory:' is private to one connection, so its writer works inline.
  const writer = options.path === ':memory:' ? inlineWriter(writerConfig, db) : threadWriter(writerConfig);
  options.onOpen?.({
    exec: async (sql) => {
      const reply = await writer.send({ kind: 'exec', seq: 0, sql });
      if (!reply.ok) throw fromInfo(reply.error);
    },
    stop: () => writer.stop(),
  });

  const totalsStmt = db.prepare('SELECT messages, senders FROM message_totals WHERE id = 0');
  const topStmt = db.prepare(
    'SELECT from_msisdn, count FROM sender_counts ORDER BY count DESC, from_msisdn ASC LIMIT ?',
  );
  // While sender deltas wait to be folded (see MIGRATION_5), a count is its row plus its deltas. The top
  // senders are then those with deltas, counted so, and the top of the rest, from the index as above.
  const deltasWaitStmt = db.prepare('SELECT 1 FROM sender_deltas LIMIT 1');
  const topWithDeltasStmt = db.prepare(
    `WITH p AS (${SENDER_DELTAS_SQL})
     SELECT from_msisdn, count FROM (
       SELECT p.from_msisdn, coalesce(c.count, 0) + p.d AS count FROM p LEFT JOIN sender_counts c USING (from_msisdn)
       UNION ALL
       SELECT * FROM (SELECT from_msisdn, count FROM sender_counts WHERE from_msisdn NOT IN (SELECT from_msisdn FROM p)
         ORDER BY count DESC, from_msisdn ASC LIMIT :n)
     ) WHERE count > 0 ORDER BY count DESC, from_msisdn ASC LIMIT :n`,
  );
  // Senders the deltas add (no row yet, a positive sum) less those they take away (their count to zero).
  const sendersDeltaStmt = db.prepare(
    `WITH p AS (${SENDER_DELTAS_SQL})
     SELECT coalesce(sum(CASE WHEN c.count IS NULL THEN p.d > 0 WHEN c.count + p.d <= 0 THEN -1 ELSE 0 END), 0) AS n
     FROM p LEFT JOIN sender_counts c USING (from_msisdn)`,
  );
  const firstStmt = db.prepare('SELECT ts FROM messages ORDER BY ts_key ASC, message_id ASC LIMIT 1');
  const lastStmt = db.prepare('SELECT ts FROM messages ORDER BY ts_key DESC, message_id DESC LIMIT 1');
  const pendingStmt = db.prepare('SELECT count(*) AS n FROM search_pending');
  const waiting = (): number => Number((pendingStmt.get() as Row).n);
  const tsOf = (row: unknown): string | null => (row === undefined ? null : String((row as Row).ts));
  const firstTs = (): string | null => tsOf(firstStmt.get());
  const lastTs = (): string | null => tsOf(lastStmt.get());
  const list = createListReader(db, {
    walkLimit: options.walkLimit ?? WALK_LIMIT,
    sortLimit: options.sortLimit ?? SORT_LIMIT,
    deepWalk: options.deepWalk ?? DEEP_WALK,
    messages: () => totals().messages,
    waiting,
    timeRange: () => {
      const [first, last] = [firstTs(), lastTs()];
      return first === null || last === null ? null : { first, last };
    },
  });

  let queue: Pending[] = [];
  let scheduled = false;
  let inFlight = 0;
  let closing = false;
  let closed = false;
  let whenDrained: (() => void) | null = null;
  // The last write failure that may pass; readiness stays 503 until a write succeeds again.
  let trouble: string | null = null;

  const noteTrouble = (err: unknown): void => {
    const reason = describeSqliteError(err);
    // Logged once per episode (and when the cause changes), not once per refused request.
    if (trouble !== reason) onEvent('storage trouble: writes refused until it passes', { error: reason }, 'ERROR');
    trouble = reason;
  };
  const noteWriteOk = (): void => {
    if (trouble === null) return;
    onEvent('storage recovered', { was: trouble });
    trouble = null;
  };

  // Group commit: the inserts that arrive in one event-loop turn go to the writer as one batch, at once.
  // The writer puts every batch that queued up while it committed the last into its next transaction:
  // one fsync for all of them. Each caller hears back only after the writer reports that COMMIT done.
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  const flush = (): void => {
    scheduled = false;
    if (queue.length === 0) {
      if (inFlight === 0) whenDrained?.();
      return;
    }
    if (inFlight >= MAX_IN_FLIGHT) return;
    const batch = queue.length <= MAX_BATCH ? queue : queue.slice(0, MAX_BATCH);
    queue = queue.length <= MAX_BATCH ? [] : queue.slice(MAX_BATCH);
    inFlight += 1;
    if (queue.length > 0) schedule();
    void writer.send({ kind: 'insert', seq: 0, rows: batch.map((p) => p.row) }).then((reply) => {
      inFlight -= 1;
      settle(batch, reply);
      flush();
    });
  };

  const settle = (batch: Pending[], reply: WriterReply): void => {
    if (!reply.ok) {
      const err = fromInfo(reply.error);
      if (isTransient(err)) noteTrouble(err);
      for (const p of batch) p.reject(mapError(err));
      return;
    }
    const outcomes = reply.outcomes ?? [];
    if (outcomes.some((o) => typeof o === 'string')) noteWriteOk();
    batch.forEach((p, i) => {
      const outcome = outcomes[i] ?? 'duplicate';
      if (typeof outcome === 'string') return p.resolve(outcome);
      const err = fromInfo(outcome.error);
      if (isTransient(err)) noteTrouble(err);
      p.reject(mapError(err));
    });
    // Last: an observer can neither fail a committed batch nor delay its answers.
    for (const [rows, seconds] of reply.commits ?? []) options.onCommit?.(rows, seconds);
  };

  const read = <T>(work: () => T): Promise<T> => {
    if (closed) return Promise.reject(storeUnavailable('store is closed'));
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(mapError(err));
    }
  };

  // The writer thread commits (and moves rows from search_pending into the index) between any two
  // statements here: the counts and the page of one answer are read in one transaction, one snapshot.
  const snapshot = <T>(work: () => T): T => {
    db.exec('BEGIN');
    try {
      return work();
    } finally {
      db.exec('COMMIT');
    }
  };

  return {
    ready: writer.ready,

    insert(message) {
      if (closing) return Promise.reject(storeUnavailable('store is closed'));
      const row: InsertRow = [message.messageId, message.from, message.to, message.ts, message.text, clock().toISOString()];
      return new Promise<InsertOutcome>((resolve, reject) => {
        queue.push({ row, resolve, reject });
        schedule();
      });
    },

    list(q) {
      return read(() => snapshot(() => list(q)));
    },

    stats(topSenders) {
      // One snapshot: a fold committed between two of these reads would move senders from the deltas
      // into sender_counts after the totals were read, and count them nowhere.
      return read(() => snapshot((): Stats => {
        const t = totals();
        const waiting = deltasWaitStmt.get() !== undefined;
        const top = (waiting ? topWithDeltasStmt.all({ n: topSenders }) : topStmt.all(topSenders)) as Row[];
        const senders = t.senders + (waiting ? Number((sendersDeltaStmt.get() as Row).n) : 0);
        return {
          totalMessages: t.messages,
          sendersCount: senders,
          messagesPerSender: top.map((r) => ({ from: String(r.from_msisdn), count: Number(r.count) })),
          firstMessageTs: firstTs(),
          lastMessageTs: lastTs(),
        };
      }));
    },

    searchBacklog() {
      return read(waiting);
    },

    prune() {
      return Promise.reject(new Error('retention is not implemented by this engine'));
    },

    load() {
      return { pendingInserts: queue.length + inFlight };
    },

    async ping() {
      await read(totals);
      if (closing) throw storeUnavailable('store is closed');
      // Rolled back when all is well; committed in trouble, since only a commit shows the disk has room.
      const reply = await writer.send({ kind: 'probe', seq: 0, commit: trouble !== null });
      if (!reply.ok) {
        const err = fromInfo(reply.error);
        if (isTransient(err)) noteTrouble(err);
        throw mapError(err);
      }
      noteWriteOk();
    },

    async close() {
      if (closing) return;
      closing = true;
      // Pending inserts were promised an answer: commit them before the handle goes.
      if (queue.length > 0 || inFlight > 0) {
        await new Promise<void>((resolve) => {
          whenDrained = resolve;
          schedule();
        });
      }
      await writer.close();
      closed = true;
      db.close();
    },
  };

  function totals(): { messages: number; senders: number } {
    const row = totalsStmt.get() as Row | undefined;
    if (!row) throw new Error('message_totals row is missing');
    return { messages: Number(row.messages), senders: Number(row.senders) };
  }
}


/** The connection to the writer: a request in, its reply out, in order. */
type WriterLink = {
  /** Settles once the writer has opened the database (or could not). */
  ready: Promise<void>;
  send(req: WriterRequest): Promise<WriterReply>;
  close(): Promise<void>;
  /** Ends the thread at once (tests: what a crash of it would do). */
  stop(): Promise<void>;
};

// The writer's module beside this one: writer.ts when Node runs the sources, writer.js when it runs the
// build (dist/, see tsconfig.build.json), whose import specifiers tsc rewrites but not this URL.
const WRITER_MODULE = import.meta.url.endsWith('.ts') ? './writer.ts' : './writer.js';

function threadWriter(config: WriterConfig): WriterLink {
  // Its own channel, so the writer can take every request already queued (receiveMessageOnPort).
  const { port1: port, port2 } = new MessageChannel();
  const worker = new Worker(new URL(WRITER_MODULE, import.meta.url), {
    workerData: { writer: config, port: port2 },
    transferList: [port2],
    // Its JavaScript holds a batch at a time: a small young generation keeps the thread's memory small.
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  const waiting = new Map<number, (reply: WriterReply) => void>();
  let seq = 0;
  let closing = false;
  let down: SqliteErrorInfo | null = null;
  // Should the thread ever stop (a bug, memory), writes are refused as storage trouble: 503s and a
  // failing readiness probe, which restarts the service where an orchestrator watches it.
  const stopped = (why: string): void => {
    down ??= { message: why, errcode: 10, errstr: `writer thread stopped: ${why}` };
    for (const [n, done] of waiting) done({ seq: n, ok: false, error: down });
    waiting.clear();
  };
  port.on('message', (reply: WriterReply) => {
    const done = waiting.get(reply.seq);
    waiting.delete(reply.seq);
    // Referenced only while it owes an answer (or is closing): an idle writer never keeps the process alive.
    if (waiting.size === 0 && !closing) {
      worker.unref();
      port.unref();
    }
    done?.(reply);
  });
  worker.on('error', (err) => stopped(err.message));
  worker.on('exit', (code) => stopped(`exit code ${code}`));
  const ready = new Promise<void>((resolve, reject) => {
    waiting.set(0, (reply) => (reply.ok ? resolve() : reject(fromInfo(reply.error))));
  });
  // Marked handled here; whoever awaits `ready` still sees the failure.
  ready.catch(() => {});
  return {
    ready,
    send(req) {
      if (down) return Promise.resolve({ seq: req.seq, ok: false, error: down });
      seq += 1;
      const n = seq;
      return new Promise((resolve) => {
        waiting.set(n, resolve);
        worker.ref();
        port.ref();
        port.postMessage({ ...req, seq: n });
      });
    },
    async stop() {
      await worker.terminate();
    },
    async close() {
      if (down) return;
      closing = true;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      // A writer that could not open has closed its channel and is on its way out: no reply will come.
      await Promise.race([this.send({ kind: 'close', seq: 0 }), exited]);
      await exited;
    },
  };
}

/** The writer's work on the store's own connection, one event-loop turn later. */
function inlineWriter(config: WriterConfig, db: DatabaseSync): WriterLink {
  const writer = createWriter(config, db);
  return {
    ready: Promise.resolve(),
    stop: async () => {},
    send: (req) => new Promise((resolve) => setImmediate(() => resolve(writer.handle([req])[0] as WriterReply))),
    close: async () => {},
  };
}

function fromInfo(info: SqliteErrorInfo): Error {
  return Object.assign(new Error(info.message), info);
}

function mapError(err: unknown): unknown {
  if (!isTransient(err)) return err;
  return storeUnavailable(`database unavailable: ${describeSqliteError(err)}`, err);
}
