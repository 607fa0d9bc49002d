// The embedded engine: one connection, on the caller's thread, for reads and writes. Inserts go through
// the group commit (group-commit.ts): what arrives while a batch commits (synchronous=FULL, an fsync)
// goes in the next one; answers wait for the commit.
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fold } from '../fold.ts';
import { createArrivalWatch } from '../arrival-watch.ts';
import { createGroupCommit } from '../group-commit.ts';
import { scanPages, storeUnavailable, type Message, type OnEvent, type Stats, type Store } from '../store.ts';
import { createTail } from './arrivals.ts';
import { createEraser } from './erase.ts';
import { isTransient, reason, toError } from './errors.ts';
import { createListReader, LIST_THRESHOLDS, timeSpan, type ListThresholds } from './list.ts';
import { migrate, registerFold } from './migrate.ts';
import { createWriter, fileId, INDEX_STEP, type InsertRow, type Writer } from './writer.ts';

/** How long a statement waits for another connection's lock; node:sqlite blocks its thread meanwhile. */
const BUSY_TIMEOUT_MS = 50;
/** The connection's page cache, KiB: large enough that a repeated selective query finds its pages in it. */
const CACHE_KIB = 16_000;
/** How often an open stream looks for rows another process (sqlite3) wrote; the service's own wake it at once. */
const ARRIVAL_POLL_MS = 1_000;

export type SqliteStoreOptions = {
  path: string;
  /** After each group commit: rows in the transaction and seconds from BEGIN to COMMIT, for metrics. */
  onCommit?: (rows: number, seconds: number) => void;
  /** When a message is received (created_at, which retention goes by). */
  clock?: () => Date;
  /** Progress of start-up work (migrations) at INFO; storage trouble and its end at ERROR and INFO. */
  onEvent?: OnEvent;
  /** The planner's thresholds (list.ts) and the search index's step (writer.ts): tests lower them. */
  thresholds?: Partial<ListThresholds & { indexStep: number }>;
  /** For tests only: the store's connection, to induce storage trouble on it (PRAGMA query_only, max_page_count). */
  onOpen?: (db: DatabaseSync) => void;
};

type Row = Record<string, unknown>;

export function createSqliteStore(options: SqliteStoreOptions): Store {
  const memory = options.path === ':memory:';
  if (!memory) createPrivately(options.path);
  const db = new DatabaseSync(options.path, { timeout: BUSY_TIMEOUT_MS });
  try {
    // SPEC: a 200 only once the row's commit is durable, power loss included.
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL');
    // A migration runs with SQLite's defaults: its sorts (CREATE INDEX) would otherwise be held in memory
    // (temp_store) beside a page cache as large again, and be the process's peak RSS.
    migrate(db, options.onEvent ?? (() => {}));
    // temp_store: the statement journal of an insert that fires triggers stays in memory. secure_delete
    // (SPEC, Erasure): deleted content is zeroed in the table, its indexes and freed pages.
    db.exec(`PRAGMA cache_size = -${CACHE_KIB}; PRAGMA temp_store = MEMORY; PRAGMA secure_delete = ON`);
    registerFold(db);
  } catch (err) {
    db.close();
    throw err;
  }
  options.onOpen?.(db);
  const writer = createWriter(db, options.path, memory ? null : fileId(options.path), options.thresholds?.indexStep ?? INDEX_STEP);
  const reads = createReads(db, { ...LIST_THRESHOLDS, ...options.thresholds });
  const tail = createTail(db);
  const writes = createWrites(db, writer, options, () => watch.notify());
  let closed = false;
  let closing: Promise<void> | null = null;

  // One read transaction: the counts and the page of one answer come from the same snapshot.
  const read = <T>(work: () => T): Promise<T> => {
    if (closed) return Promise.reject(storeUnavailable('store is closed'));
    try {
      db.exec('BEGIN');
      try {
        return Promise.resolve(work());
      } finally {
        db.exec('COMMIT');
      }
    } catch (err) {
      return Promise.reject(toError(err));
    }
  };

  const watch = createArrivalWatch(() => read(tail.head), ARRIVAL_POLL_MS);
  return {
    insertMany: writes.insertMany,
    list: (q) => read(() => reads.list(q, reads.messages())),
    stats: (top) => read(() => reads.stats(top)),
    async ping() {
      await read(reads.messages);
      await writes.probe();
    },
    prune: writes.prune,
    erase: writes.erase,
    // A read transaction a page: a long export never holds a snapshot that keeps the WAL from a checkpoint.
    scan: (filter, pageSize) =>
      scanPages((after) => read(() => reads.list({ ...filter, limit: pageSize, offset: 0, ...(after !== undefined && { after }) }, 0, false))),
    load: writes.load,
    arrivalHead: () => read(tail.head),
    arrivalIssued: (position) => read(() => tail.issued(position)),
    arrivals: (position, filter, limit) => read(() => tail.after(position, filter, limit)),
    watchArrivals: (onChange) => watch.watch(onChange),
    close() {
      closing ??= writes.close().then(() => {
        closed = true;
        db.close();
      });
      return closing;
    },
  };
}

