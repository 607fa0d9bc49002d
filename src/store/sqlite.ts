import { mkdirSync } from 'node:fs';
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
export const SCHEMA_VERSION = 2;
/** Rows per step while a migration fills the search index, one progress event each. */
export const INDEX_BUILD_CHUNK = 100_000;
/** A text query of fewer code points than this has no trigram to look up: it scans instead. */
export const MIN_INDEXED_QUERY = 3;
/** Trigrams of a long query looked up in the index; the row check below keeps the answer exact. */
const MAX_QUERY_TRIGRAMS = 32;

export type SqliteStoreOptions = {
  path: string;
  /** 'FULL' (default) survives power loss; 'NORMAL' survives a process crash only. */
  synchronous?: 'FULL' | 'NORMAL';
  clock?: () => Date;
  /** Progress of start-up work (migrations), for the logger. */
  onEvent?: (msg: string, fields?: Record<string, unknown>) => void;
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

// Substring search: an FTS5 trigram index over messages.text, external content (the text is stored once),
// kept by triggers in the inserting transaction so an operator's DELETE through the sqlite3 CLI keeps it
// right. detail=none (no positions) is about 40% smaller and faster to build; phrase queries are then
// unavailable, so a query looks up the AND of its trigrams and every hit is checked against the row itself.
const MIGRATION_2 = `
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
  text, content = 'messages', content_rowid = 'rowid', tokenize = 'trigram', detail = 'none'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_ai AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN
  INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_ad AFTER DELETE ON messages WHEN old.text IS NOT NULL BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_au AFTER UPDATE OF text ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, text) SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL;
  INSERT INTO messages_fts (rowid, text) SELECT new.rowid, new.text WHERE new.text IS NOT NULL;
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
  const listStmts = new Map<string, { page: StatementSync; count: StatementSync | null }>();

  let queue: Pending[] = [];
  let scheduled = false;
  let closed = false;

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
      if (batch.length > 1 && !isTransient(err)) {
        // One bad row must not fail its neighbours: retry each alone and let only the culprit fail.
        for (const p of batch) commitBatch([p]);
        return;
      }
      for (const p of batch) p.reject(mapped);
      return;
    }
    batch.forEach((p, i) => p.resolve(outcomes[i] ?? 'duplicate'));
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

  const listStatements = (q: ListQuery, match: string | null): { page: StatementSync; count: StatementSync | null } => {
    const key = [q.from !== undefined, q.since !== undefined, q.q !== undefined, match !== null, q.after !== undefined].join('|');
    let stmts = listStmts.get(key);
    if (!stmts) {
      // Only fixed fragments are joined here; every value is a bound parameter.
      const where: string[] = [];
      if (q.from !== undefined) where.push('from_msisdn = :from');
      if (q.since !== undefined) where.push(`ts_key >= ${sortKeySql(':since')}`);
      // The index narrows to rows holding every trigram; LIKE keeps the contract's exact meaning (ASCII
      // case-insensitive, % and _ literal), the same for short queries that scan.
      if (match !== null) where.push('rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :match)');
      if (q.q !== undefined) where.push("text LIKE :pattern ESCAPE '\\'");
      // Paging by cursor is a range on the sort-order index, however deep: no rows skipped one by one.
      const page = q.after !== undefined ? [...where, `(ts_key, message_id) > (${sortKeySql(':after_ts')}, :after_id)`] : where;
      const clause = (w: string[]): string => (w.length > 0 ? `WHERE ${w.join(' AND ')}` : '');
      stmts = {
        page: db.prepare(
          `SELECT message_id, from_msisdn, to_msisdn, ts, text FROM messages ${clause(page)}
           ORDER BY ts_key ASC, message_id ASC LIMIT :limit OFFSET :offset`,
        ),
        // No filter, or the sender alone: the trigger-kept counts answer without counting rows.
        count: where.length > 0 && !(where.length === 1 && q.from !== undefined)
          ? db.prepare(`SELECT count(*) AS n FROM messages ${clause(where)}`)
          : null,
      };
      listStmts.set(key, stmts);
    }
    return stmts;
  };

  const countAll = (q: ListQuery): number => {
    if (q.from === undefined) return totals().messages;
    const row = senderCountStmt.get(q.from) as Row | undefined;
    return row ? Number(row.count) : 0;
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
        const match = q.q === undefined ? null : trigramMatch(q.q);
        if (q.from !== undefined) params.from = q.from;
        if (q.since !== undefined) params.since = q.since;
        if (q.q !== undefined) params.pattern = `%${escapeLike(q.q)}%`;
        if (match !== null) params.match = match;
        const stmts = listStatements(q, match);
        const page: Record<string, string | number> = { ...params, limit: q.limit + 1, offset: q.offset };
        if (q.after) Object.assign(page, { after_ts: q.after.ts, after_id: q.after.messageId });
        // One row past the page tells whether another page follows.
        const rows = stmts.page.all(page) as Row[];
        const total = stmts.count ? Number((stmts.count.get(params) as Row).n) : countAll(q);
        return { data: rows.slice(0, q.limit).map(toMessage), total, more: rows.length > q.limit } satisfies ListResult;
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

type OnEvent = (msg: string, fields?: Record<string, unknown>) => void;

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
  const maxRowid = Number((db.prepare('SELECT max(rowid) AS n FROM messages').get() as Row).n);
  const fill = db.prepare(
    'INSERT INTO messages_fts (rowid, text) SELECT rowid, text FROM messages WHERE rowid > ? AND rowid <= ? AND text IS NOT NULL',
  );
  const started = performance.now();
  for (let low = 0; low < maxRowid; low += INDEX_BUILD_CHUNK) {
    fill.run(low, low + INDEX_BUILD_CHUNK);
    onEvent('building search index', {
      percent: Math.min(100, Math.round(((low + INDEX_BUILD_CHUNK) / maxRowid) * 100)),
      elapsed_ms: Math.round(performance.now() - started),
    });
  }
}

/** The FTS5 query for `q`: the AND of its trigrams, or null when it has none (fewer than 3 code points). */
export function trigramMatch(q: string): string | null {
  const chars = Array.from(q);
  if (chars.length < MIN_INDEXED_QUERY) return null;
  const grams = new Set<string>();
  for (let i = 0; i + 3 <= chars.length && grams.size < MAX_QUERY_TRIGRAMS; i += 1) {
    grams.add(chars.slice(i, i + 3).join(''));
  }
  // Each trigram is a quoted FTS5 string ("" escapes a quote), so no character of q is query syntax.
  return [...grams].map((g) => `"${g.replaceAll('"', '""')}"`).join(' AND ');
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

function mapError(err: unknown): unknown {
  if (!isTransient(err)) return err;
  const detail = typeof err === 'object' && err !== null && 'errstr' in err ? String(err.errstr) : 'storage error';
  return storeUnavailable(`database unavailable: ${detail}`, err);
}
