// The embedded engine: one reading connection on the caller's thread, one writer thread (writer.ts) that
// group-commits inserts with synchronous=FULL, and answers that wait for the commit.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { storeUnavailable, type InsertOutcome, type Stats, type Store } from '../store.ts';
import { describe, errorInfo, isTransient, toError, type SqliteErrorInfo } from './errors.ts';
import { createCounter, type Counter } from './counter.ts';
import { createListReader } from './list.ts';
import { migrate, type OnEvent } from './migrate.ts';
import { connectWriter, type WriterControl, type WriterLink } from './writer-link.ts';
import { fileId, type InsertRow, type WriterReply, type WriterRequest } from './writer.ts';

/** How long a statement waits for another connection's lock; node:sqlite blocks its thread meanwhile. */
export const BUSY_TIMEOUT_MS = 50;
/**
 * The reading connection's page cache, KiB (SQLite's default is 2,000): the rows a query reads by rowid
 * lie all over a large file; kept here, a repeated sender/time/text query at 1M rows runs in about 1.5 ms
 * instead of 9.
 */
export const CACHE_KIB = 16_000;

export type SqliteStoreOptions = {
  path: string;
  /** After each group commit: rows in the transaction and seconds from BEGIN to COMMIT, for metrics. */
  onCommit?: (rows: number, seconds: number) => void;
  /** When a message is received (created_at, which retention goes by). */
  clock?: () => Date;
  /** Progress of start-up work (migrations) at INFO; storage trouble and its end at ERROR and INFO. */
  onEvent?: OnEvent;
};

/** For tests only: control of the writer thread (SQL on its connection, ending it as a crash would). */
export type SqliteTesting = { onWriter(control: WriterControl): void };

/** A Store on SQLite; `ready` settles once its writer thread has the database open. */
export type SqliteStore = Store & { ready: Promise<void> };

type Pending = { row: InsertRow; resolve: (o: InsertOutcome) => void; reject: (e: unknown) => void };
type Row = Record<string, unknown>;

