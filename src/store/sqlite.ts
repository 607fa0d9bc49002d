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
/** The schema version this code applies (PRAGMA user_version). */
export const SCHEMA_VERSION = 1;

export type SqliteStoreOptions = {
  path: string;
  /** 'FULL' (default) survives power loss; 'NORMAL' survives a process crash only. */
  synchronous?: 'FULL' | 'NORMAL';
  clock?: () => Date;
  /** Progress of start-up work (migrations) at INFO; storage trouble and its end at ERROR and INFO. */
  onEvent?: (msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'ERROR') => void;
  /** Fault injection for tests (PRAGMA max_page_count, query_only): receives the store's own connection. */
  onOpen?: (db: DatabaseSync) => void;
};

// The chronological sort key of a contract timestamp, in SQL: whole seconds, then the fraction without
// trailing zeros. String order of keys is time order whatever the precision sent.
const sortKeySql = (x: string): string =>
  `(substr(${x}, 1, 19) || rtrim(rtrim(substr(${x}, 20, length(${x}) - 20), '0'), '.'))`;

const SCHEMA = `
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

const PROBE_ID = '\u0000write-probe:' + 'p'.repeat(300);
const PROBE_TEXT = 'p'.repeat(8192);
// Thrown inside the probe's transaction to roll it back when no commit is needed.
const ROLLBACK_PROBE = Symbol('rollback probe');

type Pending = { message: Message; resolve: (o: InsertOutcome) => void; reject: (e: unknown) => void };
type Row = Record<string, unknown>;

export function createSqliteStore(options: SqliteStoreOptions): Store {
  const clock = options.clock ?? (() => new Date());
  const onEvent = options.onEvent ?? (() => {});
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });

  const db = new DatabaseSync(options.path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${options.synchronous ?? 'FULL'}`);
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
  // The write probe: a row no valid message can have (ids are at most 256 characters), big enough to need
  // a fresh page, so a full database, a read-only file or another writer's lock fail it as an insert would.
  const probeInsertStmt = db.prepare(
    `INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at)
     VALUES (?, '+0', '+0', '1970-01-01T00:00:00Z', ?, '1970-01-01T00:00:00Z') ON CONFLICT (message_id) DO NOTHING RETURNING rowid`,
  );
  const probeDeleteStmt = db.prepare('DELETE FROM messages WHERE rowid = ?');
  const listStmts = new Map<string, { page: StatementSync; count: StatementSync | null }>();

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

  const listStatements = (q: ListQuery): { page: StatementSync; count: StatementSync | null } => {
    const key = `${q.from !== undefined}|${q.since !== undefined}|${q.q !== undefined}`;
    let stmts = listStmts.get(key);
    if (!stmts) {
      // Only fixed fragments are joined here; every value is a bound parameter.
      const where: string[] = [];
      if (q.from !== undefined) where.push('from_msisdn = :from');
      if (q.since !== undefined) where.push(`ts_key >= ${sortKeySql(':since')}`);
      if (q.q !== undefined) where.push("text LIKE :pattern ESCAPE '\\'");
      const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      stmts = {
        page: db.prepare(
          `SELECT message_id, from_msisdn, to_msisdn, ts, text FROM messages ${clause}
           ORDER BY ts_key ASC, message_id ASC LIMIT :limit OFFSET :offset`,
        ),
        // No filter: the trigger-kept total answers without counting a million rows.
        count: where.length > 0 ? db.prepare(`SELECT count(*) AS n FROM messages ${clause}`) : null,
      };
      listStmts.set(key, stmts);
    }
    return stmts;
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
      return read(() => {
        const params: Record<string, string | number> = {};
        if (q.from !== undefined) params.from = q.from;
        if (q.since !== undefined) params.since = q.since;
        if (q.q !== undefined) params.pattern = `%${escapeLike(q.q)}%`;
        const stmts = listStatements(q);
        const rows = stmts.page.all({ ...params, limit: q.limit, offset: q.offset }) as Row[];
        const total = stmts.count ? Number((stmts.count.get(params) as Row).n) : totals().messages;
        return { data: rows.map(toMessage), total } satisfies ListResult;
      });
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

function migrate(db: DatabaseSync, onEvent: (msg: string, fields?: Record<string, unknown>) => void): void {
  const version = Number((db.prepare('PRAGMA user_version').get() as Row).user_version);
  if (version > SCHEMA_VERSION) {
    throw new Error(`database schema version ${version} is newer than this service understands (${SCHEMA_VERSION})`);
  }
  if (version === SCHEMA_VERSION) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(SCHEMA);
    const columns = (db.prepare('PRAGMA table_xinfo(messages)').all() as Row[]).map((r) => String(r.name));
    if (!columns.includes('created_at')) db.exec('ALTER TABLE messages ADD COLUMN created_at TEXT');
    const existing = Number((db.prepare('SELECT count(*) AS n FROM messages').get() as Row).n);
    if (existing > 0) onEvent('migrating existing messages', { rows: existing, to_version: SCHEMA_VERSION });
    if (columns.includes('ts_key')) {
      db.exec(MIGRATION_1.replace(/^ALTER TABLE messages ADD COLUMN ts_key[^\n]*\n/m, ''));
    } else {
      db.exec(MIGRATION_1);
    }
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
    onEvent('schema ready', { version: SCHEMA_VERSION, rows: existing });
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
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
