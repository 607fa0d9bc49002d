// What only the SQLite engine has: its file, its migrations, its one connection, and an operator's
// sqlite3 CLI on the live file. The rules every engine shares are in store-contract.ts.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { SCHEMA_VERSION } from '../../src/store/sqlite/schema.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Message } from '../../src/store/store.ts';
import { getJson, message, postSigned, startApp, tempDir, waitFor } from '../helpers.ts';
import { insertOne } from './contract-helpers.ts';

/** The one value `sql` selects, read from the file through a connection of its own. */
function readValue(path: string, sql: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return Number(Object.values(db.prepare(sql).get() ?? {})[0]);
  } finally {
    db.close();
  }
}

const msg = (id: string, fields: Partial<Message> = {}): Message => ({
  messageId: id,
  from: '+1',
  to: '+2',
  ts: '2025-01-01T00:00:00Z',
  text: null,
  ...fields,
});

const SEED_ROWS = `
  INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at) VALUES
    ('late', '+1', '+2', '2025-01-01T00:00:00.5Z', 'PARCEL Straße', '2025-01-01T00:00:00Z'),
    ('early', '+3', '+2', '2025-01-01T00:00:00Z', 'parcel a', '2025-01-01T00:00:00Z'),
    ('none', '+1', '+2', '2025-01-01T00:00:01Z', NULL, '2025-01-01T00:00:00Z');`;

