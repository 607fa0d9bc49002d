// The writes, on the store's one connection: each in a transaction of its own (BEGIN IMMEDIATE), each
// commit durable (synchronous=FULL) before it returns. node:sqlite is synchronous, so a write and a read
// never interleave on the connection.
import { statSync } from 'node:fs';
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import type { InsertOutcome } from '../store.ts';
import { fileGone, isTransient } from './errors.ts';
import { statementCache, UNFOLDED } from './list.ts';
import { INDEX_RANGE } from './schema.ts';

/** message_id, from, to, ts, text, created_at, search_text, type: the columns of one insert, in order. */
export type InsertRow = [string, string, string, string, string | null, string, string | null, string | null];

/** Each group's outcomes (or why it alone failed), and the rows and seconds (BEGIN to COMMIT) of each transaction. */
type Inserted = { outcomes: (InsertOutcome[] | Error)[]; commits: [number, number][] };

export type Writer = {
  /** Groups (each one request's rows, committed together or not at all) in as few transactions as they allow. */
  insert(groups: InsertRow[][]): Inserted;
  /** Deletes at most `limit` of the rows received before `before`; how many went. */
  prune(before: string, limit: number): number;
  /** A write that needs a fresh page, rolled back, or committed when `commit`: fails as an insert would. */
  probe(commit: boolean): void;
  transaction: Transaction;
};

// A row no valid message can have (ids are at most 256 characters), large enough to need a fresh page:
// a full disk, a read-only file or another writer's lock fail it as they would fail an insert.
const PROBE_ID = 'write-probe:' + 'p'.repeat(300);
const PROBE_TEXT = 'p'.repeat(8192);

/** Device and inode of a file, null when there is none. */
export function fileId(path: string): string | null {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? `${st.dev}:${st.ino}` : null;
}

/** `path` and `fileKey` (fileId when the store opened it; null for ':memory:') tell whether the file is still the one opened. */
export function createWriter(db: DatabaseSync, path: string, fileKey: string | null, indexStep: number): Writer {
  const transaction = transactions(db, () => fileKey === null || fileId(path) === fileKey);
  const insert = inserts(db, transaction, indexStep);
  const prune = db.prepare(
    'DELETE FROM messages WHERE rowid IN (SELECT rowid FROM messages WHERE created_at < ? ORDER BY created_at LIMIT ?)',
  );
  const probeRow = db.prepare(
    `INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at)
     VALUES (?, '+0', '+0', '1970-01-01T00:00:00Z', ?, '1970-01-01T00:00:00Z')`,
  );
  const unprobe = db.prepare('DELETE FROM messages WHERE message_id = ?');
  return {
    insert,
    prune: (before, limit) => Number(transaction(() => prune.run(before, limit)).changes),
    probe: (commit) =>
      transaction(() => {
        probeRow.run(PROBE_ID, PROBE_TEXT);
        unprobe.run(PROBE_ID);
      }, commit),
    transaction,
  };
}

export type Transaction = <T>(work: () => T, commit?: boolean) => T;

/** Runs work in a write transaction, committed (or rolled back) only while `sameFile()`. */
function transactions(db: DatabaseSync, sameFile: () => boolean): Transaction {
  // SQLite goes on writing into a file that was deleted or moved away (its folder removed): the commits
  // would vanish at the next start. Comparing the inode before each COMMIT refuses them instead.
  return (work, commit = true) => {
    db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      if (!sameFile()) throw fileGone();
      db.exec(commit ? 'COMMIT' : 'ROLLBACK');
      return result;
    } catch (err) {
      // The error that ended the transaction is the one worth reporting, not a failing ROLLBACK's.
      if (db.isTransaction) {
        try {
          db.exec('ROLLBACK');
        } catch {}
      }
      throw err;
    }
  };
}

/**
 * Rows waiting for the search index beyond which a batch's transaction also indexes this many: FTS5 fed
 * thousands of rows at once costs a fraction of FTS5 fed each group commit's few (bench/README.md,
 * "Constants and the figures behind them"). Fewer wait for ever if ingest stops: a scan of their rowid
 * range finds them meanwhile (list.ts).
 */
export const INDEX_STEP = 2_048;

/** The trigram index's upkeep, part of the caller's transaction. */
type Indexer = {
  /** The last rowid the index covers (search_state.upto). */
  upto(): bigint;
  /** Indexes a new row given a rowid the index covers already (the newest rows were deleted). */
  row(rowid: bigint): void;
  /** Indexes the next `step` waiting rows once that many wait. */
  along(): void;
};

function indexer(db: DatabaseSync, step: number): Indexer {
  const upto = db.prepare('SELECT upto FROM search_state');
  const stepEnd = db.prepare(`SELECT rowid FROM messages WHERE rowid > ? ORDER BY rowid LIMIT 1 OFFSET ${step - 1}`);
  const fill = db.prepare(INDEX_RANGE);
  const advance = db.prepare('UPDATE search_state SET upto = ?');
  for (const statement of [upto, stepEnd]) statement.setReadBigInts(true); // rowids are 64-bit
  const covered = (): bigint => (upto.get() as { upto: bigint }).upto;
  return {
    upto: covered,
    row: (rowid) => void fill.run(rowid - 1n, rowid),
    along() {
      const from = covered();
      const end = (stepEnd.get(from) as { rowid: bigint } | undefined)?.rowid;
      if (end === undefined) return;
      fill.run(from, end);
      advance.run(end);
    },
  };
}

