// The database's shape: the seed's table, the versions that extend it, and the migration that applies
// them at start. Shared by the store (reads) and its writer thread.
import type { DatabaseSync } from 'node:sqlite';
import { charCounter, ZONE_BITS } from './sqlite-chars.ts';

/** The schema version this code applies (PRAGMA user_version). */
export const SCHEMA_VERSION = 6;
/** Rows per step while a migration fills the search index, one progress event each. */
export const INDEX_BUILD_CHUNK = 100_000;
/** Zones per step while version 6 recounts the search index's characters, one progress event each. */
export const RECOUNT_CHUNK_ZONES = 100;

export type OnEvent = (msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'ERROR') => void;
type Row = Record<string, unknown>;

// The chronological sort key of a contract timestamp, in SQL: whole seconds, then the fraction without
// trailing zeros. String order of keys is time order whatever the precision sent.
export const sortKeySql = (x: string): string =>
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
// Version 2 creates it; version 4 fills it (see searchTextSql), which is also how to rebuild it by hand
// (set user_version to 3). Version 3 replaces its triggers.
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

/**
 * What the search index holds for a text: lower(text) between SEARCH_PAD marks, one before and two
 * after. Every character of the text then starts a trigram, so the rows holding a 1-2 character q are
 * those of the index's terms that begin with it: found from the term list, not by reading every row.
 * A q containing the mark itself cannot use the index.
 */
export const SEARCH_PAD = '\u0001';
const searchTextSql = (x: string): string => `(char(1) || lower(${x}) || char(1, 1))`;

// Search indexing after the commit. Feeding FTS5 one row per insert costs a sender's request about
// 30 us (a segment flushed per small transaction, merged again and again); fed hundreds of rows at once
// it costs a few. So an insert only notes its rowid in search_pending, in the same transaction, and the
// writer moves pending rows into messages_fts in bulk (rowid order, in one transaction with their removal
// from the queue). Queries read both: the index for indexed rows and LIKE over the pending rows, so a
// message is searchable from the moment its 200 is sent. A row is in exactly one of the two. The
// triggers keep it so for an operator's DELETE or UPDATE through the sqlite3 CLI too.
const MIGRATION_3 = `
CREATE TABLE IF NOT EXISTS search_pending (id INTEGER PRIMARY KEY);
DROP TRIGGER IF EXISTS messages_fts_ai;
DROP TRIGGER IF EXISTS messages_fts_ad;
DROP TRIGGER IF EXISTS messages_fts_au;
CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN
  INSERT INTO search_pending (id) VALUES (new.rowid);
END;
CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
  DELETE FROM messages_fts WHERE rowid = old.rowid AND old.text IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM search_pending WHERE id = old.rowid);
  DELETE FROM search_pending WHERE id = old.rowid;
END;
CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages
  WHEN NOT EXISTS (SELECT 1 FROM search_pending WHERE id = old.rowid) BEGIN
  DELETE FROM messages_fts WHERE rowid = old.rowid;
  INSERT INTO messages_fts (rowid, text) SELECT new.rowid, lower(new.text) WHERE new.text IS NOT NULL;
END;
`;

/** Upserts zone bounds from a query of (zone, lo, hi) rows: a zone's bounds only ever widen. */
const widenZones = (select: string): string => `
INSERT INTO search_zones (zone, lo, hi) ${select}
  ON CONFLICT (zone) DO UPDATE SET lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)`;