/** What a migrated file must answer: its rows in time order, stats counted, search over every text. */
async function assertMigrated(path: string, events: string[]): Promise<void> {
  const store = createSqliteStore({ path, onEvent: (m) => events.push(m) });
  try {
    assert.deepEqual((await store.list({ limit: 10, offset: 0 })).data.map((m) => m.messageId), ['early', 'late', 'none']);
    const stats = await store.stats(10);
    assert.deepEqual(
      [stats.totalMessages, stats.sendersCount, stats.messagesPerSender, stats.firstMessageTs],
      [3, 2, [{ from: '+1', count: 2 }, { from: '+3', count: 1 }], '2025-01-01T00:00:00Z'],
    );
    const found = await store.list({ limit: 10, offset: 0, q: 'PARCEL' });
    assert.deepEqual([found.data.map((m) => m.messageId), found.total], [['early', 'late'], 2]);
    // Rows stored before the stream existed take positions (in rowid order); a new one comes after them.
    const head = await store.arrivalHead();
    assert.equal((await store.arrivals('0', {}, 10)).length, 3);
    assert.equal(await insertOne(store, msg('new', { text: 'parcel c' })), 'created');
    assert.deepEqual((await store.arrivals(head, {}, 10)).map((a) => a.message.messageId), ['new']);
    assert.equal((await store.list({ limit: 10, offset: 0, q: 'parcel' })).total, 3);
    // Texts stored before Unicode folding are folded by the migration.
    assert.deepEqual((await store.list({ limit: 10, offset: 0, q: 'STRASSE' })).data.map((m) => m.messageId), ['late']);
  } finally {
    await store.close();
  }
  const db = new DatabaseSync(path, { readOnly: true });
  assert.equal((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, SCHEMA_VERSION);
  db.close();
}

describe('SQLite engine: migrations', () => {
  test("the seed's bare table: rows kept, ordering, stats and search derived", async (t) => {
    const path = join(tempDir(t), 'seed.db');
    const seed = new DatabaseSync(path);
    seed.exec(`CREATE TABLE messages (message_id TEXT NOT NULL PRIMARY KEY, from_msisdn TEXT NOT NULL,
      to_msisdn TEXT NOT NULL, ts TEXT NOT NULL, text TEXT, created_at TEXT NOT NULL);
      CREATE INDEX idx_messages_ts ON messages (ts, message_id);
      CREATE INDEX idx_messages_from ON messages (from_msisdn);${SEED_ROWS}`);
    seed.close();
    const events: string[] = [];
    await assertMigrated(path, events);
    assert.deepEqual(events, ['migrating database', 'database migrated']);
  });

  test('the schema this project shipped as version 6: its derived tables and triggers replaced', async (t) => {
    const path = join(tempDir(t), 'v6.db');
    const v6 = new DatabaseSync(path);
    v6.exec(readFileSync(join(import.meta.dirname, 'fixtures', 'schema-v6.sql'), 'utf8'));
    v6.exec(`INSERT INTO message_totals VALUES (0, 0, 0); ${SEED_ROWS} PRAGMA user_version = 6;`);
    v6.close();
    const events: string[] = [];
    await assertMigrated(path, events);
    assert.deepEqual(events, ['migrating database', 'database migrated']);
    const db = new DatabaseSync(path, { readOnly: true });
    const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'messages_search%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    db.close();
    assert.deepEqual(tables, ['arrival_seq', 'message_totals', 'messages', 'search_state', 'sender_counts']);
  });

  /** A file as version 8 shipped (test/store/fixtures/schema-v8.sql), holding SEED_ROWS; `extra`: SQL run first. */
  const v8File = (path: string, extra = ''): void => {
    const v8 = new DatabaseSync(path);
    v8.exec(readFileSync(join(import.meta.dirname, 'fixtures', 'schema-v8.sql'), 'utf8'));
    v8.exec(`${extra} INSERT INTO message_totals VALUES (0, 0); INSERT INTO search_state VALUES (0, 0); ${SEED_ROWS} PRAGMA user_version = 8;`);
    v8.close();
  };

  test('versions 8 and 9 (ASCII folding by SQL): texts folded again by the service', async (t) => {
    for (const version of [8, 9]) {
      const path = join(tempDir(t), `v${version}.db`);
      const file = new DatabaseSync(path);
      file.exec(readFileSync(join(import.meta.dirname, 'fixtures', `schema-v${version}.sql`), 'utf8'));
      const totals = version === 8 ? '(0, 0)' : '(0, 0, 0)';
      file.exec(`INSERT INTO message_totals VALUES ${totals}; INSERT INTO search_state VALUES (0, 0); ${SEED_ROWS} PRAGMA user_version = ${version};`);
      file.close();
      const events: string[] = [];
      await assertMigrated(path, events);
      assert.deepEqual(events, ['migrating database', 'database migrated'], `version ${version}`);
    }
  });

  test('versions 11 and 12 (rows numbered for the stream): their rows keep their positions', async (t) => {
    for (const version of [11, 12]) {
      const path = join(tempDir(t), `v${version}.db`);
      const file = new DatabaseSync(path);
      file.exec(readFileSync(join(import.meta.dirname, 'fixtures', `schema-v${version}.sql`), 'utf8'));
      file.exec(`INSERT INTO message_totals VALUES (0, 0); INSERT INTO search_state VALUES (0, 0); INSERT INTO arrival_seq VALUES (0, 0);
        ${SEED_ROWS} DELETE FROM messages WHERE message_id = 'none';
        INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, created_at) VALUES ('none', '+1', '+2', '2025-01-01T00:00:01Z', 'x');
        PRAGMA user_version = ${version};`);
      const before = file.prepare('SELECT message_id, arrival FROM messages ORDER BY arrival').all().map((r) => ({ ...r }));
      file.close();
      assert.deepEqual(before, [{ message_id: 'late', arrival: 1 }, { message_id: 'early', arrival: 2 }, { message_id: 'none', arrival: 4 }]);
      const events: string[] = [];
      await assertMigrated(path, events);
      assert.deepEqual(events, ['migrating database', 'database migrated'], `version ${version}`);
      const db = new DatabaseSync(path, { readOnly: true });
      const after = db.prepare("SELECT message_id, arrival FROM messages WHERE message_id <> 'new' ORDER BY arrival").all().map((r) => ({ ...r }));
      const last = { ...db.prepare("SELECT arrival FROM messages WHERE message_id = 'new'").get() };
      db.close();
      assert.deepEqual(after, before, `version ${version}`);
      assert.deepEqual(last, { arrival: 5 }, `version ${version}`);
    }
  });

  test('version 7 (without the time-and-text index) gains the index; deep pages of a q go through it', async (t) => {
    const path = join(tempDir(t), 'v7.db');
    v8File(path, 'DROP INDEX idx_messages_ts_text;');
    const events: string[] = [];
    await assertMigrated(path, events);
    assert.deepEqual(events, ['migrating database', 'database migrated']);
    const store = createSqliteStore({ path });
    t.after(() => store.close());
    for (let i = 0; i < 40; i += 1) await insertOne(store, msg(`p${String(i).padStart(2, '0')}`, { ts: `2025-02-01T00:00:${String(i).padStart(2, '0')}Z`, text: i % 2 ? 'Parcel odd' : 'even' }));
    const db = new DatabaseSync(path, { readOnly: true });
    const index = db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'idx_messages_ts_text'").get() as { sql: string } | undefined;
    db.close();
    assert.match(String(index?.sql), /\(ts_key, message_id, search_text\)/);
    // A short q is matched row by row, through that index.
    const deep = await store.list({ limit: 3, offset: 18, q: 'od' });
    assert.deepEqual([deep.data.map((m) => m.messageId), deep.total, deep.more], [['p37', 'p39'], 20, false]);
  });

  test('large files report progress while the search index is built', async (t) => {
    const path = join(tempDir(t), 'big.db');
    const seed = new DatabaseSync(path);
    seed.exec(`CREATE TABLE messages (message_id TEXT NOT NULL PRIMARY KEY, from_msisdn TEXT NOT NULL,
      to_msisdn TEXT NOT NULL, ts TEXT NOT NULL, text TEXT, created_at TEXT NOT NULL);
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250000)
      INSERT INTO messages SELECT 'm' || i, '+1', '+2', '2025-01-01T00:00:00Z', 'text ' || i, 'x' FROM n;`);
    seed.close();
    const lines: [string, Record<string, unknown>][] = [];
    const store = createSqliteStore({ path, onEvent: (m, f) => lines.push([m, f ?? {}]) });
    t.after(() => store.close());
    // Each long step says how far it got, more than once, up to every row.
    for (const step of ['folding texts for search', 'building the search index']) {
      const done = lines.filter(([m]) => m === step).map(([, f]) => Number(f.rows_done));
      assert.ok(done.length >= 2, `${step}: ${done.length} progress lines`);
      assert.deepEqual(done, done.toSorted((a, b) => a - b), step);
      assert.equal(done.at(-1), 250_000, step);
      assert.ok(lines.every(([m, f]) => m !== step || f.rows === 250_000), step);
    }
    assert.deepEqual([lines[0]?.[0], lines.at(-1)?.[0]], ['migrating database', 'database migrated']);
    assert.equal((await store.list({ limit: 1, offset: 0, q: 'text 249999' })).total, 1);
  });

  test('an up-to-date file opens without migration events; a newer one is refused, not misread', async (t) => {
    const path = join(tempDir(t), 'a.db');
    await createSqliteStore({ path }).close();
    const events: string[] = [];
    await createSqliteStore({ path, onEvent: (m) => events.push(m) }).close();
    assert.deepEqual(events, []);
    const db = new DatabaseSync(path);
    db.exec('PRAGMA user_version = 99');
    db.close();
    assert.throws(() => createSqliteStore({ path }), /newer/);
  });
});

describe('SQLite engine: the writer', () => {
  test('a row that fails for a reason of its own does not fail the others in its batch', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const store = createSqliteStore({ path });
    t.after(() => store.close());
    const other = new DatabaseSync(path);
    other.exec("CREATE TRIGGER poison BEFORE INSERT ON messages WHEN new.message_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    other.close();
    const results = await Promise.allSettled([insertOne(store, msg('ok-1')), insertOne(store, msg('poison')), insertOne(store, msg('ok-2'))]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal((await store.list({ limit: 10, offset: 0 })).total, 2);
    // insertMany is one transaction: its other messages are not stored either; the batch's others are.
    const many = await Promise.allSettled([store.insertMany([msg('g1'), msg('poison'), msg('g2')]), store.insertMany([msg('ok-3'), msg('ok-4')])]);
    assert.deepEqual(many.map((r) => r.status), ['rejected', 'fulfilled']);
    const stored = (await store.list({ limit: 10, offset: 0 })).data.map((m) => m.messageId);
    assert.deepEqual(stored.toSorted(), ['ok-1', 'ok-2', 'ok-3', 'ok-4']);
    // A row a trigger skips silently was not stored: an error for its request, never `created`.
    const skipping = new DatabaseSync(path);
    skipping.exec("CREATE TRIGGER skip BEFORE INSERT ON messages WHEN new.message_id = 'skip' BEGIN SELECT RAISE(IGNORE); END");
    skipping.close();
    const skipped = await Promise.allSettled([insertOne(store, msg('skip')), insertOne(store, msg('ok-5'))]);
    assert.deepEqual(skipped.map((r) => r.status), ['rejected', 'fulfilled']);
    assert.equal((await store.list({ limit: 10, offset: 0 })).total, 5);
  });

  test('a request of many messages (several INSERT statements): outcomes in order, positions without a gap', async (t) => {
    const store = createSqliteStore({ path: join(tempDir(t), 'a.db') });
    t.after(() => store.close());
    assert.equal(await insertOne(store, msg('m70')), 'created');
    const head = await store.arrivalHead();
    // 150 messages: m70 stored already, m5 sent again further on, in another statement than its first copy.
    const ids = Array.from({ length: 150 }, (_, i) => (i === 100 ? 'm5' : `m${i}`));
    const outcomes = await store.insertMany(ids.map((id, i) => msg(id, { text: `copy ${i}` })));
    assert.deepEqual(
      outcomes.flatMap((o, i) => (o === 'duplicate' ? [ids[i]] : [])),
      ['m70', 'm5'],
    );
    const arrivals = await store.arrivals(head, {}, 200);
    assert.deepEqual(arrivals.map((a) => a.message.messageId), ids.filter((id, i) => id !== 'm70' && i !== 100));
    assert.deepEqual(arrivals.map((a) => Number(a.position) - Number(head)), Array.from({ length: 148 }, (_, i) => i + 1));
    assert.equal((await store.list({ limit: 1, offset: 0, q: 'copy 100' })).total, 0, 'the first copy of m5 kept');
  });

  test("':memory:' works alike", async (t) => {
    const store = createSqliteStore({ path: ':memory:' });
    t.after(() => store.close());
    assert.deepEqual(await Promise.all([insertOne(store, msg('a', { text: 'hello' })), insertOne(store, msg('a'))]), ['created', 'duplicate']);
    assert.equal((await store.list({ limit: 10, offset: 0, q: 'HELLO' })).total, 1);
  });
});

describe('SQLite engine: an erasure cut short', () => {
  test('by a crash (SIGKILL) part-way: whole batches went, the rest stayed; repeated, it erases the rest', async (t) => {
    const path = join(tempDir(t), 'erase.db');
    const store = createSqliteStore({ path });
    const rows = Array.from({ length: 5_000 }, (_, i) => msg(`p${i}`, { from: '+9', text: `private ${i}` }));
    for (let i = 0; i < rows.length; i += 500) await Promise.all(rows.slice(i, i + 500).map((m) => insertOne(store, m)));
    await insertOne(store, msg('other', { from: '+8', text: 'public' }));
    const count = (): number => readValue(path, "SELECT count(*) FROM messages WHERE from_msisdn = '+9'");
    await store.close();
    // The erasure in a process of its own, killed once its first batch is gone.
    const module = JSON.stringify(new URL('../../src/store/sqlite/sqlite-store.ts', import.meta.url).href);
    const script = `import { createSqliteStore } from ${module}; await createSqliteStore({ path: ${JSON.stringify(path)} }).erase({ from: '+9' });`;
    const child = spawn(process.execPath, ['--input-type=module', '--eval', script], { stdio: 'inherit' });
    const exited = new Promise((r) => child.once('exit', r));
    await waitFor(() => count() < rows.length, 10_000, 'the first batch erased');
    child.kill('SIGKILL');
    await exited;
    const left = count();
    // The kill lands within a poll (20 ms) of the first batch; the erasure takes about a second more.
    assert.ok(left > 0 && left < rows.length && left % 50 === 0, `whole batches of 50 went, the rest stayed (${left} left)`);

    const again = createSqliteStore({ path });
    t.after(() => again.close());
    assert.equal(await again.erase({ from: '+9' }), left);
    assert.equal(count(), 0);
    const stats = await again.stats(10);
    assert.deepEqual([stats.totalMessages, stats.messagesPerSender], [1, [{ from: '+8', count: 1 }]]);
    assert.deepEqual((await again.list({ limit: 10, offset: 0, q: 'private' })).total, 0);
  });
});

describe("SQLite engine: the search index's automatic merges around an erasure", () => {
  test('off once the rows are gone, on again after the scrub; a file a crash left with them off has them back at the next start', async (t) => {
    const path = join(tempDir(t), 'merges.db');
    const automerge = (): number => readValue(path, "SELECT v FROM messages_search_config WHERE k = 'automerge'");
    const events: string[] = [];
    const store = createSqliteStore({ path, onEvent: (m) => events.push(m) });
    await Promise.all(Array.from({ length: 300 }, (_, i) => insertOne(store, msg(`m${i}`, { from: '+9', text: `private ${i}` }))));
    assert.equal(automerge(), 16);
    assert.equal(await store.erase({ from: '+9' }), 300);
    // The scrub has at most begun: its merges run, paced, before the automatic ones come back.
    assert.equal(automerge(), 0);
    await waitFor(() => events.includes('erased messages scrubbed from the database files'), 30_000, 'the scrub');
    assert.equal(automerge(), 16);

    // As a crash between the two would leave the file.
    const other = new DatabaseSync(path);
    other.exec("INSERT INTO messages_search (messages_search, rank) VALUES ('automerge', 0)");
    other.close();
    await store.close();
    const again = createSqliteStore({ path });
    t.after(() => again.close());
    assert.equal(automerge(), 16);
  });
});

describe('SQLite engine: the sort key (schema.ts sortKey), as the store orders by it', () => {
  test('chronological across mixed precision; one instant at any precision is one key', async (t) => {
    const chronological = [
      '2024-12-31T23:59:59.999999Z',
      '2025-01-15T10:00:00Z',
      '2025-01-15T10:00:00.001Z',
      '2025-01-15T10:00:00.01Z',
      '2025-01-15T10:00:00.09Z',
      '2025-01-15T10:00:00.1Z',
      '2025-01-15T10:00:00.49Z',
      '2025-01-15T10:00:00.5Z',
      '2025-01-15T10:00:00.51Z',
      '2025-01-15T10:00:00.9999Z',
      '2025-01-15T10:00:01Z',
      '2025-01-15T10:00:10Z',
    ];
    const store = createSqliteStore({ path: join(tempDir(t), 'a.db') });
    t.after(() => store.close());
    // Ids in reverse, so that only the instant can put them in order.
    await Promise.all(chronological.map((ts, i) => insertOne(store, msg(`m${99 - i}`, { ts }))));
    assert.deepEqual((await store.list({ limit: 100, offset: 0 })).data.map((m) => m.ts), chronological);
    // since '…:00.5000Z' names the instant of '…:00.5Z': inclusive.
    const since = await store.list({ limit: 100, offset: 0, since: '2025-01-15T10:00:00.5000Z' });
    assert.deepEqual(since.data.map((m) => m.ts), chronological.slice(7));
    const after = await store.list({ limit: 100, offset: 0, after: { ts: '2025-01-15T10:00:00.0Z', messageId: 'm98' } });
    assert.deepEqual(after.data.map((m) => m.ts), chronological.slice(2));
  });
});

describe('SQLite engine: rows waiting for the search index', () => {
  test('indexed in steps along the commits; searched meanwhile row by row; an operator may delete or edit either', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const store = createSqliteStore({ path, thresholds: { indexStep: 16 } });
    t.after(() => store.close());
    const upto = (): number => readValue(path, 'SELECT upto FROM search_state');
    // Batches of 10 (one transaction each): some rows end in the index, the last ones wait.
    for (let b = 0; b < 7; b += 1) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => insertOne(store, msg(`m${b * 10 + i}`, { text: i % 2 ? `Ölpreis ${b}-${i}` : 'other' }))));
    }
    assert.ok(upto() > 0 && upto() < 70, `indexed up to row ${upto()} of 70`);
    const total = async (q: string, since?: string): Promise<number> =>
      (await store.list({ limit: 5, offset: 0, q, ...(since !== undefined && { since }) })).total;
    assert.equal(await total('ÖLPREIS'), 35);
    assert.equal(await total('ölpreis 6-'), 5, 'the last batch');
    assert.equal(await total('ölpreis 0-'), 5, 'the first batch');
    assert.equal(await total('ölpreis', '2025-01-01T00:00:00Z'), 35);
    const cli = new DatabaseSync(path, { timeout: 5_000 });
    cli.exec("DELETE FROM messages WHERE message_id IN ('m1', 'm61'); UPDATE messages SET text = 'ÖLPREIS again' WHERE message_id IN ('m2', 'm62')");
    cli.close();
    assert.equal(await total('ölpreis'), 35);
    assert.equal(await total('ölpreis again'), 2);
    const page = await store.list({ limit: 2, offset: 0, q: 'ölpreis AGAIN' });
    assert.deepEqual(page.data.map((m) => m.messageId), ['m2', 'm62']);
    // Every row but the first ten deleted: new rows take rowids the index covers already, and are indexed at once.
    const cut = new DatabaseSync(path, { timeout: 5_000 });
    cut.exec("DELETE FROM messages WHERE rowid > 10");
    cut.close();
    assert.ok(upto() > 20);
    await Promise.all(Array.from({ length: 5 }, (_, i) => insertOne(store, msg(`again${i}`, { text: `Wiederkehr ${i}` }))));
    assert.equal(await total('WIEDERKEHR'), 5);
    assert.equal((await store.stats(1)).totalMessages, 14); // m0 to m9 but m1, and these five
    // An operator's row there too: found before the service folds it, and once folded (along the next commit).
    const operator = new DatabaseSync(path, { timeout: 5_000 });
    operator.exec("INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at) VALUES ('hand', '+1', '+2', '2025-01-02T00:00:00Z', 'WIEDERKEHR von Hand', 'x')");
    operator.close();
    assert.equal(await total('wiederkehr'), 6);
    await insertOne(store, msg('later', { text: 'später' }));
    assert.ok(upto() > 20);
    assert.deepEqual([await total('wiederkehr'), await total('VON HAND')], [6, 1]);
  });
});

