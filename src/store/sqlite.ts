import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  storeUnavailable,
  type InsertOutcome,
  type ListQuery,
  type ListResult,
  type Message,
  type Stats,
  type Store,
} from './store.ts';

/** Upper bound on rows per group-commit transaction; a burst larger than this takes several commits. */
export const MAX_BATCH = 512;
/** How long one statement waits for another writer's lock. Short: node:sqlite blocks the event loop. */
export const BUSY_TIMEOUT_MS = 50;
/**
 * SQLite's page cache, KiB (its default is 2,000). Rows a query reads by rowid lie all over a large file;
 * kept here, a repeated sender/time/text query at 1M rows runs in about 1.5 ms instead of 9.
 */
export const CACHE_KIB = 16_000;
/** The schema version this code applies (PRAGMA user_version). */
export const SCHEMA_VERSION = 2;
/** Rows per step while a migration fills the search index, one progress event each. */
export const INDEX_BUILD_CHUNK = 100_000;
/** A text query of fewer code points than this has no trigram to look up: it scans instead. */
export const MIN_INDEXED_QUERY = 3;
/** Over at most this many rows a text query checks each row rather than asking the search index. */
export const WALK_LIMIT = 5_000;
/**
 * A page is taken from the search index's hits (then sorted) only when there are at most this many;
 * otherwise it is found by walking the sort order, which stops once the page is full.
 */
export const SORT_LIMIT = 5_000;
/** What reading one row by rowid costs, in index entries walked (measured at 1M rows: about 5). */
const LOOKUP_COST = 5;

export type SqliteStoreOptions = {
  path: string;
  /** After each group commit: rows in the transaction and seconds from BEGIN to COMMIT, for metrics. */
  onCommit?: (rows: number, seconds: number) => void;
  /** 'FULL' (default) survives power loss; 'NORMAL' survives a process crash only. */
  synchronous?: 'FULL' | 'NORMAL';
  clock?: () => Date;
  /** Rows a text query checks one by one before it asks the search index (tests lower it). */
  walkLimit?: number;
  /** Search hits a page may sort rather than walk the sort order (tests raise it). */
  sortLimit?: number;
  /** Progress of start-up work (migrations) at INFO; storage trouble and its end at ERROR and INFO. */
  onEvent?: (msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'ERROR') => void;
  /** Fault injection for tests (PRAGMA max_page_count, query_only): receives the store's own connection. */
  onOpen?: (db: DatabaseSync) => void;
};

// The chronological sort key of a contract timestamp, in SQL: whole seconds, then the fraction without
// trailing zeros. String order of keys is time order whatever the precision sent.
const sortKeySql = (x: string): string =>
  `(substr(${x}, 1, 19) || rtrim(rtrim(substr(${x}, 20, length(${x}) - 20), '0'), '.'))`;