// Version 4: the index holds padded text (searchTextSql) so that 1-2 character queries can use it. It is
// emptied here and refilled with every row by the migration (buildSearchIndex); nothing is left queued.
// search_zones: for the rows in the search index, per block of 1,024 rowids, bounds (lo <= hi) of their
// sort keys. Rows mostly arrive in time order, so a query with `since` finds whole rowid ranges at or
// after it and counts the search hits there by rowid range, without reading a row (see sqlite-list.ts). The
// indexer widens a zone as it indexes rows; a deleted row leaves its zone's bounds as they were (still
// bounds), and an operator's UPDATE of ts widens them by trigger.
const MIGRATION_4 = `
INSERT INTO messages_fts (messages_fts) VALUES ('delete-all');
DELETE FROM search_pending;
DROP TABLE IF EXISTS search_zones;
CREATE TABLE search_zones (zone INTEGER PRIMARY KEY, lo TEXT NOT NULL, hi TEXT NOT NULL);
-- The rare texts holding U+0000, at which LIKE stops reading: while there are none, searches use LIKE alone.
CREATE INDEX IF NOT EXISTS idx_messages_text_nul ON messages (message_id) WHERE instr(text, char(0)) > 0;
-- Per zone, how many indexed texts hold each character (see sqlite-chars.ts). Deleting or editing an
-- indexed row marks its zone dirty (search_dirty); a row still queued for the index changes nothing.
DROP TABLE IF EXISTS search_chars;
CREATE TABLE search_chars (zone INTEGER NOT NULL, ch TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (zone, ch)) WITHOUT ROWID;
DROP TABLE IF EXISTS search_dirty;
CREATE TABLE search_dirty (zone INTEGER PRIMARY KEY);
DROP TRIGGER IF EXISTS messages_fts_ad;
CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
  INSERT OR IGNORE INTO search_dirty (zone) SELECT old.rowid >> ${ZONE_BITS} WHERE old.text IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM search_pending WHERE id = old.rowid);
  DELETE FROM messages_fts WHERE rowid = old.rowid AND old.text IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM search_pending WHERE id = old.rowid);
  DELETE FROM search_pending WHERE id = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS messages_zone_au AFTER UPDATE OF ts ON messages BEGIN
  ${widenZones(`VALUES (new.rowid >> ${ZONE_BITS}, new.ts_key, new.ts_key)`)};
END;
DROP TRIGGER IF EXISTS messages_fts_au;
CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages
  WHEN NOT EXISTS (SELECT 1 FROM search_pending WHERE id = old.rowid) BEGIN
  -- The zone is recounted, and its bounds are widened to the row (a text set where there was none puts
  -- the row in the index only now, maybe as the zone's first).
  INSERT OR IGNORE INTO search_dirty (zone) VALUES (old.rowid >> ${ZONE_BITS});
  ${widenZones(`SELECT new.rowid >> ${ZONE_BITS}, new.ts_key, new.ts_key WHERE new.text IS NOT NULL`)};
  DELETE FROM messages_fts WHERE rowid = old.rowid;
  INSERT INTO messages_fts (rowid, text) SELECT new.rowid, ${searchTextSql('new.text')} WHERE new.text IS NOT NULL;
END;
`;

// Version 5: an insert no longer updates its sender's count in place. A sender's row in sender_counts
// (and its entry in the top-senders index) lies anywhere in the table, so each insert dirtied two pages
// of them, and a commit writes every page it dirtied: with senders in no particular order, about a
// third of the writer's time per row. An insert now appends +1 to sender_deltas (its pages fill in
// order), and the writer folds the deltas into sender_counts a thousand or more at a time
// (foldSenders), when a page takes many of them at once. A sender's count is its row plus its deltas; /stats and the `from`
// total read both. An operator's DELETE or UPDATE through the sqlite3 CLI changes the row directly while
// no delta waits (the deltas are then folded, so the row is exact), and appends deltas otherwise.
const NO_DELTAS = 'NOT EXISTS (SELECT 1 FROM sender_deltas)';
const MIGRATION_5 = `
CREATE TABLE IF NOT EXISTS sender_deltas (id INTEGER PRIMARY KEY, from_msisdn TEXT NOT NULL, d INTEGER NOT NULL);
DROP TRIGGER IF EXISTS messages_ai;
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
  INSERT INTO sender_deltas (from_msisdn, d) VALUES (new.from_msisdn, 1);
  UPDATE message_totals SET messages = messages + 1 WHERE id = 0;
END;
DROP TRIGGER IF EXISTS messages_ad;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
  INSERT INTO sender_deltas (from_msisdn, d) SELECT old.from_msisdn, -1 WHERE NOT ${NO_DELTAS};
  UPDATE sender_counts SET count = count - 1 WHERE from_msisdn = old.from_msisdn AND ${NO_DELTAS};
  DELETE FROM sender_counts WHERE from_msisdn = old.from_msisdn AND count <= 0;
  UPDATE message_totals SET messages = messages - 1 WHERE id = 0;
END;
DROP TRIGGER IF EXISTS messages_au_from;
CREATE TRIGGER messages_au_from AFTER UPDATE OF from_msisdn ON messages
  WHEN old.from_msisdn IS NOT new.from_msisdn BEGIN
  INSERT INTO sender_deltas (from_msisdn, d) SELECT old.from_msisdn, -1 WHERE NOT ${NO_DELTAS};
  INSERT INTO sender_deltas (from_msisdn, d) SELECT new.from_msisdn, 1 WHERE NOT ${NO_DELTAS};
  UPDATE sender_counts SET count = count - 1 WHERE from_msisdn = old.from_msisdn AND ${NO_DELTAS};
  DELETE FROM sender_counts WHERE from_msisdn = old.from_msisdn AND count <= 0;
  INSERT INTO sender_counts (from_msisdn, count) SELECT new.from_msisdn, 1 WHERE ${NO_DELTAS}
    ON CONFLICT (from_msisdn) DO UPDATE SET count = count + 1;
END;
`;