describe('SQLite engine: texts holding U+0000, which the trigram index cannot hold', () => {
  test('found after the NUL by every way a q is matched, counted once, pages and totals alike', async (t) => {
    const store = createSqliteStore({ path: join(tempDir(t), 'a.db') });
    t.after(() => store.close());
    await insertOne(store, msg('plain', { text: 'Order here' }));
    await insertOne(store, msg('nul', { text: 'a\u0000Order THERE', ts: '2025-01-01T00:00:01Z' }));
    const search = async (q: string, from?: string): Promise<[string[], number]> => {
      const page = await store.list({ limit: 10, offset: 0, q, ...(from !== undefined && { from }) });
      return [page.data.map((m) => m.messageId), page.total];
    };
    assert.deepEqual(await search('or'), [['plain', 'nul'], 2], 'scan, 2 characters');
    assert.deepEqual(await search('ORDER'), [['plain', 'nul'], 2], 'trigram index');
    assert.deepEqual(await search('ORDER', '+1'), [['plain', 'nul'], 2], 'walk of a sender');
    assert.deepEqual(await search('there'), [['nul'], 1]);
    assert.deepEqual(await search('a\u0000o'), [['nul'], 1], 'a q holding a NUL');
    assert.deepEqual(await search('\u0000'), [['nul'], 1]);
    assert.deepEqual(await search('ao'), [[], 0], 'the NUL is a character, not skipped');
    assert.deepEqual(await search('aor'), [[], 0], 'nor by the trigram index');
    assert.deepEqual(await search('aor', '+1'), [[], 0]);
    const since = await store.list({ limit: 10, offset: 0, q: 'aor', since: '2025-01-01T00:00:00Z' });
    assert.deepEqual([since.data, since.total], [[], 0]);
  });
});

