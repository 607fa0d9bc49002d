// The PostgreSQL schema: SCHEMA is the current one, in full, for a new database; UPGRADES are the named
// steps that bring a database of an earlier version to it (migrate.ts applies them once, in order, under
// an advisory lock). Whatever a statement names comes from here; values never do.
import type { TransactionSql } from 'postgres';

/** The version SCHEMA creates and the last upgrade reaches; an older build refuses a newer database. */
export const SCHEMA_VERSION = 5;

/**
 * The sort key of a contract timestamp, `ts` as sent: whole seconds, then the fraction without trailing
 * zeros, so string order (COLLATE "C") is time order. The same rule as the SQLite engine's ts_key.
 */
export const sortKey = (x: string): string => `(left(${x}, 19) || rtrim(rtrim(substr(${x}, 20, length(${x}) - 20), '0'), '.'))`;

/** Rows whose folded copy is missing: written by an operator (psql) rather than the service (fold.ts). */
export const UNFOLDED = 'text IS NOT NULL AND text_folded IS NULL';

// The live tail's order (GET /messages/stream, arrivals.ts): the inserting transaction's id, then a
// sequence number.
const ARRIVAL_COLUMNS = 'ADD COLUMN arrival_tx xid8 NOT NULL DEFAULT pg_current_xact_id(), ADD COLUMN arrival bigint GENERATED ALWAYS AS IDENTITY';
const ARRIVAL_INDEX = 'CREATE INDEX messages_arrival ON messages (arrival_tx, arrival)';

// q's trigram index has the sender as a first column (btree_gin; both contrib, trusted extensions), so
// from + q is one index scan that intersects the two.
const SEARCH_INDEX = 'CREATE INDEX messages_from_text ON messages USING gin (from_msisdn, text_folded gin_trgm_ops)';

// /stats without a hot row (a heavy sender's counter would serialise every replica's commits): each
// statement that adds or removes messages appends one row per sender to sender_deltas (statement
// triggers, so an operator's psql keeps /stats right too); one replica at a time merges them into
// sender_counts and message_totals (stats.ts).
const TRIGGERS = `
CREATE OR REPLACE FUNCTION messages_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sender_deltas (from_msisdn, n) SELECT from_msisdn, count(*) FROM added GROUP BY from_msisdn;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION messages_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sender_deltas (from_msisdn, n) SELECT from_msisdn, -count(*) FROM removed GROUP BY from_msisdn;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION messages_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sender_deltas (from_msisdn, n)
  SELECT from_msisdn, sum(n) FROM (
    SELECT from_msisdn, 1 AS n FROM added UNION ALL SELECT from_msisdn, -1 FROM removed
  ) d GROUP BY from_msisdn HAVING sum(n) <> 0;
  RETURN NULL;
END $$;
-- An operator's UPDATE of text (SQL has no Unicode case folding): the folded copy is cleared, so no
-- query matches a stale one; the service folds such rows again before it answers a q (list.ts).
CREATE OR REPLACE FUNCTION messages_unfold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.text_folded := NULL;
  NEW.text_nul := NULL;
  RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER messages_added AFTER INSERT ON messages
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION messages_added();
CREATE OR REPLACE TRIGGER messages_removed AFTER DELETE ON messages
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION messages_removed();
CREATE OR REPLACE TRIGGER messages_changed AFTER UPDATE ON messages
  REFERENCING NEW TABLE AS added OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION messages_changed();
CREATE OR REPLACE TRIGGER messages_unfold BEFORE UPDATE OF text ON messages
  FOR EACH ROW WHEN (NEW.text IS DISTINCT FROM OLD.text) EXECUTE FUNCTION messages_unfold();`;

export const SCHEMA = `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- The seed's columns and names. message_id and ts_key compare byte by byte (COLLATE "C"), as SQLite's
-- BINARY does. text_folded is fold(text), written by the service; text_nul the folded text's UTF-8 when
-- it is stored escaped (text.ts); type is Meta's message type (NULL: text).
CREATE TABLE messages (
  message_id  text COLLATE "C" PRIMARY KEY,
  from_msisdn text NOT NULL,
  to_msisdn   text NOT NULL,
  ts          text NOT NULL,
  text        text,
  created_at  timestamptz NOT NULL,
  ts_key      text COLLATE "C" GENERATED ALWAYS AS ${sortKey('ts')} STORED,
  text_nul    bytea,
  text_folded text COLLATE "C",
  type        text
);
ALTER TABLE messages ${ARRIVAL_COLUMNS};
CREATE INDEX messages_ts_key ON messages (ts_key, message_id);
CREATE INDEX messages_from ON messages (from_msisdn, ts_key, message_id);
CREATE INDEX messages_created_at ON messages (created_at);
CREATE INDEX messages_unfolded ON messages (message_id) WHERE ${UNFOLDED};
${ARRIVAL_INDEX};
${SEARCH_INDEX};

CREATE TABLE sender_deltas (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  from_msisdn text NOT NULL,
  n           bigint NOT NULL
);
CREATE TABLE sender_counts (
  from_msisdn text COLLATE "C" PRIMARY KEY,
  n           bigint NOT NULL
);
CREATE INDEX sender_counts_top ON sender_counts (n DESC, from_msisdn);
CREATE TABLE message_totals (
  id       int PRIMARY KEY CHECK (id = 0),
  messages bigint NOT NULL,
  senders  bigint NOT NULL
);
INSERT INTO message_totals VALUES (0, 0, 0);
${TRIGGERS}

CREATE TABLE schema_version (
  id      int PRIMARY KEY CHECK (id = 0),
  version int NOT NULL
);
INSERT INTO schema_version VALUES (0, ${SCHEMA_VERSION});
`;

/** One upgrade: from the version before `version` to it, in the migration's transaction. */
type Upgrade = { version: number; name: string; run(tx: TransactionSql, refoldAll: () => Promise<void>): Promise<void> };

export const UPGRADES: readonly Upgrade[] = [
  {
    // From versions 1 to 3, which folded ASCII only, in SQL (a generated column; version 3 kept a
    // partitioned copy of it). The service folds every text again; the trigram index is built after.
    version: 4,
    name: 'unicode-search',
    async run(tx, refoldAll) {
      // The triggers first: version 3's wrote to message_texts, which goes.
      await tx.unsafe(`
        ${TRIGGERS}
        CREATE EXTENSION IF NOT EXISTS btree_gin;
        DROP TABLE IF EXISTS message_texts;
        DROP INDEX IF EXISTS messages_search;
        DROP INDEX IF EXISTS messages_from_text;
        ALTER TABLE messages DROP COLUMN IF EXISTS text_folded;
        ALTER TABLE messages ADD COLUMN text_folded text COLLATE "C", ADD COLUMN type text;
        UPDATE messages SET text_nul = NULL WHERE text_nul IS NOT NULL;
        CREATE INDEX messages_unfolded ON messages (message_id) WHERE ${UNFOLDED};`).simple();
      await refoldAll();
      await tx.unsafe(SEARCH_INDEX);
    },
  },
  {
    // Existing rows take the migrating transaction's id and sequence numbers in table order.
    version: 5,
    name: 'arrival-order',
    async run(tx) {
      await tx.unsafe(`ALTER TABLE messages ${ARRIVAL_COLUMNS}; ${ARRIVAL_INDEX}`).simple();
    },
  },
];
