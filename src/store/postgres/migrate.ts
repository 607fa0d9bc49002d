// Brings the database to the current schema at start (schema.ts): SCHEMA on a new database, or each named
// upgrade past its version, once. Replicas starting at once each take the same transaction-scoped
// advisory lock first, so one migrates while the others wait, then find it done.
import type { Sql, TransactionSql } from 'postgres';
import type { OnEvent } from '../store.ts';
import { SCHEMA, SCHEMA_VERSION, UNFOLDED, UPGRADES } from './schema.ts';
import { refold } from './text.ts';

/** Resolves with the schema version in the database; throws if it is newer than this build knows. */
export async function migrate(sql: Sql, onProgress: OnEvent = () => {}): Promise<number> {
  return sql.begin(async (tx) => {
    // A large table's upgrade may take minutes, and a replica waits for another's: no timeouts here.
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`SET LOCAL lock_timeout = 0`;
    await tx`SELECT pg_advisory_xact_lock(${0x6c79_6601})`;
    const [found] = await tx<{ exists: boolean }[]>`SELECT to_regclass('schema_version') IS NOT NULL AS exists`;
    if (found?.exists !== true) await tx.unsafe(SCHEMA).simple();
    const [row] = await tx<{ version: number }[]>`SELECT version FROM schema_version`;
    if (row === undefined) throw new Error('schema_version is empty');
    const { version } = row;
    if (version > SCHEMA_VERSION) {
      throw new Error(`the database's schema (version ${version}) is newer than this build's (${SCHEMA_VERSION}): run the newer build`);
    }
    for (const upgrade of UPGRADES.filter((u) => u.version > version)) {
      onProgress('upgrading the database schema', { step: upgrade.name, to_version: upgrade.version });
      await upgrade.run(tx, () => refoldAll(tx, onProgress));
      await tx`UPDATE schema_version SET version = ${upgrade.version}`;
    }
    return SCHEMA_VERSION;
  });
}

/** Folds every text that has no folded copy, with a progress line per batch on a large table. */
async function refoldAll(tx: TransactionSql, onProgress: OnEvent): Promise<void> {
  const [count] = await tx<{ n: string }[]>`SELECT count(*) AS n FROM messages WHERE ${tx.unsafe(UNFOLDED)}`;
  const rows = Number(count?.n ?? 0);
  await refold(tx, 10_000, (done) => rows > 10_000 && onProgress('folding texts for search', { rows_done: done, rows }));
}