/** The seed's `messages` table, which every later version extends. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  message_id  TEXT NOT NULL PRIMARY KEY,
  from_msisdn TEXT NOT NULL,
  to_msisdn   TEXT NOT NULL,
  ts          TEXT NOT NULL,
  text        TEXT,
  created_at  TEXT NOT NULL
);
`;

const MIGRATION_1 = `
ALTER TABLE messages ADD COLUMN ts_key TEXT GENERATED ALWAYS AS ${sortKeySql('ts')} VIRTUAL;
CREATE INDEX IF NOT EXISTS idx_messages_ts ON messages (ts, message_id);
CREATE INDEX IF NOT EXISTS idx_messages_ts_key ON messages (ts_key, message_id);
CREATE INDEX IF NOT EXISTS idx_messages_from ON messages (from_msisdn, ts_key, message_id);

-- Aggregates kept current by triggers in the inserting transaction, so /stats never scans and a
-- retention DELETE run by an operator through the sqlite3 CLI keeps them right.
CREATE TABLE IF NOT EXISTS message_totals (
  id       INTEGER PRIMARY KEY CHECK (id = 0),
  messages INTEGER NOT NULL,
  senders  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sender_counts (
  from_msisdn TEXT NOT NULL PRIMARY KEY,
  count       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_sender_counts_top ON sender_counts (count DESC, from_msisdn);

DELETE FROM sender_counts;
INSERT INTO sender_counts (from_msisdn, count) SELECT from_msisdn, count(*) FROM messages GROUP BY from_msisdn;
INSERT OR REPLACE INTO message_totals (id, messages, senders)
  VALUES (0, (SELECT count(*) FROM messages), (SELECT count(*) FROM sender_counts));

CREATE TRIGGER IF NOT EXISTS sender_counts_ai AFTER INSERT ON sender_counts BEGIN
  UPDATE message_totals SET senders = senders + 1 WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS sender_counts_ad AFTER DELETE ON sender_counts BEGIN
  UPDATE message_totals SET senders = senders - 1 WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS messages_ai AFTER INSERT ON messages BEGIN
  INSERT INTO sender_counts (from_msisdn, count) VALUES (new.from_msisdn, 1)
    ON CONFLICT (from_msisdn) DO UPDATE SET count = count + 1;
  UPDATE message_totals SET messages = messages + 1 WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS messages_ad AFTER DELETE ON messages BEGIN
  UPDATE sender_counts SET count = count - 1 WHERE from_msisdn = old.from_msisdn;
  DELETE FROM sender_counts WHERE from_msisdn = old.from_msisdn AND count <= 0;
  UPDATE message_totals SET messages = messages - 1 WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS messages_au_from AFTER UPDATE OF from_msisdn ON messages
  WHEN old.from_msisdn IS NOT new.from_msisdn BEGIN
  UPDATE sender_counts SET count = count - 1 WHERE from_msisdn = old.from_msisdn;
  DELETE FROM sender_counts WHERE from_msisdn = old.from_msisdn AND count <= 0;
  INSERT INTO sender_counts (from_msisdn, count) VALUES (new.from_msisdn, 1)
    ON CONFLICT (from_msisdn) DO UPDATE SET count = count + 1;
END;
`;

// Substring search: an FTS5 trigram index over lower(text). SQLite's lower() folds ASCII only, which is
// exactly LIKE's case-insensitivity, so a phrase query of the ASCII-lower-cased q finds the same rows as
// `text LIKE '%q%'` (with % and _ literal) and its count is the total without touching a row. Contentless
// (the text is stored once, in messages) with contentless_delete so triggers can remove a row by rowid.
// The triggers run in the writing transaction, so an operator's DELETE through the sqlite3 CLI keeps
// search right. Dropped and rebuilt whole by this migration, which is also how to rebuild it by hand.
const MIGRATION_2 = `
DROP TABLE IF EXISTS messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
  text, content = '', contentless_delete = 1, tokenize = 'trigram case_sensitive 1'
);
DROP TRIGGER IF EXISTS messages_fts_ai;
DROP TRIGGER IF EXISTS messages_fts_ad;
DROP TRIGGER IF EXISTS messages_fts_au;
CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN
  INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, lower(new.text));
END;
CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages WHEN old.text IS NOT NULL BEGIN
  DELETE FROM messages_fts WHERE rowid = old.rowid;
END;
CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages BEGIN
  DELETE FROM messages_fts WHERE rowid = old.rowid;
  INSERT INTO messages_fts (rowid, text) SELECT new.rowid, lower(new.text) WHERE new.text IS NOT NULL;
END;
`;

// SQLite primary result codes that describe trouble which may pass: the caller answers 503 and retries.
const TRANSIENT_CODES = new Set([
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  7, // SQLITE_NOMEM
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  15, // SQLITE_PROTOCOL
]);

/** The form of one list statement: which filters it has, how text is matched, page or count. */
type Shape = {
  from: boolean;
  since: boolean;
  /**
   * none: no text filter; like: LIKE on each row visited; search: the search index drives and LIKE
   * checks each row. For counts, the search index alone answers: count-search looks up each hit's row
   * for the other filters; count-walk walks the sender or sort-order index (which hold rowids) and checks
   * each entry against the set of hits, reading no row.
   */
  q: 'none' | 'like' | 'search' | 'count-search' | 'count-walk';
  after: boolean;
  count: boolean;
};

