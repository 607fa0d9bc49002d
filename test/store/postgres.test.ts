// The PostgreSQL engine's own behaviour, beyond the contract every engine passes: group commit, the
// advisory-locked migration, the stats merge, U+0000 in ids and texts, and trouble on the server (a
// stopped server, a held lock) as storeUnavailable, recovered from without a new store.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import postgres, { type Sql } from 'postgres';
import { SCHEMA_VERSION } from '../../src/store/postgres/schema.ts';
import { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/postgres.ts';
import { MERGE_BATCH, mergeDeltas } from '../../src/store/postgres/stats.ts';
import { insertRows } from '../../src/store/postgres/writer.ts';
import { isStoreUnavailable, type Message } from '../../src/store/store.ts';
import { cluster, skipWithoutPostgres } from '../postgres-cluster.ts';
import { insertOne } from './contract-helpers.ts';

const msg = (id: string, fields: Partial<Message> = {}): Message => ({
  messageId: id,
  from: '+1',
  to: '+2',
  ts: '2025-01-01T00:00:00Z',
  text: 'hello',
  ...fields,
});

async function open(t: TestContext, options: Partial<PostgresStoreOptions> = {}, url?: string): Promise<PostgresStore & { url: string }> {
  const at = url ?? (await cluster().database('store'));
  const store = createPostgresStore({ url: at, driver: postgres, ...options });
  t.after(() => store.close().catch(() => {}));
  await store.ready;
  return Object.assign(store, { url: at });
}

/** What a database's schema is made of, as the catalogs say: equal for a new database and a migrated one. */
async function schemaOf(admin: Sql): Promise<unknown> {
  const columns = await admin`
    SELECT table_name, column_name, data_type, collation_name, is_nullable, generation_expression FROM information_schema.columns
    WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`;
  const relations = await admin`SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'i', 'S') ORDER BY 1`;
  const indexes = await admin`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`;
  const triggers = await admin`SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`;
  const functions = await admin`SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1, 2`;
  const extensions = await admin`SELECT extname FROM pg_extension ORDER BY 1`;
  const version = await admin`SELECT version FROM schema_version`;
  return JSON.parse(JSON.stringify({ columns, relations, indexes, triggers, functions, extensions, version }));
}

/** The schema of a new database migrated by one store. */
async function freshSchema(t: TestContext): Promise<unknown> {
  const store = await open(t);
  const admin = postgres(store.url, { max: 1, onnotice: () => {} });
  t.after(() => admin.end());
  return schemaOf(admin);
}

const ids = async (store: PostgresStore, q: Parameters<PostgresStore['list']>[0]): Promise<[string[], number]> => {
  const page = await store.list(q);
  return [page.data.map((m) => m.messageId), page.total];
};

describe('PostgreSQL store', { skip: skipWithoutPostgres() }, () => {
  test('the live tail skips no row: one whose transaction began first and commits last is read before the rest', async (t) => {
    const store = await open(t);
    const start = await store.arrivalHead();
    const admin = postgres(store.url, { max: 1, onnotice: () => {} });
    t.after(() => admin.end());
    let inserted!: () => void;
    let release!: () => void;
    const insertedYet = new Promise<void>((r) => (inserted = r));
    const held = new Promise<void>((r) => (release = r));
    // An operator's INSERT through psql (no service columns), in a transaction left open meanwhile.
    const slow = admin.begin(async (tx) => {
      await tx`INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at) VALUES ('slow', '+1', '+2', '2025-01-01T00:00:00Z', 'x', now())`;
      inserted();
      await held;
    });
    await insertedYet;
    await insertOne(store, msg('fast'));
    assert.deepEqual(await store.arrivals(start, {}, 10), [], 'nothing past the oldest open transaction');
    release();
    await slow;
    const after = await store.arrivals(start, {}, 10);
    assert.deepEqual(after.map((a) => a.message.messageId), ['slow', 'fast']);
    assert.deepEqual(await store.arrivals(after[1]?.position ?? '', {}, 10), []);
  });

  test('inserts that arrive together are one INSERT; a 200 is answered from what RETURNING and a check say', async (t) => {
    const batches: number[] = [];
    const store = await open(t, { onCommit: (rows) => batches.push(rows) });
    await insertOne(store, msg('seen'));
    batches.length = 0;
    const outcomes = await Promise.all([
      ...Array.from({ length: 200 }, (_, i) => insertOne(store, msg(`m${i}`))),
      insertOne(store, msg('m7', { text: 'second copy' })),
      insertOne(store, msg('seen')),
    ]);
    assert.equal(outcomes.filter((o) => o === 'created').length, 200);
    assert.deepEqual(outcomes.slice(200), ['duplicate', 'duplicate']);
    // All arrived within one turn of the event loop: one statement of 201 distinct ids.
    assert.deepEqual(batches, [201]);
    const [first] = (await store.list({ limit: 1, offset: 0, q: 'second copy' })).data;
    assert.equal(first, undefined, 'the first copy is kept');
    assert.equal(store.load().pendingInserts, 0);
  });

  test('load() reports the pool: busy while statements run, never above its size, idle after', async (t) => {
    const store = await open(t, { poolSize: 3 });
    const calls = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? store.list({ limit: 5, offset: 0, q: 'hel' }) : store.stats(10)));
    // 30 calls under way, 3 connections: the pool is full, the rest wait.
    assert.deepEqual(store.load().pool, { busy: 3, size: 3 });
    await Promise.all(calls);
    assert.deepEqual(store.load(), { pendingInserts: 0, pool: { busy: 0, size: 3 } });
  });

  test('the same id from two stores (two replicas) at once is stored once, and both are answered', async (t) => {
    const one = await open(t);
    const two = await open(t, {}, one.url);
    for (let round = 0; round < 20; round += 1) {
      const batch = Array.from({ length: 30 }, (_, i) => msg(`r${round}-${i}`));
      // Opposite orders: without sorted batches the two INSERTs would deadlock on each other's ids.
      const outcomes = await Promise.all([...batch.map((m) => insertOne(one, m)), ...[...batch].reverse().map((m) => insertOne(two, m))]);
      assert.equal(outcomes.filter((o) => o === 'created').length, 30);
      assert.equal(outcomes.filter((o) => o === 'duplicate').length, 30);
    }
    assert.equal((await one.stats(0)).totalMessages, 600);
  });

  test('several stores migrating one database at once all start (advisory lock) and leave the current schema', async (t) => {
    const want = await freshSchema(t);
    const fixture = (v: number): string => readFileSync(join(import.meta.dirname, 'fixtures', `postgres-schema-v${v}.sql`), 'utf8');
    for (const start of ['new', 'new', 'version 1', 'version 3']) {
      const url = await cluster().database('migrate');
      const admin = postgres(url, { max: 1, onnotice: () => {} });
      t.after(() => admin.end());
      if (start !== 'new') {
        await admin.unsafe(fixture(start === 'version 1' ? 1 : 3)).simple();
        await admin`
          INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at) VALUES
            ('a', '+1', '+2', '2025-01-01T00:00:00Z', 'STRASSE 5', now()), ('b', '+1', '+2', '2025-01-01T00:00:01Z', 'Straße 7', now()),
            ('c', '+1', '+2', '2025-01-01T00:00:02Z', NULL, now())`;
      }
      const stores = Array.from({ length: 4 }, () => createPostgresStore({ url, driver: postgres }));
      for (const s of stores) t.after(() => s.close().catch(() => {}));
      await Promise.all(stores.map((s) => s.ready));
      await Promise.all(stores.map((s) => s.ping()));
      assert.deepEqual(await schemaOf(admin), want, start);
      const [one] = stores;
      if (start !== 'new' && one) assert.deepEqual(await ids(one, { limit: 10, offset: 0, q: 'straße' }), [['a', 'b'], 2], start);
    }
  });

  test('a version 1 database is migrated: every text folded by the service, searched through the trigram index', async (t) => {
    const url = await cluster().database('v1');
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    t.after(() => admin.end());
    await admin.unsafe(readFileSync(join(import.meta.dirname, 'fixtures', 'postgres-schema-v1.sql'), 'utf8')).simple();
    await admin`
      INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at, text_nul) VALUES
        ('v1-0', '+1', '+2', '2025-01-01T00:00:00Z', 'Your ORDER shipped', now(), NULL),
        ('v1-1', '+1', '+2', '2025-01-01T00:00:00Z', 'ÉCOLE', now(), NULL),
        ('v1-2', '+1', '+2', '2025-01-01T00:00:00Z', 'no match here', now(), NULL),
        ('v1-3', '+1', '+2', '2025-01-01T00:00:00Z', NULL, now(), NULL),
        ('v1-4', '+1', '+2', '2025-01-01T00:00:00Z', E'A\x01\x01B', now(), '\\x610062')`;
    const events: string[] = [];
    const store = await open(t, { onEvent: (m) => events.push(m) }, url);
    assert.deepEqual(events.slice(0, 1), ['upgrading the database schema']);
    assert.equal((await admin`SELECT version FROM schema_version`)[0]?.version, SCHEMA_VERSION);
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'order' }), [['v1-0'], 1]);
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'école' }), [['v1-1'], 1]);
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'a\u0000b' }), [['v1-4'], 1]);
    assert.equal(await insertOne(store, msg('v2-0', { text: 'Another Order' })), 'created');
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'ORDER' }), [['v1-0', 'v2-0'], 2]);
    // A second start finds the schema current and changes nothing.
    const before = await schemaOf(admin);
    const again = await open(t, {}, url);
    assert.deepEqual(await ids(again, { limit: 10, offset: 0, q: 'er' }), [['v1-0', 'v1-2', 'v2-0'], 3]);
    assert.deepEqual(await schemaOf(admin), before);
  });

  test("an operator's INSERT, UPDATE and DELETE through psql: search follows at once, folded by the service", async (t) => {
    const store = await open(t);
    const admin = postgres(store.url, { max: 1, onnotice: () => {} });
    t.after(() => admin.end());
    for (const [i, text] of ['an Order', 'order again', 'nothing', null].entries()) await insertOne(store, msg(`o${i}`, { text }));
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'order' }), [['o0', 'o1'], 2]);
    await admin`UPDATE messages SET text = 'ORDERED late' WHERE message_id IN ('o2', 'o3')`;
    await admin`UPDATE messages SET text = NULL WHERE message_id = 'o0'`;
    await admin`UPDATE messages SET message_id = 'o9' WHERE message_id = 'o1'`;
    await admin`INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at) VALUES ('o8', '+1', '+2', '2025-01-01T00:00:00Z', 'ÖRDER Straße', now())`;
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'order' }), [['o2', 'o3', 'o9'], 3]);
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'or' }), [['o2', 'o3', 'o9'], 3]);
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'RDER' }), [['o2', 'o3', 'o8', 'o9'], 4]);
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'örder STRASSE' }), [['o8'], 1]);
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'nothing' }), [[], 0]);
    await admin`DELETE FROM messages WHERE message_id IN ('o2', 'o9')`;
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, q: 'order' }), [['o3'], 1]);
    const [left] = await admin`SELECT count(*)::int AS n FROM messages WHERE text IS NOT NULL AND text_folded IS NULL`;
    assert.equal(left?.n, 0);
  });

  test("the stream with q: an operator's INSERT or UPDATE through psql is streamed where it matches, never skipped", async (t) => {
    const store = await open(t);
    const admin = postgres(store.url, { max: 1, onnotice: () => {} });
    t.after(() => admin.end());
    const start = await store.arrivalHead();
    await insertOne(store, msg('a', { text: 'an order' }));
    await admin`INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at) VALUES ('op', '+1', '+2', '2025-01-01T00:00:00Z', 'Operator ORDER', now())`;
    await insertOne(store, msg('b', { text: 'nothing' }));
    await admin`UPDATE messages SET text = 'ORDERED after all' WHERE message_id = 'b'`;
    await insertOne(store, msg('c', { text: 'order three' }));
    // b is read after its edit: it matches now.
    assert.deepEqual((await store.arrivals(start, { q: 'ORDER' }, 10)).map((a) => a.message.messageId), ['a', 'op', 'b', 'c']);
    await admin`UPDATE messages SET text = 'no longer' WHERE message_id = 'op'`;
    assert.deepEqual((await store.arrivals(start, { q: 'order' }, 10)).map((a) => a.message.messageId), ['a', 'b', 'c']);
  });

  test('from + q (one index on both at scale): the same answers for a heavy sender and a light one', async (t) => {
    const store = await open(t);
    const admin = postgres(store.url, { max: 1, onnotice: () => {} });
    t.after(() => admin.end());
    const heavy = Array.from({ length: 3_000 }, (_, i) => ({
      message: msg(`h${String(i).padStart(4, '0')}`, { from: '+7', text: i % 300 === 0 ? `Invoice ${i}` : 'hello' }),
      createdAt: new Date(),
    }));
    const light = [0, 1, 2].map((i) => ({ message: msg(`l${i}`, { from: '+8', text: i === 1 ? 'hello' : `an invoice ${i}` }), createdAt: new Date() }));
    assert.equal((await insertRows(admin, [...heavy, ...light])).size, heavy.length + light.length);
    const want = Array.from({ length: 10 }, (_, i) => `h${String(i * 300).padStart(4, '0')}`);
    assert.deepEqual(await ids(store, { limit: 20, offset: 0, from: '+7', q: 'INVOICE' }), [want, 10]);
    assert.deepEqual(await ids(store, { limit: 2, offset: 8, from: '+7', q: 'invoice' }), [want.slice(8), 10]);
    assert.deepEqual(await ids(store, { limit: 5, offset: 0, from: '+8', q: 'invoice' }), [['l0', 'l2'], 2]);
    assert.deepEqual(await ids(store, { limit: 5, offset: 2, from: '+8', q: 'invoice' }), [[], 2]);
    assert.deepEqual(await ids(store, { limit: 1, offset: 0, from: '+8', q: 'he' }), [['l1'], 1]);
  });

  test('U+0000 and U+0001 in ids and texts are stored exactly, ordered and searched as characters', async (t) => {
    const store = await open(t);
    const texts: [string, string | null][] = [['a', 'hello'], ['b', 'x\u0000y'], ['c', 'X\u0000Y and more'], ['d', '\u0001\u0002'], ['e', '\u0002']];
    await Promise.all(texts.map(([id, text]) => insertOne(store, msg(id, { text }))));
    const cases = [['\u0000', ['b', 'c']], ['x\u0000Y', ['b', 'c']], ['\u0000y a', ['c']], ['a\u0000', []], ['MORE', ['c']], ['y', ['b', 'c']], ['\u0002', ['d', 'e']], ['\u0001', ['d']], ['\u0001\u0001', []]] as const;
    for (const [q, want] of cases) assert.deepEqual(await ids(store, { limit: 10, offset: 0, q }), [want, want.length], JSON.stringify(q));
    const odd = ['z', 'z\u0000', 'z\u0000\u0000', 'z\u0001', 'z\u0001\u0000', 'z\u0002'];
    await Promise.all(odd.map((id) => insertOne(store, msg(id, { ts: '2026-01-01T00:00:00Z' }))));
    assert.equal(await insertOne(store, msg('z\u0000')), 'duplicate');
    // Code point order, as SQLite's BINARY: the escape keeps it.
    assert.deepEqual(await ids(store, { limit: 10, offset: 0, since: '2026-01-01T00:00:00Z' }), [odd, odd.length]);
    const after = await ids(store, { limit: 10, offset: 0, after: { ts: '2026-01-01T00:00:00Z', messageId: 'z\u0000\u0000' } });
    assert.deepEqual(after, [odd.slice(3), 11]);
    assert.deepEqual((await store.list({ limit: 10, offset: 0, q: 'x\u0000y' })).data[0]?.text, 'x\u0000y');
  });

  test('a database whose LC_CTYPE is C: one WARNING at start naming it; no other start warns', async (t) => {
    const name = `ctype_c_${process.pid}`;
    const root = cluster().admin();
    t.after(() => root.end());
    await root.unsafe(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
    const warnings: string[] = [];
    const onEvent: PostgresStoreOptions['onEvent'] = (m, _f, level) => level === 'WARNING' && warnings.push(m);
    await open(t, { onEvent }, `postgres://postgres@127.0.0.1:${cluster().port}/${name}`);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /LC_CTYPE is C\b/);
    warnings.length = 0;
    await open(t, { onEvent });
    assert.deepEqual(warnings, []);
  });

  test('stats from unmerged deltas equal stats after a merge, and retention keeps them right', async (t) => {
    let now = new Date('2025-01-01T00:00:00Z');
    const store = await open(t, { clock: () => now });
    const senders = ['+5', '+3', '+4', '+3', '+5', '+5', '+9'];
    await Promise.all(senders.map((from, i) => insertOne(store, msg(`old${i}`, { from, ts: `2025-01-0${(i % 7) + 1}T00:00:00Z` }))));
    now = new Date('2025-02-01T00:00:00Z');
    await Promise.all([insertOne(store, msg('new1', { from: '+4' })), insertOne(store, msg('new2', { from: '+4' }))]);
    const expected = {
      totalMessages: 9,
      sendersCount: 4,
      messagesPerSender: [{ from: '+4', count: 3 }, { from: '+5', count: 3 }, { from: '+3', count: 2 }],
      firstMessageTs: '2025-01-01T00:00:00Z',
      lastMessageTs: '2025-01-07T00:00:00Z',
    };
    assert.deepEqual(await store.stats(3), expected);
    const admin = postgres(store.url, { max: 1, onnotice: () => {} });
    t.after(() => admin.end());
    await mergeDeltas(admin);
    assert.equal((await admin`SELECT count(*)::int AS n FROM sender_deltas`)[0]?.n, 0);
    assert.deepEqual(await store.stats(3), expected);
    // Retention: the 7 January messages go, two by two, and the counts follow, merged or not.
    assert.equal(await store.prune(new Date('2025-01-15T00:00:00Z'), 2), 2);
    assert.equal(await store.prune(new Date('2025-01-15T00:00:00Z'), 100), 5);
    assert.equal(await store.prune(new Date('2025-01-15T00:00:00Z'), 100), 0);
    const left = { totalMessages: 2, sendersCount: 1, messagesPerSender: [{ from: '+4', count: 2 }], firstMessageTs: '2025-01-01T00:00:00Z', lastMessageTs: '2025-01-01T00:00:00Z' };
    assert.deepEqual(await store.stats(3), left);
    await mergeDeltas(admin);
    assert.deepEqual(await store.stats(3), left);
    assert.deepEqual((await admin`SELECT from_msisdn FROM sender_counts`).map((r) => r.from_msisdn), ['+4']);
    // An operator's DELETE through psql keeps them right too (statement triggers).
    await admin`DELETE FROM messages WHERE message_id = 'new1'`;
    assert.equal((await store.stats(3)).totalMessages, 1);
    assert.deepEqual((await store.list({ limit: 5, offset: 0 })).total, 1);
  });

  test('a bulk load of more deltas than one merge statement takes is merged in rounds, stats exact throughout', async (t) => {
    const store = await open(t);
    const admin = postgres(store.url, { max: 1, onnotice: () => {} });
    t.after(() => admin.end());
    // One statement, 25,000 senders: 25,000 deltas, more than MERGE_BATCH.
    assert.ok(MERGE_BATCH < 25_000);
    const rows = Array.from({ length: 25_000 }, (_, i) => ({ message: msg(`bulk${i}`, { from: `+${1_000_000 + i}` }), createdAt: new Date() }));
    assert.equal((await insertRows(admin, rows)).size, 25_000);
    const expected = { totalMessages: 25_000, sendersCount: 25_000 };
    const pick = (s: Awaited<ReturnType<PostgresStore['stats']>>): object => ({ totalMessages: s.totalMessages, sendersCount: s.sendersCount });
    assert.deepEqual(pick(await store.stats(10)), expected);
    // The store's own merge may take a round meanwhile (the advisory lock lets one merge at a time).
    const until = Date.now() + 10_000;
    while (Number((await admin`SELECT count(*) AS n FROM sender_deltas`)[0]?.n) > 0) {
      assert.ok(Date.now() < until, 'merged in time');
      await mergeDeltas(admin);
    }
    assert.deepEqual(pick(await store.stats(10)), expected);
    assert.equal((await store.list({ limit: 1, offset: 0, from: '+1000007' })).total, 1);
  });

  test('a stopped server makes every call storeUnavailable; back, the same store answers again', async (t) => {
    const store = await open(t);
    await insertOne(store, msg('before'));
    await cluster().stop();
    try {
      for (const call of [() => store.ping(), () => insertOne(store, msg('during')), () => store.list({ limit: 1, offset: 0 }), () => store.stats(10)]) {
        await assert.rejects(call(), (err) => isStoreUnavailable(err));
      }
    } finally {
      await cluster().start();
    }
    await store.ping();
    assert.equal(await insertOne(store, msg('after')), 'created');
    assert.deepEqual(await ids(store, { limit: 5, offset: 0 }), [['after', 'before'], 2]);
  });

  test('an insert that waits on a lock past lock_timeout is storeUnavailable, and the pool is not pinned', async (t) => {
    const store = await open(t);
    const admin = postgres(store.url, { max: 1, onnotice: () => {} });
    t.after(() => admin.end());
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const locked = admin.begin(async (tx) => {
      await tx`LOCK TABLE messages IN ACCESS EXCLUSIVE MODE`;
      await held;
    });
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    try {
      await assert.rejects(insertOne(store, msg('blocked')), (err) => isStoreUnavailable(err) && /55P03/.test(String(err)));
      assert.ok(Date.now() - started < 4_000, 'gave up at lock_timeout');
    } finally {
      // A failed assertion must not leave the lock held, or closing the connection waits for ever.
      release();
      await locked;
    }
    assert.equal(await insertOne(store, msg('blocked')), 'created');
  });
});