describe('SQLite engine: files the service creates', () => {
  test('the database file, its -wal and -shm are readable by the service user only; new folders 0700', async (t) => {
    const root = tempDir(t);
    const path = join(root, 'data', 'nested', 'app.db');
    const store = createSqliteStore({ path });
    t.after(() => store.close());
    assert.equal(await insertOne(store, msg('a', { text: 'private' })), 'created');
    const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);
    assert.deepEqual([mode(join(root, 'data')), mode(join(root, 'data', 'nested'))], ['700', '700']);
    assert.deepEqual([path, `${path}-wal`, `${path}-shm`].map(mode), ['600', '600', '600']);
  });
});

describe("an operator's sqlite3 CLI on the live file", () => {
  const hasCli = spawnSync('sqlite3', ['-version']).status === 0;

  test("an INSERT through sqlite3 takes the next stream position and reaches a stream within its poll", async (t) => {
    if (!hasCli && process.env.CI !== 'true') return t.skip('no sqlite3 CLI on this machine');
    const path = join(tempDir(t), 'tail.db');
    const store = createSqliteStore({ path });
    t.after(() => store.close());
    assert.equal(await insertOne(store, msg('first')), 'created');
    const head = await store.arrivalHead();
    let woken = false;
    t.after(store.watchArrivals(() => (woken = true)));
    const wake = async (): Promise<void> => {
      for (const until = Date.now() + 5_000; !woken; await new Promise((r) => setTimeout(r, 20))) assert.ok(Date.now() < until, 'never woken');
      woken = false;
    };
    await wake(); // the watch's first poll wakes once whatever happened
    const run = spawnSync('sqlite3', ['-bail', path, "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at) VALUES ('by-hand', '+1', '+2', '2025-01-01T00:00:00Z', 'hi', '2025-01-01T00:00:00Z')"], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    await wake();
    assert.equal(await insertOne(store, msg('after')), 'created');
    const arrivals = await store.arrivals(head, {}, 10);
    assert.deepEqual(arrivals.map((a) => a.message.messageId), ['by-hand', 'after']);
    const stats = await store.stats(10);
    assert.deepEqual([stats.totalMessages, stats.messagesPerSender], [3, [{ from: '+1', count: 3 }]]);
    assert.equal((await store.list({ limit: 10, offset: 0, q: 'HI' })).total, 1);
    assert.ok(Number(arrivals[0]?.position) > Number(head) && Number(arrivals[1]?.position) > Number(arrivals[0]?.position));
  });

  test('SELECT, DELETE and UPDATE while the service runs; /stats, total and search stay right', async (t) => {
    // CI installs Debian's sqlite3 (3.40 on Debian 12): there a missing CLI fails the test.
    if (!hasCli && process.env.CI !== 'true') return t.skip('no sqlite3 CLI on this machine');
    const app = await startApp(t);
    const send = async (id: string, from: string, text: string): Promise<void> => {
      assert.equal((await postSigned(app.url, message({ message_id: id, from, text }))).status, 200);
    };
    await send('a', '+911', 'Parcel one');
    await send('b', '+911', 'parcel two');
    await send('c', '+922', 'invoice three');
    const cli = (sql: string): string => {
      const run = spawnSync('sqlite3', ['-bail', app.dbPath, sql], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      return run.stdout.trim();
    };
    assert.equal(cli("SELECT message_id FROM messages WHERE text LIKE '%parcel%' ORDER BY message_id"), 'a\nb');
    cli("DELETE FROM messages WHERE message_id = 'a'");
    cli("UPDATE messages SET text = 'parcel moved', from_msisdn = '+922' WHERE message_id = 'c'");
    cli("UPDATE messages SET text = 'ЁЛКА у ворот, Straße 5' WHERE message_id = 'b'");

    const stats = (await getJson(`${app.url}/stats`)).body as Record<string, unknown>;
    assert.deepEqual([stats.total_messages, stats.senders_count, stats.messages_per_sender], [
      2,
      2,
      [{ from: '+911', count: 1 }, { from: '+922', count: 1 }],
    ]);
    const search = async (q: string): Promise<[string[], number]> => {
      const body = (await getJson(`${app.url}/messages?q=${q}`)).body as { data: { message_id: string }[]; total: number };
      return [body.data.map((m) => m.message_id), body.total];
    };
    // Before the service folds the edited texts again, and after (an insert gives its writer the turn).
    for (const round of ['before', 'after']) {
      assert.deepEqual(await search('PARCEL'), [['c'], 1], round);
      assert.deepEqual(await search(encodeURIComponent('ёлка')), [['b'], 1], round);
      assert.deepEqual(await search('STRASSE'), [['b'], 1], round);
      assert.deepEqual(await search('two'), [[], 0], round);
      assert.deepEqual(await search('invoice'), [[], 0], round);
      assert.deepEqual(await search('one'), [[], 0], round);
      await send(`d-${round}`, '+933', 'unrelated');
    }
    assert.equal(cli('SELECT count(*) FROM messages WHERE search_text IS NULL AND text IS NOT NULL'), '0');
    assert.equal(cli("PRAGMA integrity_check; INSERT INTO messages_search (messages_search) VALUES ('integrity-check');"), 'ok');
  });

  test('INSERT OR REPLACE as docs/storage.md gives it (recursive_triggers on): counts and search stay right', async (t) => {
    if (!hasCli && process.env.CI !== 'true') return t.skip('no sqlite3 CLI on this machine');
    const path = join(tempDir(t), 'replace.db');
    // Every row in the search index at once: the replaced row's trigrams are there to be removed.
    const store = createSqliteStore({ path, thresholds: { indexStep: 1 } });
    t.after(() => store.close());
    assert.deepEqual(await store.insertMany([msg('a', { text: 'first text' }), msg('b', { text: 'other' })]), ['created', 'created']);
    const run = spawnSync('sqlite3', ['-bail', path, `PRAGMA recursive_triggers = ON;
      INSERT OR REPLACE INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at) VALUES ('a', '+1', '+2', '2025-01-01T00:00:00Z', 'edited text', 'x')`], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal((await store.stats(10)).totalMessages, 2);
    assert.deepEqual([(await store.list({ limit: 10, offset: 0, q: 'first text' })).total, (await store.list({ limit: 10, offset: 0, q: 'EDITED' })).total], [0, 1]);
  });
});