/** The reading side, on the store's own connection. */
function createReads(db: DatabaseSync, thresholds: ListThresholds): { messages(): number; stats(top: number): Stats; list: ReturnType<typeof createListReader> } {
  const totalsStmt = db.prepare('SELECT messages FROM message_totals WHERE id = 0');
  const sendersStmt = db.prepare('SELECT count(*) AS n FROM sender_counts');
  const topStmt = db.prepare('SELECT from_msisdn, count FROM sender_counts ORDER BY count DESC, from_msisdn ASC LIMIT ?');
  const span = timeSpan(db);
  const messages = (): number => {
    const row = totalsStmt.get() as Row | undefined;
    if (!row) throw new Error('message_totals has no row: the schema was changed by hand');
    return Number(row.messages);
  };
  return {
    messages,
    list: createListReader(db, thresholds, span),
    stats: (top) => {
      const [first, last] = span() ?? [null, null];
      return {
        totalMessages: messages(),
        sendersCount: Number((sendersStmt.get() as Row).n),
        messagesPerSender: (topStmt.all(top) as Row[]).map((r) => ({ from: String(r.from_msisdn), count: Number(r.count) })),
        firstMessageTs: first,
        lastMessageTs: last,
      };
    },
  };
}

type Writes = Pick<Store, 'insertMany' | 'prune' | 'load' | 'erase'> & { probe(): Promise<void>; close(): Promise<void> };

/** The writing side: group commit, and the storage trouble writes meet. */
function createWrites(db: DatabaseSync, writer: Writer, options: SqliteStoreOptions, committed: () => void): Writes {
  const clock = options.clock ?? (() => new Date());
  const onEvent = options.onEvent ?? (() => {});
  const { failure, wrote, inTrouble } = troubleLog(onEvent);
  let closing = false;
  // One write, refused once the store closes; its trouble noted.
  const run = <T>(work: () => T): Promise<T> => {
    if (closing) return Promise.reject(storeUnavailable('store is closed'));
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(failure(err));
    }
  };
  const eraser = createEraser(db, writer.transaction, run, onEvent, () => closing);
  const row = (m: Message, receivedAt: string): InsertRow =>
    [m.messageId, m.from, m.to, m.ts, m.text, receivedAt, m.text === null ? null : fold(m.text), m.type ?? null];
  const queue = createGroupCommit({
    async commit(batch) {
      const receivedAt = clock().toISOString();
      const { outcomes, commits } = await run(() => writer.insert(batch.map((messages) => messages.map((m) => row(m, receivedAt)))));
      const result = outcomes.map((o) => (o instanceof Error ? failure(o) : o));
      if (result.some((o) => !(o instanceof Error))) wrote();
      // Last: an observer can neither fail a committed batch nor delay its answers.
      for (const [rows, seconds] of commits) options.onCommit?.(rows, seconds);
      committed();
      return result;
    },
  });

  return {
    insertMany: (messages) => queue.add(messages),
    async probe() {
      // Rolled back while all is well; committed in trouble, since only a commit shows the disk has room.
      await run(() => writer.probe(inTrouble()));
      wrote();
    },
    prune: (before, limit) => run(() => writer.prune(before.toISOString(), limit)),
    erase: eraser.erase,
    load: () => ({ pendingInserts: queue.pending() }),
    // Called once, by the store's close(). Pending inserts were promised an answer: committed first.
    async close() {
      await queue.drain();
      closing = true;
      await eraser.idle();
    },
  };
}

/** Storage trouble, logged once an episode (and when its cause changes), not once a refused request. */
function troubleLog(onEvent: OnEvent): { failure(err: unknown): Error; wrote(): void; inTrouble(): boolean } {
  // The trouble writes last met; readiness stays 503 until a write succeeds again.
  let trouble: string | null = null;
  return {
    /** The error a write's failure is for its caller; trouble that may pass is noted. */
    failure(err) {
      if (isTransient(err)) {
        const why = reason(err);
        if (trouble !== why) onEvent('storage trouble: writes refused until it passes', { error: why }, 'ERROR');
        trouble = why;
      }
      return toError(err);
    },
    wrote() {
      if (trouble !== null) onEvent('storage recovered', { was: trouble });
      trouble = null;
    },
    inTrouble: () => trouble !== null,
  };
}

/**
 * SPEC: database files the service creates are readable by its user only. The file is created 0600
 * before SQLite opens it (SQLite gives its -wal and -shm files the database file's mode); folders 0700.
 */
function createPrivately(path: string): void {
  makeFolders(dirname(path));
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
}

/** `mkdir -p`, each folder it makes private to the service's user. */
function makeFolders(dir: string): void {
  // By hand, one level at a time: Node's recursive mkdir loops for ever where mkdir fails with ENOENT
  // under a folder that exists (`/proc/x`).
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.push(d);
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // made meanwhile: as good
    }
  }
}