const PROBE_ID = '\u0000write-probe:' + 'p'.repeat(300);
const PROBE_TEXT = 'p'.repeat(8192);
// Thrown inside the probe's transaction to roll it back when no commit is needed.
const ROLLBACK_PROBE = Symbol('rollback probe');

type Pending = { message: Message; resolve: (o: InsertOutcome) => void; reject: (e: unknown) => void };
type Row = Record<string, unknown>;

export function createSqliteStore(options: SqliteStoreOptions): Store {
  const clock = options.clock ?? (() => new Date());
  const onEvent = options.onEvent ?? (() => {});
  const walkLimit = options.walkLimit ?? WALK_LIMIT;
  const sortLimit = options.sortLimit ?? SORT_LIMIT;
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });

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
  options.onOpen?.(db);
  // SQLite keeps writing to a file that was deleted or moved away (its directory removed, say): commits
  // succeed and vanish at the next start. Comparing the inode before each COMMIT turns that into a refusal.
  const opened = options.path === ':memory:' ? null : fileId(options.path);
  const assertSameFile = (): void => {
    if (opened !== null && fileId(options.path) !== opened) throw fileMoved();
  };

  const insertStmt = db.prepare(
    `INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
  );
  const totalsStmt = db.prepare('SELECT messages, senders FROM message_totals WHERE id = 0');
  const topStmt = db.prepare(
    'SELECT from_msisdn, count FROM sender_counts ORDER BY count DESC, from_msisdn ASC LIMIT ?',
  );
  const firstStmt = db.prepare('SELECT ts FROM messages ORDER BY ts_key ASC, message_id ASC LIMIT 1');
  const lastStmt = db.prepare('SELECT ts FROM messages ORDER BY ts_key DESC, message_id DESC LIMIT 1');
  const senderCountStmt = db.prepare('SELECT count FROM sender_counts WHERE from_msisdn = ?');
  // The write probe: a row no valid message can have (ids are at most 256 characters), big enough to need
  // a fresh page, so a full database, a read-only file or another writer's lock fail it as an insert would.
  const probeInsertStmt = db.prepare(
    `INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at)
     VALUES (?, '+0', '+0', '1970-01-01T00:00:00Z', ?, '1970-01-01T00:00:00Z') ON CONFLICT (message_id) DO NOTHING RETURNING rowid`,
  );
  const probeDeleteStmt = db.prepare('DELETE FROM messages WHERE rowid = ?');

  let queue: Pending[] = [];
  let scheduled = false;
  let closed = false;
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

  // Group commit: every insert that arrives in one event-loop turn shares one transaction (one fsync),
  // and each caller hears back only after that COMMIT returned.
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  const flush = (): void => {
    scheduled = false;
    if (queue.length === 0) return;
    const batch = queue.length <= MAX_BATCH ? queue : queue.slice(0, MAX_BATCH);
    queue = queue.length <= MAX_BATCH ? [] : queue.slice(MAX_BATCH);
    if (queue.length > 0) schedule();
    commitBatch(batch);
  };

  const commitBatch = (batch: Pending[]): void => {
    let outcomes: InsertOutcome[];
    const started = performance.now();
    try {
      outcomes = runInTransaction(() => batch.map((p) => insertOne(p.message)));
    } catch (err) {
      const mapped = mapError(err);
      if (isTransient(err)) noteTrouble(err);
      if (batch.length > 1 && !isTransient(err)) {
        // One bad row must not fail its neighbours: retry each alone and let only the culprit fail.
        for (const p of batch) commitBatch([p]);
        return;
      }
      for (const p of batch) p.reject(mapped);
      return;
    }
    noteWriteOk();
    batch.forEach((p, i) => p.resolve(outcomes[i] ?? 'duplicate'));
    // Last and outside the try: an observer can neither fail a committed batch nor delay its answers.
    options.onCommit?.(batch.length, (performance.now() - started) / 1000);
  };

  // Proves writes work without leaving a trace: insert and delete a probe row in one transaction. In
  // trouble it commits, because only a commit writes the WAL and so shows the disk has room again.
  const probeWrite = (): void => {
    runInTransaction(() => {
      const row = probeInsertStmt.get(PROBE_ID, PROBE_TEXT) as Row | undefined;
      if (row) probeDeleteStmt.run(Number(row.rowid));
      if (trouble === null) {
        assertSameFile();
        throw ROLLBACK_PROBE;
      }
    });
  };

  const insertOne = (m: Message): InsertOutcome => {
    // ON CONFLICT DO NOTHING: the first copy wins, atomically, with no SELECT-then-INSERT race.
    const r = insertStmt.run(m.messageId, m.from, m.to, m.ts, m.text, clock().toISOString());
    return r.changes === 1 ? 'created' : 'duplicate';
  };

  const runInTransaction = <T>(work: () => T): T => {
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

  const read = <T>(work: () => T): Promise<T> => {
    if (closed) return Promise.reject(storeUnavailable('store is closed'));
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(mapError(err));
    }
  };

  const hitsStmt = db.prepare('SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH ?');
  const beforeStmt = db.prepare(`SELECT count(*) AS n FROM messages WHERE ts_key < ${sortKeySql(':since')}`);
  const listStmts = new Map<string, StatementSync>();

  // One statement per shape of query, built from fixed fragments; every value is a bound parameter.
  const listStatement = (shape: Shape): StatementSync => {
    const key = JSON.stringify(shape);
    let stmt = listStmts.get(key);
    if (!stmt) {
      // When the search index drives, '+' keeps the planner from walking another index instead; when
      // an index walk drives, INDEXED BY keeps it from looking up every search hit's row instead.
      const plus = shape.q === 'search' || shape.q === 'count-search' ? '+' : '';
      const indexed = shape.q !== 'count-walk' ? '' : `INDEXED BY ${shape.from ? 'idx_messages_from' : 'idx_messages_ts_key'}`;
      const where: string[] = [];
      if (shape.from) where.push(`${plus}from_msisdn = :from`);
      if (shape.since) where.push(`${plus}ts_key >= ${sortKeySql(':since')}`);
      if (shape.q !== 'none' && shape.q !== 'like') {
        where.push('rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :match)');
      }
      // Also checked when the index drives a page: a stale index can never put a wrong row on it.
      if (shape.q === 'like' || shape.q === 'search') where.push("text LIKE :pattern ESCAPE '\\'");
      // A cursor is a range on the sort-order index, however deep: no rows skipped one by one.
      if (shape.after) where.push(`(${plus}ts_key, message_id) > (${sortKeySql(':after_ts')}, :after_id)`);
      const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      stmt = db.prepare(
        shape.count
          ? `SELECT count(*) AS n FROM messages ${indexed} ${clause}`
          : `SELECT message_id, from_msisdn, to_msisdn, ts, text FROM messages ${clause}
             ORDER BY ts_key ASC, message_id ASC LIMIT :limit OFFSET :offset`,
      );
      // One parameter set serves every shape; a shape without the search ignores :match.
      stmt.setAllowUnknownNamedParameters(true);
      listStmts.set(key, stmt);
    }
    return stmt;
  };

  // Rows at or after `since`, guessed from where it falls between the first and last message. Only
  // steers the choices below; never reported.
  const sinceEstimate = (since: string, all: number): number => {
    const first = firstStmt.get() as Row | undefined;
    const last = lastStmt.get() as Row | undefined;
    if (!first || !last) return 0;
    const [lo, hi, at] = [Date.parse(String(first.ts)), Date.parse(String(last.ts)), Date.parse(since)];
    const share = (hi - at) / (hi - lo);
    return Number.isFinite(share) ? Math.round(all * Math.min(1, Math.max(0, share))) : all;
  };

  const list = (q: ListQuery): ListResult => {
    const all = totals().messages;
    const phrase = q.q === undefined ? null : searchPhrase(q.q);
    const params: Record<string, string | number> = {};
    if (q.from !== undefined) params.from = q.from;
    if (q.since !== undefined) params.since = q.since;
    if (q.q !== undefined) params.pattern = `%${escapeLike(q.q)}%`;
    if (phrase !== null) params.match = phrase;

    // Sizes of the candidate ways in: exact for the sender and the search, estimated for since.
    const senderRows = q.from === undefined ? all : Number((senderCountStmt.get(q.from) as Row | undefined)?.count ?? 0);
    const sinceRows = q.since === undefined ? all : sinceEstimate(q.since, all);
    const walkRows = Math.min(senderRows, sinceRows);
    // Over few rows a LIKE on each beats any index; the search index is asked only beyond that.
    const hits = phrase === null || walkRows <= walkLimit ? null : Number((hitsStmt.get(phrase) as Row).n);
    const base = { from: q.from !== undefined, since: q.since !== undefined, after: false };
    const like: Shape['q'] = q.q === undefined ? 'none' : 'like';

    // total: from kept counts or the index when one filter alone is set; otherwise count the matches
    // through whichever way in is smallest.
    let total: number;
    if (q.since === undefined && q.q === undefined) total = senderRows;
    else if (q.from === undefined && q.since === undefined && hits !== null) total = hits;
    else if (q.from === undefined && q.q === undefined && q.since !== undefined) {
      // Count the smaller side of the boundary.
      total = sinceRows * 2 > all
        ? all - Number((beforeStmt.get({ since: q.since }) as Row).n)
        : Number((listStatement({ ...base, q: 'none', count: true }).get(params) as Row).n);
    } else {
      // A row lookup costs several index entries: walk when the hits are not far fewer than the walk.
      const textCount: Shape['q'] = hits === null ? like : hits * LOOKUP_COST < walkRows ? 'count-search' : 'count-walk';
      total = Number((listStatement({ ...base, q: textCount, count: true }).get(params) as Row).n);
    }
    if (total === 0 || (q.after === undefined && q.offset >= total)) return { data: [], total, more: false };

    // The page: walk the sort order (stops once the page is full), or, when the search finds fewer rows
    // than that walk would visit, take its hits and sort them.
    const walkCost = Math.min(walkRows, ((q.offset + q.limit + 1) * walkRows) / total);
    const viaSearch = hits !== null && hits <= sortLimit && hits < walkCost;
    const page = listStatement({ ...base, q: viaSearch ? 'search' : like, after: q.after !== undefined, count: false });
    const pageParams: Record<string, string | number> = { ...params, limit: q.limit + 1, offset: q.offset };
    if (q.after) Object.assign(pageParams, { after_ts: q.after.ts, after_id: q.after.messageId });
    // One row past the page tells whether another page follows.
    const rows = page.all(pageParams) as Row[];
    return { data: rows.slice(0, q.limit).map(toMessage), total, more: rows.length > q.limit };
  };

  return {
    insert(message) {
      if (closed) return Promise.reject(storeUnavailable('store is closed'));
      return new Promise<InsertOutcome>((resolve, reject) => {
        queue.push({ message, resolve, reject });
        schedule();
      });
    },

    list(q) {
      return read(() => list(q));
    },

    stats(topSenders) {
      return read((): Stats => {
        const t = totals();
        const top = topStmt.all(topSenders) as Row[];
        const first = firstStmt.get() as Row | undefined;
        const last = lastStmt.get() as Row | undefined;
        return {
          totalMessages: t.messages,
          sendersCount: t.senders,
          messagesPerSender: top.map((r) => ({ from: String(r.from_msisdn), count: Number(r.count) })),
          firstMessageTs: first ? String(first.ts) : null,
          lastMessageTs: last ? String(last.ts) : null,
        };
      });
    },

    ping() {
      return read(() => {
        totals();
        try {
          probeWrite();
        } catch (err) {
          if (err === ROLLBACK_PROBE) return;
          if (isTransient(err)) noteTrouble(err);
          throw err;
        }
        noteWriteOk();
      });
    },

    async close() {
      if (closed) return;
      // Pending inserts were promised an answer: commit them before the handle goes.
      while (queue.length > 0) flush();
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

type OnEvent = NonNullable<SqliteStoreOptions['onEvent']>;

// Every step runs in one transaction: a crash mid-migration leaves the previous version intact. Only a
// database older than SCHEMA_VERSION pays for it, once; an up-to-date one starts without touching rows.
function migrate(db: DatabaseSync, onEvent: OnEvent): void {
  const version = Number((db.prepare('PRAGMA user_version').get() as Row).user_version);
  if (version > SCHEMA_VERSION) {
    throw new Error(`database schema version ${version} is newer than this service understands (${SCHEMA_VERSION})`);
  }
  if (version === SCHEMA_VERSION) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(SCHEMA);
    const existing = Number((db.prepare('SELECT count(*) AS n FROM messages').get() as Row).n);
    if (existing > 0) onEvent('migrating existing messages', { rows: existing, from_version: version, to_version: SCHEMA_VERSION });
    if (version < 1) migrateTo1(db);
    if (version < 2) migrateTo2(db, existing, onEvent);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
    onEvent('schema ready', { version: SCHEMA_VERSION, rows: existing });
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

function migrateTo1(db: DatabaseSync): void {
  const columns = (db.prepare('PRAGMA table_xinfo(messages)').all() as Row[]).map((r) => String(r.name));
  if (!columns.includes('created_at')) db.exec('ALTER TABLE messages ADD COLUMN created_at TEXT');
  if (columns.includes('ts_key')) {
    db.exec(MIGRATION_1.replace(/^ALTER TABLE messages ADD COLUMN ts_key[^\n]*\n/m, ''));
  } else {
    db.exec(MIGRATION_1);
  }
}

function migrateTo2(db: DatabaseSync, existing: number, onEvent: OnEvent): void {
  db.exec(MIGRATION_2);
  if (existing === 0) return;
  // Filled in rowid ranges so a long build reports progress instead of looking hung.
  const range = db.prepare('SELECT min(rowid) AS lo, max(rowid) AS hi FROM messages').get() as Row;
  const [minRowid, maxRowid] = [Number(range.lo), Number(range.hi)];
  const fill = db.prepare(
    'INSERT INTO messages_fts (rowid, text) SELECT rowid, lower(text) FROM messages WHERE rowid > ? AND rowid <= ? AND text IS NOT NULL',
  );
  const started = performance.now();
  for (let low = minRowid - 1; low < maxRowid; low += INDEX_BUILD_CHUNK) {
    fill.run(low, low + INDEX_BUILD_CHUNK);
    onEvent('building search index', {
      percent: Math.min(100, Math.round(((low + INDEX_BUILD_CHUNK - minRowid + 1) / (maxRowid - minRowid + 1)) * 100)),
      elapsed_ms: Math.round(performance.now() - started),
    });
  }
}

/** The FTS5 query for `q`: one phrase of its trigrams, or null when it has none (under 3 code points). */
export function searchPhrase(q: string): string | null {
  if (Array.from(q).length < MIN_INDEXED_QUERY) return null;
  // ASCII-only lower-casing, as SQLite's lower() did to the indexed text. Quoted ("" escapes a quote),
  // so no character of q is FTS5 query syntax.
  return `"${q.replace(/[A-Z]+/g, (c) => c.toLowerCase()).replaceAll('"', '""')}"`;
}