/**
 * Rows one statement takes at most. A batch's rows go in as few statements as that allows: SQLite sets
 * up a statement, and the triggers it checks, once for them all instead of once a row.
 */
const ROWS_PER_STATEMENT = 64;

/** Runs `sql(n)` (prepared once for each n) over items in pieces of at most ROWS_PER_STATEMENT, each item's parameters in turn. */
function inPieces<T>(db: DatabaseSync, sql: (n: number) => string): (items: T[], params: (item: T, i: number) => SQLInputValue[]) => Record<string, unknown>[] {
  const prepare = statementCache(db, (s) => s.setReadBigInts(true)); // rowids are 64-bit
  return (items, params) => {
    const rows: Record<string, unknown>[] = [];
    for (let at = 0; at < items.length; at += ROWS_PER_STATEMENT) {
      const piece = items.slice(at, at + ROWS_PER_STATEMENT);
      rows.push(...prepare(sql(piece.length)).all(...piece.flatMap((item, i) => params(item, at + i))));
    }
    return rows;
  };
}

const placeholders = (n: number, one: string): string => Array(n).fill(one).join(', ');

/**
 * Groups in one transaction: each new row takes the next position, a duplicate (of a stored row, or of
 * one earlier in the batch: the first copy wins) none; what the messages_insert trigger does for an
 * operator's rows is done here: the counts once, and the search index for a row whose rowid it covers
 * already.
 */
function groupInserts(db: DatabaseSync, search: Indexer): (groups: InsertRow[][]) => InsertOutcome[][] {
  // The one writer's transaction holds the write lock: what this finds stored stays so, and nothing else is.
  const stored = inPieces<string>(db, (n) => `SELECT message_id FROM messages WHERE message_id IN (${placeholders(n, '?')})`);
  // RETURNING names the rows inserted, in no particular order.
  const insert = inPieces<InsertRow>(
    db,
    (n) => `INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at, search_text, type, arrival)
      VALUES ${placeholders(n, '(?, ?, ?, ?, ?, ?, ?, ?, ?)')} RETURNING rowid`,
  );
  const lastIssued = db.prepare('SELECT last FROM arrival_seq WHERE id = 0');
  const issued = db.prepare('UPDATE arrival_seq SET last = ? WHERE id = 0');
  const total = db.prepare('UPDATE message_totals SET messages = messages + ? WHERE id = 0');
  const count = inPieces<[string, number]>(
    db,
    (n) => `INSERT INTO sender_counts (from_msisdn, count) VALUES ${placeholders(n, '(?, ?)')}
      ON CONFLICT (from_msisdn) DO UPDATE SET count = count + excluded.count`,
  );
  return (groups) => {
    const first = Number((lastIssued.get() as { last: number }).last) + 1;
    const seen = new Set(stored(groups.flatMap((rows) => rows.map(([id]) => id)), (id) => [id]).map((r) => r.message_id));
    const fresh: InsertRow[] = [];
    const senders = new Map<string, number>();
    const outcomes = groups.map((rows) =>
      rows.map((row): InsertOutcome => {
        if (seen.has(row[0])) return 'duplicate';
        seen.add(row[0]);
        fresh.push(row);
        senders.set(row[1], (senders.get(row[1]) ?? 0) + 1);
        return 'created';
      }),
    );
    if (fresh.length === 0) return outcomes;
    const covered = search.upto();
    const rowids = insert(fresh, (row, i) => [...row, first + i]).map((r) => r.rowid as bigint);
    // An operator's trigger may skip a row: no request hears `created` for a row that was not stored.
    if (rowids.length !== fresh.length) throw new Error(`${fresh.length - rowids.length} of the batch's new messages were not inserted`);
    for (const rowid of rowids) if (rowid <= covered) search.row(rowid);
    issued.run(first + fresh.length - 1);
    total.run(fresh.length);
    count([...senders], (sender) => sender);
    return outcomes;
  };
}

/** A batch of requests in one transaction, each request's outcomes, and the transactions it took. */
function inserts(db: DatabaseSync, transaction: Transaction, step: number): Writer['insert'] {
  const search = indexer(db, step);
  const insertGroups = groupInserts(db, search);
  // Texts an operator changed since: folded again, a search index step's worth a batch (queries fold them meanwhile).
  const refold = db.prepare(`UPDATE messages SET search_text = fold(text) WHERE rowid IN (${UNFOLDED} LIMIT ${step})`);
  return (groups) => {
    const commits: [number, number][] = [];
    const timed = <T>(n: number, work: () => T): T => {
      const started = performance.now();
      const result = transaction(work);
      commits.push([n, (performance.now() - started) / 1000]);
      return result;
    };
    const size = groups.reduce((n, g) => n + g.length, 0);
    try {
      const outcomes = timed(size, () => {
        const done = insertGroups(groups);
        search.along();
        refold.run();
        return done;
      });
      return { outcomes, commits };
    } catch (err) {
      if (isTransient(err) || groups.length === 1) throw err;
    }
    // One request failed for a reason of its own (a trigger an operator added, say): the others still
    // go in, each in its own transaction.
    const outcomes = groups.map((rows) => {
      try {
        return timed(rows.length, () => insertGroups([rows])[0] ?? []);
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    });
    return { outcomes, commits };
  };
}
