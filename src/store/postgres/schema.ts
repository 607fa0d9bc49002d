// The current PostgreSQL schema, in one place. Every statement is idempotent, so applying it is the
// migration: from nothing, or from any earlier version of this file (see migrate.ts for the lock that lets
// several replicas start at once). Whatever a statement names comes from here; values never do.

/** Raised whenever this file changes: an older build then refuses to start on the database (migrate.ts). */
export const SCHEMA_VERSION = 3;

/**
 * The sort key of a contract timestamp, `ts` as sent: whole seconds, then the fraction without trailing
 * zeros, so string order (COLLATE "C") is time order. The same rule as the SQLite engine's ts_key.
 */
export const sortKeySql = (x: string): string => `(left(${x}, 19) || rtrim(rtrim(substr(${x}, 20, length(${x}) - 20), '0'), '.'))`;

/**
 * What `q` is matched against: text folded by lower() under the "C" collation, which folds ASCII letters
 * only, whatever the database's locale (SPEC: `q=École` matches only exact non-ASCII letters, as SQLite's
 * lower() does). Stored, so a scan does not call lower() on every row it reads; the trigram index is on it.
 */
export const SEARCH_SQL = 'text_folded';
const FOLDED = `text_folded text COLLATE "C" GENERATED ALWAYS AS (lower(text COLLATE "C")) STORED`;

/** The statement that copies the texts of `source`'s rows into message_texts (the fill, and the triggers). */
const copyTexts = (source: string): string =>
  `INSERT INTO message_texts SELECT message_id, ${SEARCH_SQL}, text_nul FROM ${source} WHERE text IS NOT NULL`;

export const SCHEMA = `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- The seed's columns and names. message_id and ts_key compare byte by byte (COLLATE "C"), as SQLite's
-- BINARY does. PostgreSQL text cannot hold U+0000: such a message_id or text is stored escaped (see
-- text.ts), and text_nul then holds the text's folded UTF-8 so q is still matched exactly.
CREATE TABLE IF NOT EXISTS messages (
  message_id  text COLLATE "C" PRIMARY KEY,
  from_msisdn text NOT NULL,
  to_msisdn   text NOT NULL,
  ts          text NOT NULL,
  text        text,
  created_at  timestamptz NOT NULL,
  ts_key      text COLLATE "C" GENERATED ALWAYS AS ${sortKeySql('ts')} STORED,
  text_nul    bytea,
  ${FOLDED}
);
-- From version 1, which matched q against lower(text COLLATE "C") computed per row: the column goes at
-- the end, as CREATE TABLE has it. Adding it rewrites the table once, under its exclusive lock (about
-- 35 s at 1M rows); checked first, so a later start does not take that lock at all.
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'messages'::regclass AND attname = 'text_folded') THEN
    ALTER TABLE messages ADD COLUMN ${FOLDED};
  END IF;
END $$;
DROP INDEX IF EXISTS messages_search;
CREATE INDEX IF NOT EXISTS messages_ts_key ON messages (ts_key, message_id);
CREATE INDEX IF NOT EXISTS messages_from ON messages (from_msisdn, ts_key, message_id);
CREATE INDEX IF NOT EXISTS messages_created_at ON messages (created_at);
-- q's trigram index, with the sender as a first column (btree_gin: both contrib, trusted extensions), so
-- from + q is one index scan that intersects the two.
CREATE INDEX IF NOT EXISTS messages_from_text ON messages USING gin (from_msisdn, ${SEARCH_SQL} gin_trgm_ops);
-- The folded texts once more, narrow, for the total of q alone (list.ts): a common word lies on nearly
-- every page of messages, where the trigram index's recheck read all 32,100 of them at 1M rows (q=order
-- 280-353 ms); here 13,800. In two halves, so that two processes each scan one half's trigram index
-- (one index: 154 / 207 ms p50 / max; two: 141 / 167). Kept by the triggers below. A database without it
-- gets it filled once, the table locked against writes meanwhile so that no row commits under the old
-- triggers unseen.
DO $$ BEGIN
  IF to_regclass('message_texts') IS NULL THEN
    CREATE TABLE message_texts (
      message_id  text COLLATE "C" PRIMARY KEY,
      ${SEARCH_SQL} text COLLATE "C" NOT NULL,
      text_nul    bytea
    ) PARTITION BY HASH (message_id);
    CREATE TABLE message_texts_0 PARTITION OF message_texts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
    CREATE TABLE message_texts_1 PARTITION OF message_texts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
    LOCK TABLE messages IN SHARE MODE;
    ${copyTexts('messages')};
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS message_texts_search ON message_texts USING gin (${SEARCH_SQL} gin_trgm_ops);

-- /stats without a hot row: every statement that adds or removes messages appends one row per sender to
-- sender_deltas (statement triggers below, so an operator's DELETE through psql keeps /stats right
-- too). Replicas never update a shared row while inserting; one of them at a time folds the deltas into
-- sender_counts and message_totals (stats.ts), so readers sum a small table.
CREATE TABLE IF NOT EXISTS sender_deltas (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  from_msisdn text NOT NULL,
  n           bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS sender_counts (
  from_msisdn text COLLATE "C" PRIMARY KEY,
  n           bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS sender_counts_top ON sender_counts (n DESC, from_msisdn);
CREATE TABLE IF NOT EXISTS message_totals (
  id       int PRIMARY KEY CHECK (id = 0),
  messages bigint NOT NULL,
  senders  bigint NOT NULL
);
INSERT INTO message_totals VALUES (0, 0, 0) ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION messages_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sender_deltas (from_msisdn, n) SELECT from_msisdn, count(*) FROM added GROUP BY from_msisdn;
  ${copyTexts('added')};
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION messages_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sender_deltas (from_msisdn, n) SELECT from_msisdn, -count(*) FROM removed GROUP BY from_msisdn;
  DELETE FROM message_texts t USING removed r WHERE t.message_id = r.message_id;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION messages_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM message_texts t USING removed r WHERE t.message_id = r.message_id;
  ${copyTexts('added')};
  INSERT INTO sender_deltas (from_msisdn, n)
  SELECT from_msisdn, sum(n) FROM (
    SELECT from_msisdn, 1 AS n FROM added UNION ALL SELECT from_msisdn, -1 FROM removed
  ) d GROUP BY from_msisdn HAVING sum(n) <> 0;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER messages_added AFTER INSERT ON messages
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION messages_added();
CREATE OR REPLACE TRIGGER messages_removed AFTER DELETE ON messages
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION messages_removed();
CREATE OR REPLACE TRIGGER messages_changed AFTER UPDATE ON messages
  REFERENCING NEW TABLE AS added OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION messages_changed();

CREATE TABLE IF NOT EXISTS schema_version (
  id      int PRIMARY KEY CHECK (id = 0),
  version int NOT NULL
);
INSERT INTO schema_version VALUES (0, ${SCHEMA_VERSION})
  ON CONFLICT (id) DO UPDATE SET version = excluded.version WHERE schema_version.version < excluded.version;
`;
