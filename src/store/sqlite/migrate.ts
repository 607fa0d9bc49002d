// Brings any file this project can meet to the current schema (schema.ts), in one transaction: a new
// file, the seed's bare table (user_version 0), and every schema shipped since (1 to 8). What an older
// version derived is dropped and derived again; the messages themselves are never touched.
import type { DatabaseSync } from 'node:sqlite';
import { DERIVED, DERIVED_COLUMNS, SCHEMA_VERSION, SEED_TABLE } from './schema.ts';

export type OnEvent = (msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'ERROR') => void;

/** Rows a migration adds to the search index per step, one progress line each. */
export const INDEX_CHUNK = 100_000;

type Row = Record<string, unknown>;

export function migrate(db: DatabaseSync, onEvent: OnEvent): void {
  const version = Number((db.prepare('PRAGMA user_version').get() as Row).user_version);
  if (version === SCHEMA_VERSION) return;
  if (version > SCHEMA_VERSION) {
    throw new Error(`database schema version ${version} is newer than this service's (${SCHEMA_VERSION}); run a newer release`);
  }
  const started = performance.now();
  let rows = 0;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(SEED_TABLE);
    rows = Number((db.prepare('SELECT count(*) AS n FROM messages').get() as Row).n);
    if (rows > 0) onEvent('migrating database', { from_version: version, to_version: SCHEMA_VERSION, rows });
    dropDerived(db);
    const columns = new Set((db.prepare('PRAGMA table_xinfo(messages)').all() as Row[]).map((c) => String(c.name)));
    for (const statement of DERIVED_COLUMNS.split(';')) {
      const column = /ADD COLUMN (\w+)/.exec(statement)?.[1];
      if (column !== undefined && !columns.has(column)) db.exec(statement);
    }
    db.exec(DERIVED);
    db.exec(`INSERT INTO message_totals (id, messages) VALUES (0, ${rows})`);
    db.exec('INSERT INTO sender_counts (from_msisdn, count) SELECT from_msisdn, count(*) FROM messages GROUP BY from_msisdn');
    fillSearchIndex(db, rows, onEvent);
    db.exec('INSERT INTO search_state (id, upto) VALUES (0, coalesce((SELECT max(rowid) FROM messages), 0))');
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
  if (rows > 0) {
    onEvent('database migrated', { from_version: version, to_version: SCHEMA_VERSION, seconds: (performance.now() - started) / 1000 });
  }
}

/**
 * Drops every trigger and every table but messages (what versions 1 to 7 derived, this one's too), and
 * the indexes on messages whose name DERIVED uses for another definition. An index DERIVED defines
 * alike is kept: rebuilding it would cost seconds at 1M rows for nothing.
 */
function dropDerived(db: DatabaseSync): void {
  const objects = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'").all() as Row[];
  const wanted = derivedIndexes();
  for (const o of objects) if (o.type === 'trigger') db.exec(`DROP TRIGGER "${String(o.name)}"`);
  // Virtual tables first: their shadow tables go with them.
  for (const o of objects) if (String(o.sql).startsWith('CREATE VIRTUAL TABLE')) db.exec(`DROP TABLE "${String(o.name)}"`);
  const left = db.prepare("SELECT type, name, sql FROM sqlite_schema WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'").all() as Row[];
  for (const o of left) {
    const name = String(o.name);
    if (o.type === 'table' && name !== 'messages') db.exec(`DROP TABLE "${name}"`);
    const same = wanted.get(name);
    if (o.type === 'index' && same !== undefined && same !== normalise(String(o.sql))) db.exec(`DROP INDEX "${name}"`);
  }
}

/** The indexes DERIVED creates on messages, by name: their definitions as sqlite_schema stores them. */
function derivedIndexes(): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of DERIVED.matchAll(/CREATE INDEX IF NOT EXISTS (\w+) (ON messages [^;]+);/g)) {
    found.set(m[1] ?? '', normalise(`CREATE INDEX ${m[1]} ${m[2]}`));
  }
  return found;
}

function normalise(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim();
}

/** Feeds the search index from the table, in rowid order, a chunk a step with a progress line each. */
function fillSearchIndex(db: DatabaseSync, rows: number, onEvent: OnEvent): void {
  const chunkEnd = db.prepare(
    `SELECT max(rowid) AS r FROM (SELECT rowid FROM messages WHERE rowid > ? ORDER BY rowid LIMIT ${INDEX_CHUNK})`,
  );
  chunkEnd.setReadBigInts(true); // rowids are 64-bit
  const fill = db.prepare(
    `INSERT INTO messages_search (rowid, search_text)
     SELECT rowid, search_text FROM messages WHERE rowid > ? AND rowid <= ? AND text IS NOT NULL`,
  );
  let done = 0;
  for (let after = -(2n ** 63n); ; ) {
    const end = (chunkEnd.get(after) as Row).r;
    if (typeof end !== 'bigint') return;
    fill.run(after, end);
    done = Math.min(rows, done + INDEX_CHUNK);
    after = end;
    if (rows > INDEX_CHUNK) onEvent('building the search index', { rows_done: done, rows });
  }
}