/** Senders with deltas waiting, each with the sum of its deltas (SQL for a WITH clause). */
export const SENDER_DELTAS_SQL = 'SELECT from_msisdn, sum(d) AS d FROM sender_deltas GROUP BY from_msisdn';

/**
 * A step that takes up to `limit` entries of a queue table (an INTEGER PRIMARY KEY `id`, oldest first),
 * hands the highest id taken to `work`, removes them and returns how many it took. Shared by the
 * sender-delta fold and the search indexer. The caller holds the write transaction.
 */
function queueStep(db: DatabaseSync, table: string, work: (upto: bigint) => void): (limit: number) => number {
  const rangeStmt = db.prepare(`SELECT max(id) AS upto, count(*) AS n FROM (SELECT id FROM ${table} ORDER BY id LIMIT ?)`);
  // An id may exceed what a JavaScript number holds exactly (search_pending holds rowids an operator's
  // INSERT can choose).
  rangeStmt.setReadBigInts(true);
  const dequeueStmt = db.prepare(`DELETE FROM ${table} WHERE id <= ?`);
  return (limit) => {
    const range = rangeStmt.get(limit) as Row;
    const n = Number(range.n);
    if (n === 0) return 0;
    const upto = range.upto as bigint;
    work(upto);
    dequeueStmt.run(upto);
    return n;
  };
}

/**
 * The step that folds up to `limit` sender deltas (oldest first) into sender_counts and returns how
 * many it took. A sender whose count reaches zero leaves the table (and senders_count, by trigger).
 * The caller holds the write transaction.
 */
export function senderFolder(db: DatabaseSync): (limit: number) => number {
  // In sender order (GROUP BY), so the pages of sender_counts are visited in order, each once.
  const addStmt = db.prepare(
    `INSERT INTO sender_counts (from_msisdn, count)
     SELECT from_msisdn, sum(d) FROM sender_deltas WHERE id <= ? GROUP BY from_msisdn HAVING sum(d) <> 0
     ON CONFLICT (from_msisdn) DO UPDATE SET count = count + excluded.count`,
  );
  // Through the top-senders index, whose last entries these are: no other row is ever at zero.
  const emptiedStmt = db.prepare('DELETE FROM sender_counts WHERE count <= 0');
  return queueStep(db, 'sender_deltas', (upto) => {
    addStmt.run(upto);
    emptiedStmt.run();
  });
}

/**
 * Puts the rows of `source` (a FROM ... WHERE fragment over `messages m` with text, its parameters
 * bound by the caller) into the search index: the trigram index, the zones' time bounds and the zones'
 * character counts. Shared by the writer's indexer and the migration, so both fill all three alike.
 */
function rowIndexer(db: DatabaseSync, source: string): (...params: bigint[]) => void {
  const indexStmt = db.prepare(`INSERT INTO messages_fts (rowid, text) SELECT m.rowid, ${searchTextSql('m.text')} ${source}`);
  const zonesStmt = db.prepare(widenZones(`SELECT m.rowid >> ${ZONE_BITS}, min(m.ts_key), max(m.ts_key) ${source} GROUP BY 1`));
  const textsStmt = db.prepare(`SELECT m.rowid AS id, m.text AS text ${source}`);
  textsStmt.setReadBigInts(true);
  const chars = charCounter(db);
  return (...params) => {
    indexStmt.run(...params);
    zonesStmt.run(...params);
    chars.add(textsStmt.iterate(...params) as Iterable<Row>);
  };
}

/**
 * The step that moves up to `limit` pending rows (oldest first) into the search index and returns how
 * many it took; its statements are prepared once. The caller holds the write transaction.
 */
