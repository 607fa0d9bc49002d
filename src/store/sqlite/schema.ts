// The SQLite engine's schema: the seed's table, and everything this engine derives from it. This file is
// the one place where the current schema is written; migrate.ts brings older files to it.

/** PRAGMA user_version of a file in this schema. 0 is the seed's bare table; 1 to 8 shipped before. */
export const SCHEMA_VERSION = 9;

/**
 * The chronological sort key of a contract timestamp `x` (SPEC: order by the instant of ts): the whole
 * seconds, then the fraction without trailing zeros, so plain string order is time order whatever the
 * precision sent (`…:00` < `…:00.49` < `…:00.5` < `…:01`). Used for the column and for query bounds.
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

/** Columns this engine adds to the seed's table: computed, never stored, so adding them rewrites nothing. */
export const DERIVED_COLUMNS = `
ALTER TABLE messages ADD COLUMN ts_key TEXT GENERATED ALWAYS AS ${sortKey('ts')} VIRTUAL;
-- What the search index holds: lower() folds ASCII only, exactly as LIKE does, so the index and a scan
-- agree on every q.
ALTER TABLE messages ADD COLUMN search_text TEXT GENERATED ALWAYS AS (lower(text)) VIRTUAL;`;

/** Tables, indexes and triggers over the messages table; each migration builds them anew. */
export const DERIVED = `
CREATE INDEX IF NOT EXISTS idx_messages_ts ON messages (ts, message_id);
-- Kept beside the wider one below for what needs no text: at 1M rows a count of \`since\` all but a day
-- took 67-81 ms through it, 108-132 through idx_messages_ts_text.
CREATE INDEX IF NOT EXISTS idx_messages_ts_key ON messages (ts_key, message_id);
-- The time order with the text beside it: a walk that matches q row by row (a deep page, since + q) reads
-- no table row; at 1M rows page 99,000 of a word in 1 text in 5 took 114-139 ms here, 326-381 without.
CREATE INDEX IF NOT EXISTS idx_messages_ts_text ON messages (ts_key, message_id, text);
CREATE INDEX IF NOT EXISTS idx_messages_from ON messages (from_msisdn, ts_key, message_id);
-- Retention deletes the oldest received first, a small batch at a time, without a scan.
CREATE INDEX IF NOT EXISTS idx_messages_created ON messages (created_at);
-- LIKE stops at a NUL, so the rare texts holding one are counted apart (see list.ts).
CREATE INDEX IF NOT EXISTS idx_messages_text_nul ON messages (message_id) WHERE instr(text, char(0)) > 0;

-- Substring search for a q of three characters or more: a trigram index of search_text. External
-- content (the text is stored once, in messages), kept by the triggers below; SQLite 3.34 and later
-- (Debian 12's sqlite3 CLI included) can delete from it.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_search USING fts5(
  search_text, content = 'messages', content_rowid = 'rowid', tokenize = 'trigram case_sensitive 1'
);
-- The index holds exactly the rows with a rowid up to \`upto\`; newer ones wait, searched by a scan of
-- their rowid range, until the writer indexes them in bulk (writer.ts: a fifth of the cost per row).
CREATE TABLE IF NOT EXISTS search_state (id INTEGER PRIMARY KEY CHECK (id = 0), upto INTEGER NOT NULL);

-- /stats without a scan, kept in the inserting transaction, so an operator's DELETE keeps them right.
-- \`revision\` grows with every row inserted, deleted or updated: two connections that read the same one
-- see the same messages (counter.ts splits a long count between two threads on that condition).
CREATE TABLE IF NOT EXISTS message_totals (
  id INTEGER PRIMARY KEY CHECK (id = 0), messages INTEGER NOT NULL, revision INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sender_counts (from_msisdn TEXT NOT NULL PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_sender_counts_top ON sender_counts (count DESC, from_msisdn);

CREATE TRIGGER IF NOT EXISTS messages_insert AFTER INSERT ON messages BEGIN
  INSERT INTO sender_counts (from_msisdn, count) VALUES (new.from_msisdn, 1)
    ON CONFLICT (from_msisdn) DO UPDATE SET count = count + 1;
  UPDATE message_totals SET messages = messages + 1, revision = revision + 1 WHERE id = 0;
  INSERT INTO messages_search (rowid, search_text) SELECT new.rowid, new.search_text
    WHERE new.text IS NOT NULL AND new.rowid <= (SELECT upto FROM search_state);
END;
CREATE TRIGGER IF NOT EXISTS messages_delete AFTER DELETE ON messages BEGIN
  UPDATE sender_counts SET count = count - 1 WHERE from_msisdn = old.from_msisdn;
  DELETE FROM sender_counts WHERE from_msisdn = old.from_msisdn AND count <= 0;
  UPDATE message_totals SET messages = messages - 1, revision = revision + 1 WHERE id = 0;
  INSERT INTO messages_search (messages_search, rowid, search_text)
    SELECT 'delete', old.rowid, old.search_text WHERE old.text IS NOT NULL AND old.rowid <= (SELECT upto FROM search_state);
END;
CREATE TRIGGER IF NOT EXISTS messages_revision AFTER UPDATE ON messages BEGIN
  UPDATE message_totals SET revision = revision + 1 WHERE id = 0;
END;
-- An operator's UPDATE: the old row leaves the counts and the index, the new one enters them.
CREATE TRIGGER IF NOT EXISTS messages_update AFTER UPDATE OF from_msisdn, text ON messages BEGIN
  UPDATE sender_counts SET count = count - 1 WHERE from_msisdn = old.from_msisdn;
  DELETE FROM sender_counts WHERE from_msisdn = old.from_msisdn AND count <= 0;
  INSERT INTO sender_counts (from_msisdn, count) VALUES (new.from_msisdn, 1)
    ON CONFLICT (from_msisdn) DO UPDATE SET count = count + 1;
  INSERT INTO messages_search (messages_search, rowid, search_text)
    SELECT 'delete', old.rowid, old.search_text WHERE old.text IS NOT NULL AND old.rowid <= (SELECT upto FROM search_state);
  INSERT INTO messages_search (rowid, search_text) SELECT new.rowid, new.search_text
    WHERE new.text IS NOT NULL AND new.rowid <= (SELECT upto FROM search_state);
END;`;