export function createSqliteStore(options: SqliteStoreOptions, testing?: SqliteTesting): SqliteStore {
  const memory = options.path === ':memory:';
  if (!memory) makeFolders(dirname(options.path));
  const db = new DatabaseSync(options.path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -${CACHE_KIB}`);
    migrate(db, options.onEvent ?? (() => {}));
  } catch (err) {
    db.close();
    throw err;
  }
  const writer = connectWriter(
    { path: options.path, busyTimeoutMs: BUSY_TIMEOUT_MS, fileId: memory ? null : fileId(options.path), allowExec: testing !== undefined },
    memory ? db : undefined,
  );
  testing?.onWriter(writer.control);
  // ':memory:' is seen by this connection alone: its counts stay on one thread.
  const counter = memory ? null : createCounter(options.path);
  const reads = createReads(db, counter);
  const writes = createWrites(writer, options);
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
      // A lock or I/O trouble that may pass is StoreUnavailable (503, retry), as for writes.
      return Promise.reject(toError(errorInfo(err)));
    }
  };

  return {
    ready: writer.ready,
    insert: writes.insert,
    list: (q) => read(() => reads.list(q)),
    stats: (top) => read(() => reads.stats(top)),
    async ping() {
      await read(reads.messages);
      await writes.probe();
    },
    prune: writes.prune,
    load: writes.load,
    close() {
      closing ??= writes.close().then(async () => {
        closed = true;
        await counter?.close();
        db.close();
      });
      return closing;
    },
  };
}

/** The reading side, on the store's own connection. */
function createReads(db: DatabaseSync, counter: Counter | null): { messages(): number; stats(top: number): Stats; list: ReturnType<typeof createListReader> } {
  const totalsStmt = db.prepare('SELECT messages, revision FROM message_totals WHERE id = 0');
  const sendersStmt = db.prepare('SELECT count(*) AS n FROM sender_counts');
  const topStmt = db.prepare('SELECT from_msisdn, count FROM sender_counts ORDER BY count DESC, from_msisdn ASC LIMIT ?');
  const firstStmt = db.prepare('SELECT ts FROM messages ORDER BY ts_key ASC, message_id ASC LIMIT 1');
  const lastStmt = db.prepare('SELECT ts FROM messages ORDER BY ts_key DESC, message_id DESC LIMIT 1');
  const tsOf = (row: unknown): string | null => (row === undefined ? null : String((row as Row).ts));
  const totals = (): Row => {
    const row = totalsStmt.get() as Row | undefined;
    if (!row) throw new Error('message_totals has no row: the schema was changed by hand');
    return row;
  };
  const messages = (): number => Number(totals().messages);
  return {
    messages,
    list: createListReader(db, { messages, revision: () => Number(totals().revision) }, counter),
    stats: (top) => ({
      totalMessages: messages(),
      sendersCount: Number((sendersStmt.get() as Row).n),
      messagesPerSender: (topStmt.all(top) as Row[]).map((r) => ({ from: String(r.from_msisdn), count: Number(r.count) })),
      firstMessageTs: tsOf(firstStmt.get()),
      lastMessageTs: tsOf(lastStmt.get()),
    }),
  };
}

type Writes = Pick<Store, 'insert' | 'prune' | 'load'> & { probe(): Promise<void>; close(): Promise<void> };

/** The writing side: group commit through the writer, and the storage trouble its replies report. */
function createWrites(writer: WriterLink, options: SqliteStoreOptions): Writes {
  const clock = options.clock ?? (() => new Date());
  const { failure, wrote, inTrouble } = troubleLog(options.onEvent ?? (() => {}));
  let queue: Pending[] = [];
  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | null = null;

  const ask = async (req: WriterRequest): Promise<WriterReply & { ok: true }> => {
    if (closing && req.kind !== 'insert') throw storeUnavailable('store is closed');
    const reply = await writer.send(req);
    if (!reply.ok) throw failure(reply.error);
    return reply;
  };
  const settle = (batch: Pending[], reply: WriterReply & { ok: true }): void => {
    const outcomes = reply.outcomes ?? [];
    // Fail closed: a reply that does not account for every row is an error for the rows it leaves out.
    batch.forEach((p, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined) return p.reject(new Error('the writer gave no outcome for this insert'));
      if (typeof outcome === 'string') return p.resolve(outcome);
      p.reject(failure(outcome.error));
    });
    if (outcomes.some((o) => typeof o === 'string')) wrote();
    // Last: an observer can neither fail a committed batch nor delay its answers.
    for (const [rows, seconds] of reply.commits ?? []) options.onCommit?.(rows, seconds);
  };
  // Group commit: every insert that arrived while the writer committed the last batch goes into the next
  // transaction, one fsync for all; each caller hears back only once its batch's COMMIT is done.
  const flush = (): void => {
    if (inFlight > 0) return;
    if (queue.length === 0) return drained?.();
    const batch = queue;
    queue = [];
    inFlight = batch.length;
    const done = (): void => {
      inFlight = 0;
      flush();
    };
    ask({ kind: 'insert', rows: batch.map((p) => p.row) }).then(
      (reply) => (settle(batch, reply), done()),
      (err: unknown) => (batch.forEach((p) => p.reject(err)), done()),
    );
  };

  return {
    insert(message) {
      if (closing) return Promise.reject(storeUnavailable('store is closed'));
      const row: InsertRow = [message.messageId, message.from, message.to, message.ts, message.text, clock().toISOString()];
      return new Promise<InsertOutcome>((resolve, reject) => {
        queue.push({ row, resolve, reject });
        // Once this event-loop turn has queued what arrived with it.
        if (queue.length === 1) setImmediate(flush);
      });
    },
    async probe() {
      // Rolled back while all is well; committed in trouble, since only a commit shows the disk has room.
      await ask({ kind: 'probe', commit: inTrouble() });
      wrote();
    },
    async prune(before, limit) {
      const reply = await ask({ kind: 'prune', before: before.toISOString(), limit });
      if (reply.deleted === undefined) throw new Error('the writer did not say how many rows it deleted');
      return reply.deleted;
    },
    load: () => ({ pendingInserts: queue.length + inFlight }),
    // Called once, by the store's close().
    async close() {
      closing = true;
      // Pending inserts were promised an answer: they are committed before the handle goes.
      if (queue.length > 0 || inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      await writer.close();
    },
  };
}

/** Storage trouble, logged once an episode (and when its cause changes), not once a refused request. */
function troubleLog(onEvent: OnEvent): { failure(info: SqliteErrorInfo): Error; wrote(): void; inTrouble(): boolean } {
  // The trouble writes last met; readiness stays 503 until a write succeeds again.
  let trouble: string | null = null;
  return {
    /** The error a writer's failure is for its caller; trouble that may pass is noted. */
    failure(info) {
      if (isTransient(info)) {
        const reason = describe(info);
        if (trouble !== reason) onEvent('storage trouble: writes refused until it passes', { error: reason }, 'ERROR');
        trouble = reason;
      }
      return toError(info);
    },
    wrote() {
      if (trouble !== null) onEvent('storage recovered', { was: trouble });
      trouble = null;
    },
    inTrouble: () => trouble !== null,
  };
}

/** `mkdir -p`. */
export function makeFolders(dir: string): void {
  // By hand, one level at a time: Node's recursive mkdir loops for ever where mkdir fails with ENOENT
  // under a folder that exists (`/proc/x`).
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.push(d);
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // made meanwhile: as good
    }
  }
}