export function pendingIndexer(db: DatabaseSync): (limit: number) => number {
  // CROSS JOIN fixes the loop order: the queue drives. Left to itself the planner walks every message
  // below the highest pending rowid, and indexing slows as the table grows.
  const index = rowIndexer(db, 'FROM search_pending p CROSS JOIN messages m ON m.rowid = p.id WHERE p.id <= ? AND m.text IS NOT NULL');
  return queueStep(db, 'search_pending', index);
}

// Every step runs in one transaction: a crash mid-migration leaves the previous version intact. Only a
// database older than SCHEMA_VERSION pays for it, once; an up-to-date one starts without touching rows.
export function migrate(db: DatabaseSync, onEvent: OnEvent): void {
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
    if (version < 2) db.exec(MIGRATION_2);
    if (version < 3) db.exec(MIGRATION_3);
    if (version < 4) {
      db.exec(MIGRATION_4);
      buildSearchIndex(db, existing, onEvent);
    }
    if (version < 5) db.exec(MIGRATION_5);
    // Version 6: search_chars also counts ASCII pairs. A build (version < 4) counted them already.
    if (version >= 4 && version < 6) recountSearchChars(db, onEvent);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
    onEvent('schema ready', { version: SCHEMA_VERSION, rows: existing });
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

function migrateTo1(db: DatabaseSync): void {
  // Sender counts are recounted from the rows here: deltas left by a later version (user_version set
  // back by hand) would count twice. Version 5 creates the table again.
  db.exec('DROP TABLE IF EXISTS sender_deltas');
  const columns = (db.prepare('PRAGMA table_xinfo(messages)').all() as Row[]).map((r) => String(r.name));
  if (!columns.includes('created_at')) db.exec('ALTER TABLE messages ADD COLUMN created_at TEXT');
  if (columns.includes('ts_key')) {
    db.exec(MIGRATION_1.replace(/^ALTER TABLE messages ADD COLUMN ts_key[^\n]*\n/m, ''));
  } else {
    db.exec(MIGRATION_1);
  }
}

// Every zone of the index is marked dirty and recounted from its indexed rows (the writer's own recount),
// a chunk of zones at a time with a progress event each: about 3 s for 1M rows.
function recountSearchChars(db: DatabaseSync, onEvent: OnEvent): void {
  db.exec('INSERT OR IGNORE INTO search_dirty (zone) SELECT zone FROM search_zones');
  const zones = Number((db.prepare('SELECT count(*) AS n FROM search_dirty').get() as Row).n);
  const chars = charCounter(db);
  const started = performance.now();
  let done = 0;
  for (let step = chars.clean(RECOUNT_CHUNK_ZONES); step > 0; step = chars.clean(RECOUNT_CHUNK_ZONES)) {
    done += step;
    onEvent('counting search characters', {
      percent: Math.min(100, Math.round((done / zones) * 100)),
      elapsed_ms: Math.round(performance.now() - started),
    });
  }
}

function buildSearchIndex(db: DatabaseSync, existing: number, onEvent: OnEvent): void {
  if (existing === 0) return;
  // Filled INDEX_BUILD_CHUNK rows at a time, in rowid order, so a long build reports progress instead of
  // looking hung. Rowids are read as BigInt and steps found by counting rows, not by arithmetic on
  // rowids: an operator may have chosen any rowid, however sparse or large.
  const first = db.prepare('SELECT min(rowid) AS r FROM messages');
  const next = db.prepare('SELECT rowid AS r FROM messages WHERE rowid >= ? ORDER BY rowid LIMIT 1 OFFSET ?');
  const last = db.prepare('SELECT max(rowid) AS r FROM messages');
  for (const stmt of [first, next, last]) stmt.setReadBigInts(true);
  const index = rowIndexer(db, 'FROM messages m WHERE m.rowid >= ? AND m.rowid <= ? AND m.text IS NOT NULL');
  const started = performance.now();
  const end = (last.get() as Row).r as bigint;
  let from = (first.get() as Row).r as bigint;
  for (let done = INDEX_BUILD_CHUNK; ; done += INDEX_BUILD_CHUNK) {
    const after = (next.get(from, INDEX_BUILD_CHUNK) as Row | undefined)?.r as bigint | undefined;
    const upto = after === undefined ? end : after - 1n;
    index(from, upto);
    onEvent('building search index', {
      percent: Math.min(100, Math.round((done / existing) * 100)),
      elapsed_ms: Math.round(performance.now() - started),
    });
    if (after === undefined) return;
    from = after;
  }
}
