// The SQLite engine's current schema, in one place: the seed's table and what this engine derives from
// it. migrate.ts brings older files to it.

/** PRAGMA user_version of a file in this schema. 0 is the seed's bare table; 1 to 12 shipped before. */
export const SCHEMA_VERSION = 13;

/**
 * The sort key of a timestamp `x` (SPEC: order by the instant of ts): whole seconds, then the fraction
 * without trailing zeros, so string order is time order whatever the precision (`…:00` < `…:00.5` < `…:01`).
 */
export const sortKey = (x: string): string =>
  `(substr(${x}, 1, 19) || rtrim(rtrim(substr(${x}, 20, length(${x}) - 20), '0'), '.'))`;

/** The seed's table, exactly (bench/seed.ts writes files in it). */
export const SEED_TABLE = `
CREATE TABLE IF NOT EXISTS messages (
  message_id  TEXT NOT NULL PRIMARY KEY,
  from_msisdn TEXT NOT NULL,
  to_msisdn   TEXT NOT NULL,
  ts          TEXT NOT NULL,
  text        TEXT,
  created_at  TEXT NOT NULL
);`;

/** Columns this engine adds to the seed's table where missing (an ALTER TABLE rewrites nothing). */
export const ADDED_COLUMNS = `
ALTER TABLE messages ADD COLUMN ts_key TEXT GENERATED ALWAYS AS ${sortKey('ts')} VIRTUAL;
-- fold(text) (src/store/fold.ts), written by the service: SQL has no Unicode case folding. NULL while an
-- operator's INSERT or UPDATE of text has not been folded yet; queries fold such rows as they read them.
ALTER TABLE messages ADD COLUMN search_text TEXT;
-- Meta's message type, NULL for a text message.
ALTER TABLE messages ADD COLUMN type TEXT;
-- The stream's position: from arrival_seq, so it never repeats, even after the newest row is deleted (a
-- rowid would be reused then).
ALTER TABLE messages ADD COLUMN arrival INTEGER;`;

/** The last stream position issued; never dropped by a migration: positions clients hold must never be issued again. */
export const ARRIVAL_SEQ = 'CREATE TABLE IF NOT EXISTS arrival_seq (id INTEGER PRIMARY KEY CHECK (id = 0), last INTEGER NOT NULL)';

// Statements the triggers share. The trigram index holds the rows up to search_state.upto whose folded
// text it can hold: without a NUL (FTS5 reads a text only up to one).
const INDEXED = (row: string): string =>
  `${row}.search_text IS NOT NULL AND instr(${row}.search_text, char(0)) = 0 AND ${row}.rowid <= (SELECT upto FROM search_state)`;
const INDEX = (row: string): string => `INSERT INTO messages_search (rowid, search_text) SELECT ${row}.rowid, ${row}.search_text WHERE ${INDEXED(row)};`;
const UNINDEX = (row: string): string =>
  `INSERT INTO messages_search (messages_search, rowid, search_text) SELECT 'delete', ${row}.rowid, ${row}.search_text WHERE ${INDEXED(row)};`;
const COUNT = (row: string): string =>
  `INSERT INTO sender_counts (from_msisdn, count) VALUES (${row}.from_msisdn, 1) ON CONFLICT (from_msisdn) DO UPDATE SET count = count + 1;`;
const UNCOUNT = (row: string): string => `UPDATE sender_counts SET count = count - 1 WHERE from_msisdn = ${row}.from_msisdn;
  DELETE FROM sender_counts WHERE from_msisdn = ${row}.from_msisdn AND count <= 0;`;

/** Fills the trigram index with the rows in a rowid range (its bounds as parameters), in bulk. */
export const INDEX_RANGE =
  'INSERT INTO messages_search (rowid, search_text) SELECT rowid, search_text FROM messages WHERE rowid > ? AND rowid <= ? AND instr(search_text, char(0)) = 0';

/** Texts the trigram index does not hold (see idx_messages_offside); list.ts matches them row by row. */
export const OFFSIDE = 'text IS NOT NULL AND (search_text IS NULL OR instr(search_text, char(0)) > 0)';

/** FTS5's `automerge` for the search index (DERIVED says why; erase.ts turns it off for a while). */
export const AUTOMERGE = 16;