/** Device and inode of the file at `path`, or null when nothing is there. */
function fileId(path: string): string | null {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? `${st.dev}:${st.ino}` : null;
}

/** Shaped like SQLite's own SQLITE_READONLY_DBMOVED, so it is handled as the transient trouble it is. */
function fileMoved(): Error {
  return Object.assign(new Error('database file moved or deleted'), {
    errcode: 8 | (4 << 8),
    errstr: 'the database file was moved or deleted while open; restore it or restart the service',
  });
}

function toMessage(r: Row): Message {
  return {
    messageId: String(r.message_id),
    from: String(r.from_msisdn),
    to: String(r.to_msisdn),
    ts: String(r.ts),
    text: r.text === null || r.text === undefined ? null : String(r.text),
  };
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function sqliteCode(err: unknown): number | null {
  if (typeof err === 'object' && err !== null && 'errcode' in err && typeof err.errcode === 'number') {
    return err.errcode & 0xff;
  }
  return null;
}

function isTransient(err: unknown): boolean {
  const code = sqliteCode(err);
  return code !== null && TRANSIENT_CODES.has(code);
}

function describeSqliteError(err: unknown): string {
  return typeof err === 'object' && err !== null && 'errstr' in err ? String(err.errstr) : 'storage error';
}

function mapError(err: unknown): unknown {
  if (!isTransient(err)) return err;
  return storeUnavailable(`database unavailable: ${describeSqliteError(err)}`, err);
}
