// The move from one SQLite file to PostgreSQL (docs/scaling-out.md): the copy command brings every message over with
// its ts as sent and its created_at, and the PostgreSQL engine then answers as the SQLite one did.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import postgres from 'postgres';
import { createPostgresStore } from '../../src/store/postgres/postgres.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { ListQuery, Message, Store } from '../../src/store/store.ts';
import { tempDir } from '../helpers.ts';
import { cluster, skipWithoutPostgres } from '../postgres-cluster.ts';
import { insertOne } from '../store/contract-helpers.ts';

// The operator's command, run as the docs give it: the wrapper that picks the pinned Node.
const COMMAND = join(import.meta.dirname, '..', '..', 'bin', 'copy-to-postgres');

function copy(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const { DATABASE_URL: _, ...inherited } = process.env;
  return spawnSync(COMMAND, args, { encoding: 'utf8', env: { ...inherited, ...env } });
}

const messages: Message[] = Array.from({ length: 2_345 }, (_, i) => ({
  messageId: i === 7 ? 'nul\u0000id' : `m${i}`,
  from: `+91${i % 13}`,
  to: '+14155550100',
  // Mixed fractions, as senders write them.
  ts: `2025-03-${String((i % 28) + 1).padStart(2, '0')}T10:00:00${['', '.5', '.50', '.123'][i % 4]}Z`,
  text: i % 10 === 0 ? null : i === 3 ? 'x\u0000y' : i % 7 === 0 ? `ЗАКАЗ ${i} Straße` : `order ${i} 100%_done`,
  // WhatsApp's non-text messages carry their type, which the copy keeps.
  ...(i % 17 === 0 && { type: 'image' }),
}));

const queries: ListQuery[] = [
  { limit: 100, offset: 0 },
  { limit: 20, offset: 40, from: '+915' },
  { limit: 50, offset: 0, since: '2025-03-20T10:00:00.5Z' },
  { limit: 50, offset: 10, q: 'ORDER 1' },
  { limit: 10, offset: 0, q: '%_' },
  { limit: 10, offset: 0, q: 'заказ STRASSE' },
  { limit: 10, offset: 0, q: '\u0000' },
  { limit: 30, offset: 0, after: { ts: '2025-03-05T10:00:00.50Z', messageId: 'm100' } },
];

async function answers(store: Store): Promise<unknown[]> {
  return [await store.stats(10), ...(await Promise.all(queries.map((q) => store.list(q))))];
}

describe('copying a SQLite database into PostgreSQL', { skip: skipWithoutPostgres() }, () => {
  test('every message arrives; PostgreSQL then answers every list and /stats as SQLite did; a second run adds nothing', async (t) => {
    const path = join(tempDir(t), 'app.db');
    let now = new Date('2025-03-01T00:00:00Z');
    const sqlite = createSqliteStore({ path, clock: () => now });
    await Promise.all(messages.slice(0, 1_000).map((m) => insertOne(sqlite, m)));
    now = new Date('2025-04-01T00:00:00Z');
    await Promise.all(messages.slice(1_000).map((m) => insertOne(sqlite, m)));
    const expected = await answers(sqlite);
    await sqlite.close();

    const url = await cluster().database('copy');
    // The target from DATABASE_URL, as docs/scaling-out.md gives it.
    const first = copy([`sqlite:///${path}`], { DATABASE_URL: url });
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout, 'read 2345 rows, inserted 2345 (the rest were there already); SQLite held 2345 up to the last row read, PostgreSQL 2345\n');
    // Run again (the target as an argument): nothing new, exit 0.
    const again = copy([`sqlite:///${path}`, url]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, 'read 2345 rows, inserted 0 (the rest were there already); SQLite held 2345 up to the last row read, PostgreSQL 2345\n');

    const store = createPostgresStore({ url, driver: postgres });
    t.after(() => store.close());
    await store.ready;
    assert.deepEqual(await answers(store), expected);
    // created_at came along: retention removes exactly the 1,000 received in March.
    assert.equal(await store.prune(new Date('2025-03-15T00:00:00Z'), 5_000), 1_000);
  });

  test('a wrong URL on either side, or a file that is not there, is refused with a message naming it', async (t) => {
    const url = await cluster().database('copy_refused');
    // The two URLs swapped: the PostgreSQL one is quoted back without its password.
    const notSqlite = copy(['postgres://lyftr:pw-secret@h/db', url]);
    assert.deepEqual([notSqlite.status, notSqlite.stderr], [1, 'copy failed: not a SQLite URL: "postgres://lyftr:***@h/db"\n']);
    const notPostgres = copy(['sqlite:///x.db', 'sqlite:///y.db']);
    assert.deepEqual([notPostgres.status, notPostgres.stderr], [1, 'copy failed: not a PostgreSQL URL: "sqlite:///y.db"\n']);
    const missing = join(tempDir(t), 'nowhere', 'app.db');
    const absent = copy([`sqlite:///${missing}`, url]);
    assert.equal(absent.status, 1);
    assert.match(absent.stderr, new RegExp(`^copy failed: cannot open ${missing}: .*\\(no such file: `));
    const usage = copy([]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /^usage: /);
  });
});
