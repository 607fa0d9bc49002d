// Applies the current schema (schema.ts) at start. Several replicas may start at once: each takes the
// same transaction-scoped advisory lock first, so one applies the schema while the others wait, then
// find it in place (every statement is idempotent). Concurrent CREATE ... IF NOT EXISTS without the lock
// can fail on the catalog's unique indexes.
import type { Sql } from 'postgres';
import { SCHEMA, SCHEMA_VERSION } from './schema.ts';

export const MIGRATION_LOCK = 0x6c79_6601;

/** Resolves with the schema version in the database; throws if it is newer than this build knows. */
export async function migrate(sql: Sql): Promise<number> {
  const version = await sql.begin(async (tx) => {
    // A large table's CREATE INDEX may take minutes: no statement timeout for the migration itself.
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`SET LOCAL lock_timeout = 0`;
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx.unsafe(SCHEMA).simple();
    const [row] = await tx<{ version: number }[]>`SELECT version FROM schema_version`;
    return row?.version;
  });
  if (version === undefined) throw new Error('schema_version is empty after the migration');
  if (version > SCHEMA_VERSION) {
    throw new Error(`the database's schema (version ${version}) is newer than this build's (${SCHEMA_VERSION}): run the newer build`);
  }
  return version;
}