/** Tables, indexes and triggers over the messages table; each migration builds them anew. */
export const DERIVED = `
-- The seed's own index (SPEC), which migrations keep.
CREATE INDEX IF NOT EXISTS idx_messages_ts ON messages (ts, message_id);
-- The time order, with the folded text beside it: a walk that matches q row by row reads no table row.
CREATE INDEX IF NOT EXISTS idx_messages_ts_text ON messages (ts_key, message_id, search_text);
CREATE INDEX IF NOT EXISTS idx_messages_from ON messages (from_msisdn, ts_key, message_id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_messages_arrival ON messages (arrival);
-- Retention deletes the oldest received first, a small batch at a time, without a scan.
CREATE INDEX IF NOT EXISTS idx_messages_created ON messages (created_at);
-- The few texts the trigram index cannot answer for: not folded yet, or holding a NUL.
CREATE INDEX IF NOT EXISTS idx_messages_offside ON messages (message_id) WHERE ${OFFSIDE};

-- Substring search for a q of three characters or more: a trigram index of search_text, its content
-- stored once (in messages), kept by the triggers below; SQLite 3.34 and later (Debian 12's CLI) can delete from it.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_search USING fts5(
  search_text, content = 'messages', content_rowid = 'rowid', tokenize = 'trigram case_sensitive 1'
);
-- FTS5 merges a level's segments once it holds \`automerge\` of them (default 4): at 16, a row's trigrams
-- pass through half as many levels, each a rewrite, as the index grows; a query reads up to 16 segments a level.
-- A level holding \`crisismerge\` segments (default 16) is merged whole within one commit, the level above
-- too if that fills it: at 64, merging stays incremental, a little after each write.
INSERT INTO messages_search (messages_search, rank) VALUES ('automerge', ${AUTOMERGE});
INSERT INTO messages_search (messages_search, rank) VALUES ('crisismerge', 64);
-- The index holds the indexable rows with a rowid up to \`upto\`; newer ones wait, matched row by row
-- through their rowid range, until the writer indexes them in bulk (writer.ts).
CREATE TABLE IF NOT EXISTS search_state (id INTEGER PRIMARY KEY CHECK (id = 0), upto INTEGER NOT NULL);

-- /stats without a scan, kept in the writing transaction, so an operator's DELETE keeps them right.
CREATE TABLE IF NOT EXISTS message_totals (id INTEGER PRIMARY KEY CHECK (id = 0), messages INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sender_counts (from_msisdn TEXT NOT NULL PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_sender_counts_top ON sender_counts (count DESC, from_msisdn);

-- The service's inserts carry their position, and its writer keeps their counts once a transaction
-- (writer.ts), which costs less than a trigger run for every row. An operator's INSERT (no position)
-- is counted and numbered here, and indexed at once if its rowid is one the trigram index already
-- covers (the newest rows were deleted); the writer indexes such rows of its own itself.
CREATE TRIGGER IF NOT EXISTS messages_insert AFTER INSERT ON messages WHEN new.arrival IS NULL BEGIN
  ${COUNT('new')}
  UPDATE message_totals SET messages = messages + 1 WHERE id = 0;
  UPDATE arrival_seq SET last = last + 1 WHERE id = 0;
  UPDATE messages SET arrival = (SELECT last FROM arrival_seq WHERE id = 0) WHERE rowid = new.rowid;
  ${INDEX('new')}
END;
CREATE TRIGGER IF NOT EXISTS messages_delete AFTER DELETE ON messages BEGIN
  ${UNCOUNT('old')}
  UPDATE message_totals SET messages = messages - 1 WHERE id = 0;
  ${UNINDEX('old')}
END;
CREATE TRIGGER IF NOT EXISTS messages_sender AFTER UPDATE OF from_msisdn ON messages BEGIN ${UNCOUNT('old')} ${COUNT('new')} END;
-- An operator's UPDATE of text (sqlite3 has no fold()): the folded copy is cleared, in built-in SQL, so
-- no query reads a stale one; the service folds the row again later (writer.ts).
CREATE TRIGGER IF NOT EXISTS messages_text AFTER UPDATE OF text ON messages WHEN new.text IS NOT old.text BEGIN
  UPDATE messages SET search_text = NULL WHERE rowid = new.rowid;
END;
-- The folded copy changed (cleared above, or folded again): the trigram index follows it.
CREATE TRIGGER IF NOT EXISTS messages_folded AFTER UPDATE OF search_text ON messages BEGIN ${UNINDEX('old')} ${INDEX('new')} END;`;
