// Copies an existing SQLite database's messages into PostgreSQL, for a move to several replicas:
//   DATABASE_URL=postgres://user:pass@host:5432/lyftr bin/copy-to-postgres sqlite:///data/app.db
// (the target may also be the second argument; from the environment its password stays out of `ps`).
// The target's schema is applied first (as a replica would at start). Rows go over in batches by rowid,
// each one INSERT ... ON CONFLICT DO NOTHING keeping message_id, ts exactly as sent and created_at (so
// retention still counts from receipt); a row already there is left as it is, so the command can be run
// again, or while the SQLite service still takes traffic and once more after it stopped. It ends by
// comparing the two counts. Needs the postgres package (`npm ci`).
import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { parseDatabase, redactUrl } from '../src/database-url.ts';
import { loadPostgresDriver } from '../src/store/postgres/driver.ts';
import { migrate } from '../src/store/postgres/migrate.ts';
import { mergeDeltas } from '../src/store/postgres/stats.ts';
import { insertRows } from '../src/store/postgres/writer.ts';
import type { Message } from '../src/store/store.ts';

const BATCH = 2_000;

type Row = {
  rowid: number;
  message_id: string;
  from_msisdn: string;
  to_msisdn: string;
  ts: string;
  text: string | null;
  created_at: string | null;
  type: string | null;
};

export type CopyReport = { read: number; inserted: number; sqliteCount: number; postgresCount: number };

export async function copyToPostgres(sqliteUrl: string, postgresUrl: string, log: (line: string) => void = () => {}): Promise<CopyReport> {
  const source = parseDatabase(sqliteUrl);
  const target = parseDatabase(postgresUrl);
  if (source?.kind !== 'sqlite') throw new Error(`not a SQLite URL: ${JSON.stringify(redactUrl(sqliteUrl))}`);
  if (target?.kind !== 'postgres') throw new Error(`not a PostgreSQL URL: ${JSON.stringify(redactUrl(postgresUrl))}`);
  const db = openReadOnly(source.path);
  const postgres = await loadPostgresDriver();
  const sql = postgres(target.url, { max: 2, onnotice: () => {} });
  try {
    await migrate(sql);
    // A file from before the type column (not yet opened by this version of the service) has none.
    const hasType = (db.prepare('PRAGMA table_info(messages)').all() as { name: string }[]).some((c) => c.name === 'type');
    const page = db.prepare(
      `SELECT rowid, message_id, from_msisdn, to_msisdn, ts, text, created_at, ${hasType ? 'type' : 'NULL AS type'}
       FROM messages WHERE rowid > ? ORDER BY rowid LIMIT ?`,
    );
    const copiedAt = new Date();
    let after = 0;
    let read = 0;
    let inserted = 0;
    for (;;) {
      const rows = page.all(after, BATCH) as Row[];
      const last = rows.at(-1);
      if (last === undefined) break;
      const batch = rows.map((r) => ({ message: toMessage(r), createdAt: receivedAt(r.created_at, copiedAt) }));
      inserted += (await insertRows(sql, batch)).size;
      read += rows.length;
      after = last.rowid;
      if (read % (BATCH * 50) === 0) log(`copied ${read} rows`);
    }
    // The stats deltas the copy appended (one per sender per batch), merged now rather than by the
    // replicas' first minutes.
    while ((await mergeDeltas(sql)) > 0);
    // The rows up to the last one read: those stored since (the service still taking traffic) are the next run's.
    const sqliteCount = Number((db.prepare('SELECT count(*) AS n FROM messages WHERE rowid <= ?').get(after) as { n: number }).n);
    const [counted] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM messages`;
    return { read, inserted, sqliteCount, postgresCount: Number(counted?.n) };
  } finally {
    db.close();
    await sql.end({ timeout: 5 });
  }
}

/** Read-only: the service may still be running on it (WAL lets both read and write at once). */
function openReadOnly(path: string): DatabaseSync {
  try {
    return new DatabaseSync(path, { readOnly: true });
  } catch (err) {
    const hint = existsSync(path) ? '' : ' (no such file: sqlite:///relative/path or sqlite:////absolute/path, as the host sees it)';
    throw new Error(`cannot open ${path}: ${err instanceof Error ? err.message : String(err)}${hint}`);
  }
}

function toMessage(r: Row): Message {
  const message: Message = { messageId: r.message_id, from: r.from_msisdn, to: r.to_msisdn, ts: r.ts, text: r.text };
  if (r.type !== null) message.type = r.type;
  return message;
}

/** created_at as the SQLite engine wrote it (ISO-8601); a row without a readable one counts from the copy. */
function receivedAt(value: string | null, fallback: Date): Date {
  const ms = value === null ? NaN : Date.parse(value);
  return Number.isNaN(ms) ? fallback : new Date(ms);
}

if (import.meta.main) {
  const [from, given] = process.argv.slice(2);
  const to = given ?? process.env.DATABASE_URL;
  if (from === undefined || to === undefined) {
    process.stderr.write('usage: DATABASE_URL=postgres://user:pass@host:port/db bin/copy-to-postgres sqlite:///path/app.db [postgres-url]\n');
    process.exit(2);
  }
  copyToPostgres(from, to, (line) => process.stdout.write(`${line}\n`)).then(
    (r) => {
      process.stdout.write(
        `read ${r.read} rows, inserted ${r.inserted} (the rest were there already); SQLite held ${r.sqliteCount} up to the last row read, PostgreSQL ${r.postgresCount}\n`,
      );
      // PostgreSQL may hold more (messages taken by the replicas already), never fewer.
      process.exit(r.postgresCount >= r.sqliteCount ? 0 : 1);
    },
    (err: unknown) => {
      process.stderr.write(`copy failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
