// The store's writer: a worker thread that owns the only writing connection. Group commits run here, so
// their SQLite work and their fsync no longer stop the HTTP thread, which meanwhile reads requests and
// gathers the next batch. The main thread sends one batch at a time and answers each request only after
// this thread reports its batch committed.
import { statSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { errorInfo, fileMoved, isTransient, type SqliteErrorInfo } from './sqlite-errors.ts';
import { charCounter } from './sqlite-chars.ts';
import { pendingIndexer, senderFolder } from './sqlite-schema.ts';

export type WriterConfig = {
  path: string;
  synchronous: 'FULL' | 'NORMAL';
  cacheKib: number;
  busyTimeoutMs: number;
  /** Device and inode of the database file when the store opened it (null for :memory:). */
  fileId: string | null;
  /** Whether `exec` requests are served (fault injection in tests only). */
  allowExec: boolean;
  /** Quiet time before indexing pending rows (IDLE_INDEX_MS; tests hold rows pending with Infinity). */
  idleIndexMs: number;
  /** Pending rows beyond which commits index along (INDEX_BACKLOG; tests lower it). */
  indexBacklog: number;
  /** How often a quiet writer looks for work another connection left (RECHECK_MS; tests lower it). */
  recheckMs: number;
};

/** message_id, from, to, ts, text, created_at: the columns of one insert, in order. */
export type InsertRow = [string, string, string, string, string | null, string];

export type WriterRequest =
  | { kind: 'insert'; seq: number; rows: InsertRow[] }
  | { kind: 'probe'; seq: number; commit: boolean }
  | { kind: 'exec'; seq: number; sql: string }
  | { kind: 'close'; seq: number };

export type RowOutcome = 'created' | 'duplicate' | { error: SqliteErrorInfo };

export type WriterReply =
  /** commits: rows and seconds (BEGIN to COMMIT) of each transaction it took (a failed batch is retried row by row). */
  | { seq: number; ok: true; outcomes?: RowOutcome[]; commits?: [number, number][] }
  | { seq: number; ok: false; error: SqliteErrorInfo };

/** Rows one transaction takes at most, however many requests queued up. */
export const MAX_TRANSACTION_ROWS = 1024;
/**
 * Rows waiting for the search index beyond which each group commit also indexes some. Below it, ingest
 * leaves indexing to quiet moments (IDLE_INDEX_MS): a burst runs at full speed, and a text search pays
 * for the backlog with a LIKE over at most this many rows (about 6 ms more). Sustained ingest indexes as it
 * goes, at ~15 us a row.
 */
export const INDEX_BACKLOG = 20_000;
/**
 * Sender deltas beyond which a group commit also folds them into sender_counts (see MIGRATION_5): the
 * more at once, the more of them share a page; /stats reads the waiting deltas too, about 1.5 ms for
 * this many at 1M rows (4,096: 5 ms, and ingest no faster).
 */
export const SENDER_FOLD_AT = 1024;
/**
 * WAL pages after which a commit copies them back into the database file (SQLite's default: 1,000). A
 * page dirtied by many commits (the tail of an index, a busy sender's entry) is copied once per
 * checkpoint: with senders in no order, inserts cost about a fifth less. The WAL file grows to ~40 MB.
 */
export const WAL_CHECKPOINT_PAGES = 10_000;
/** Sender deltas folded per quiet step (an operator's bulk DELETE can leave many). */
export const IDLE_FOLD_STEP = 50_000;
/** Rows a group commit indexes at most: bounded so the requests it carries wait at most ~3 ms more. */
export const INDEX_STEP = 256;
/** Time without inserts after which the writer indexes what is pending, a step (a few ms) per turn. */
export const IDLE_INDEX_MS = 50;
export const IDLE_INDEX_STEP = 512;
/** Dirty zones of search_chars recounted per quiet step, once nothing waits for the index. */
export const IDLE_RECOUNT_STEP = 8;
/**
 * How often the writer looks for work another connection left it: rows an operator inserted through the
 * sqlite3 CLI wait in search_pending, and zones whose rows an operator deleted or edited wait in
 * search_dirty, unseen by the writer's own count until then. Searches are right meanwhile, only slower.
 */
export const RECHECK_MS = 30_000;
/** After a failed indexing step (another writer's lock, a full disk), the wait before the next try. */
export const IDLE_RETRY_MS = 1_000;

const PROBE_ID = '\u0000write-probe:' + 'p'.repeat(300);
const PROBE_TEXT = 'p'.repeat(8192);
// Thrown inside the probe's transaction to roll it back when no commit is needed.
const ROLLBACK_PROBE = Symbol('rollback probe');

type Row = Record<string, unknown>;

/** Device and inode of the file at `path`, or null when nothing is there. */
export function fileId(path: string): string | null {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? `${st.dev}:${st.ino}` : null;
}

/** The writer's work, apart from the thread plumbing: each request in, its reply out. */
export function createWriter(
  config: WriterConfig,
  shared?: DatabaseSync,
): { handle(reqs: WriterRequest[]): WriterReply[]; idle(): 'more' | 'done' | 'later'; recount(): void } {
  // `shared`: the store's own connection, for ':memory:' (a database no second connection can see).
  const db = shared ?? new DatabaseSync(config.path, { timeout: config.busyTimeoutMs });
  db.exec(`PRAGMA synchronous = ${config.synchronous}`);
  if (!shared) db.exec(`PRAGMA cache_size = -${config.cacheKib}`);
  // A statement whose triggers write (every insert here) keeps a statement journal; in memory it is a
  // copy, on disk (SQLite's default) a write system call per page: about a fifth of an insert's cost.
  db.exec('PRAGMA temp_store = MEMORY');
  db.exec(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);

  const insertStmt: StatementSync = db.prepare(
    `INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
  );
  // The write probe: a row no valid message can have (ids are at most 256 characters), big enough to need
  // a fresh page, so a full database, a read-only file or another writer's lock fail it as an insert would.
  const probeInsertStmt = db.prepare(
    `INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at)
     VALUES (?, '+0', '+0', '1970-01-01T00:00:00Z', ?, '1970-01-01T00:00:00Z') ON CONFLICT (message_id) DO NOTHING`,
  );
  // By its id, which no message can have: no rowid to carry (past 2^53 a number would name another row).
  const probeDeleteStmt = db.prepare('DELETE FROM messages WHERE message_id = ?');
  const indexPending = pendingIndexer(db);
  const chars = charCounter(db);
  const foldSenders = senderFolder(db);
  // Ids are taken in order and removed oldest first: their span counts them (and reads two index entries).
  const deltasStmt = db.prepare('SELECT coalesce(max(id) - min(id) + 1, 0) AS n FROM sender_deltas');
  const deltas = (): number => Number((deltasStmt.get() as Row).n);
  const pendingStmt = db.prepare('SELECT count(*) AS n FROM search_pending');
  let pending = Number((pendingStmt.get() as Row).n);

  // SQLite keeps writing to a file that was deleted or moved away (its directory removed, say): commits
  // succeed and vanish at the next start. Comparing the inode before each COMMIT turns that into a refusal.
  const assertSameFile = (): void => {
    if (config.fileId !== null && fileId(config.path) !== config.fileId) throw fileMoved();
  };

  const inTransaction = <T>(work: () => T): T => {
    db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      assertSameFile();
      db.exec('COMMIT');
      return result;
    } catch (err) {
      if (db.isTransaction) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // The original error is the one worth reporting.
        }
      }
      throw err;
    }
  };

  // Work that rides along in a batch's transaction, under a savepoint: if it fails, the inserts still
  // commit and the work waits for a later try. Some errors (a full disk, say) roll the whole transaction
  // back: then the batch fails with them.
  const along = (work: () => void): void => {
    db.exec('SAVEPOINT along');
    try {
      work();
      db.exec('RELEASE along');
    } catch (err) {
      if (!db.isTransaction) throw err;
      db.exec('ROLLBACK TO along');
      db.exec('RELEASE along');
    }
  };
  // Past the backlog limit indexing rides along: twice the rows the batch queued, so the backlog shrinks
  // while ingest goes on, and all-duplicate traffic (which queues nothing) pays nothing.
  const indexAlong = (queued: number): void => {
    if (queued === 0 || pending < config.indexBacklog) return;
    along(() => {
      pending -= indexPending(Math.min(INDEX_STEP, 2 * queued));
    });
  };
  const foldAlong = (inserted: number): void => {
    if (inserted === 0 || deltas() < SENDER_FOLD_AT) return;
    along(() => void foldSenders(4 * SENDER_FOLD_AT));
  };

  let commits: [number, number][] = [];
  const insertBatch = (rows: InsertRow[]): RowOutcome[] => {
    const started = performance.now();
    let created = 0;
    let texts = 0;
    const outcomes = inTransaction(() => {
      const out = rows.map((r): RowOutcome => {
        // ON CONFLICT DO NOTHING: the first copy wins, atomically, with no SELECT-then-INSERT race.
        const changed = insertStmt.run(...r).changes === 1;
        if (changed) created += 1;
        if (changed && r[4] !== null) texts += 1;
        return changed ? 'created' : 'duplicate';
      });
      indexAlong(texts);
      foldAlong(created);
      return out;
    });
    pending += texts;
    commits.push([rows.length, (performance.now() - started) / 1000]);
    return outcomes;
  };

  const insert = (rows: InsertRow[]): RowOutcome[] => {
    try {
      return insertBatch(rows);
    } catch (err) {
      // Trouble that may pass fails the whole batch (the caller answers 503). Anything else is one bad
      // row, which must not fail its neighbours: retry each alone and let only the culprit fail.
      if (rows.length === 1 || isTransient(err)) throw err;
      return rows.map((r) => {
        try {
          return insertBatch([r])[0] ?? 'duplicate';
        } catch (one) {
          // Each row has its own answer now: its neighbours may already be committed.
          return { error: errorInfo(one) };
        }
      });
    }
  };

  // Proves writes work without leaving a trace: insert and delete a probe row in one transaction. In
  // trouble it commits, because only a commit writes the WAL and so shows the disk has room again.
  const probe = (commit: boolean): void => {
    try {
      inTransaction(() => {
        probeInsertStmt.run(PROBE_ID, PROBE_TEXT);
        probeDeleteStmt.run(PROBE_ID);
        if (!commit) {
          assertSameFile();
          throw ROLLBACK_PROBE;
        }
      });
    } catch (err) {
      if (err !== ROLLBACK_PROBE) throw err;
    }
  };

  const handleOne = (req: WriterRequest): WriterReply => {
    try {
      if (req.kind === 'probe') probe(req.commit);
      else if (req.kind === 'exec') {
        if (!config.allowExec) throw new Error('exec is for tests');
        db.exec(req.sql);
      } else if (req.kind === 'close') {
        if (!shared) db.close();
      }
      return { seq: req.seq, ok: true };
    } catch (err) {
      return { seq: req.seq, ok: false, error: errorInfo(err) };
    }
  };

  // Inserts sent one after another share one transaction: whatever queued up while the last commit
  // ran goes into the next. Their replies split the outcomes; the first carries the commits.
  const handleInserts = (reqs: Extract<WriterRequest, { kind: 'insert' }>[]): WriterReply[] => {
    commits = [];
    let outcomes: RowOutcome[];
    try {
      outcomes = insert(reqs.flatMap((r) => r.rows));
    } catch (err) {
      return reqs.map((r) => ({ seq: r.seq, ok: false, error: errorInfo(err) }));
    }
    let at = 0;
    return reqs.map((r, i) => {
      const mine = outcomes.slice(at, at + r.rows.length);
      at += r.rows.length;
      return { seq: r.seq, ok: true, outcomes: mine, ...(i === 0 && { commits }) };
    });
  };

  return {
    handle(reqs) {
      const replies: WriterReply[] = [];
      let inserts: Extract<WriterRequest, { kind: 'insert' }>[] = [];
      let rows = 0;
      const commitInserts = (): void => {
        if (inserts.length > 0) replies.push(...handleInserts(inserts));
        inserts = [];
        rows = 0;
      };
      for (const req of reqs) {
        if (req.kind !== 'insert') {
          commitInserts();
          replies.push(handleOne(req));
          continue;
        }
        if (rows + req.rows.length > MAX_TRANSACTION_ROWS) commitInserts();
        inserts.push(req);
        rows += req.rows.length;
      }
      commitInserts();
      return replies;
    },

    /** Counts the queue again: another connection may have added to it. */
    recount() {
      pending = Number((pendingStmt.get() as Row).n);
    },

    /**
     * One step of quiet-time work: folding sender deltas, then indexing, then recounting zones an
     * operator's DELETE or UPDATE left dirty. More to do, all done, or try again later.
     */
    idle() {
      try {
        if (deltas() > 0) {
          inTransaction(() => foldSenders(IDLE_FOLD_STEP));
          return 'more';
        }
        if (pending === 0) {
          if (!chars.dirty()) return 'done';
          return inTransaction(() => chars.clean(IDLE_RECOUNT_STEP)) === IDLE_RECOUNT_STEP ? 'more' : 'done';
        }
        const took = inTransaction(() => indexPending(IDLE_INDEX_STEP));
        pending = took < IDLE_INDEX_STEP ? 0 : pending - took;
        // Even after the last rows: the next step recounts dirty zones, if any.
        return 'more';
      } catch {
        // Locked by another writer or out of room: the rows stay queued, and searchable, for later.
        return 'later';
      }
    },
  };
}

// The thread: requests in order, those queued together handled together; indexing when nothing has come
// for a moment.
if (workerData?.writer) serve();

function serve(): void {
  const port = workerData.port as MessagePort;
  const config = workerData.writer as WriterConfig;
  // The first reply (seq 0) says whether the writer could open the database: the store's `ready`.
  let writer: ReturnType<typeof createWriter>;
  try {
    writer = createWriter(config);
    port.postMessage({ seq: 0, ok: true } satisfies WriterReply);
  } catch (err) {
    port.postMessage({ seq: 0, ok: false, error: errorInfo(err) } satisfies WriterReply);
    port.close();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const idleSoon = (): void => {
    clearTimeout(timer);
    if (!Number.isFinite(config.idleIndexMs)) return;
    timer = setTimeout(function step() {
      if (closed) return;
      const next = writer.idle();
      if (next !== 'done') timer = setTimeout(step, next === 'more' ? 0 : IDLE_RETRY_MS);
    }, config.idleIndexMs);
  };
  const recheck = Number.isFinite(config.recheckMs)
    ? setInterval(() => {
        writer.recount();
        idleSoon();
      }, config.recheckMs)
    : undefined;
  recheck?.unref();
  port.on('message', (first: WriterRequest) => {
    if (closed) return;
    const reqs = [first];
    for (let next = receiveMessageOnPort(port); next; next = receiveMessageOnPort(port)) reqs.push(next.message as WriterRequest);
    for (const reply of writer.handle(reqs)) port.postMessage(reply);
    if (reqs.some((r) => r.kind === 'close')) {
      closed = true;
      clearTimeout(timer);
      clearInterval(recheck);
      port.close();
      return;
    }
    // Quiet means no inserts: readiness probes and scrapes (a few a second) must not hold indexing off.
    if (reqs.some((r) => r.kind === 'insert')) idleSoon();
  });
  idleSoon();
}
