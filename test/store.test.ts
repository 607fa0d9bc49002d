import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test, type TestContext } from 'node:test';
import { createSqliteStore, type SqliteStoreOptions } from '../src/store/sqlite.ts';
import { createWriter } from '../src/store/writer.ts';
import { isStoreUnavailable, type Message } from '../src/store/store.ts';
import { getJson, message, postSigned, startApp, tempDir, waitFor } from './helpers.ts';

const msg = (id: string, fields: Partial<Message> = {}): Message => ({
  messageId: id,
  from: '+1',
  to: '+2',
  ts: '2025-01-01T00:00:00Z',
  text: null,
  ...fields,
});

describe('SQLite store', () => {
  test('inserts arriving together share a commit; duplicates inside one batch are detected', async (t) => {
    const store = createSqliteStore({ path: join(tempDir(t), 'a.db') });
    t.after(() => store.close());
    const outcomes = await Promise.all([store.insert(msg('x')), store.insert(msg('y')), store.insert(msg('x', { text: 'later' }))]);
    assert.deepEqual(outcomes, ['created', 'created', 'duplicate']);
    const page = await store.list({ limit: 10, offset: 0 });
    assert.deepEqual(page.data.map((m) => [m.messageId, m.text]), [
      ['x', null],
      ['y', null],
    ]);
    assert.equal(page.total, 2);
  });

  test('a row that fails does not fail the others in its batch', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const store = createSqliteStore({ path });
    t.after(() => store.close());
    const other = new DatabaseSync(path);
    other.exec(
      "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN new.message_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
    );
    other.close();
    const results = await Promise.allSettled([store.insert(msg('ok-1')), store.insert(msg('poison')), store.insert(msg('ok-2'))]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal((await store.list({ limit: 10, offset: 0 })).total, 2);
  });

  test('close() commits what is pending before the handle goes; later calls are refused', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const store = createSqliteStore({ path });
    const pending = [store.insert(msg('p1')), store.insert(msg('p2'))];
    await store.close();
    assert.deepEqual(await Promise.all(pending), ['created', 'created']);
    await assert.rejects(store.insert(msg('late')), (err) => isStoreUnavailable(err));
    const reopened = createSqliteStore({ path });
    t.after(() => reopened.close());
    assert.equal((await reopened.stats(10)).totalMessages, 2);
  });

  test('a database locked by another writer gives a transient error, and recovers without restart', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const store = createSqliteStore({ path });
    t.after(() => store.close());
    const locker = new DatabaseSync(path);
    locker.exec('BEGIN EXCLUSIVE');
    await assert.rejects(store.insert(msg('blocked')), (err) => isStoreUnavailable(err));
    locker.exec('ROLLBACK');
    locker.close();
    assert.equal(await store.insert(msg('blocked')), 'created');
  });

  test('a newer schema version is refused rather than misread', (t) => {
    const path = join(tempDir(t), 'a.db');
    const db = new DatabaseSync(path);
    db.exec('PRAGMA user_version = 99');
    db.close();
    assert.throws(() => createSqliteStore({ path }), /newer/);
  });

  test("migrates a seed database: keeps its rows, adds ordering and stats", async (t) => {
    const path = join(tempDir(t), 'seed.db');
    const seed = new DatabaseSync(path);
    seed.exec(`CREATE TABLE messages (
      message_id TEXT NOT NULL PRIMARY KEY, from_msisdn TEXT NOT NULL, to_msisdn TEXT NOT NULL,
      ts TEXT NOT NULL, text TEXT, created_at TEXT NOT NULL);
      CREATE INDEX idx_messages_ts ON messages (ts, message_id);
      INSERT INTO messages VALUES ('late', '+1', '+2', '2025-01-01T00:00:00.5Z', 'b', '2025-01-01T00:00:00Z');
      INSERT INTO messages VALUES ('early', '+3', '+2', '2025-01-01T00:00:00Z', 'a', '2025-01-01T00:00:00Z');`);
    seed.close();
    const events: string[] = [];
    const store = createSqliteStore({ path, onEvent: (m) => events.push(m) });
    t.after(() => store.close());
    assert.ok(events.includes('migrating existing messages'));
    assert.deepEqual((await store.list({ limit: 10, offset: 0 })).data.map((m) => m.messageId), ['early', 'late']);
    const stats = await store.stats(10);
    assert.equal(stats.totalMessages, 2);
    assert.equal(stats.sendersCount, 2);
    assert.equal(stats.firstMessageTs, '2025-01-01T00:00:00Z');
  });

  const search = async (store: ReturnType<typeof createSqliteStore>, q: string): Promise<[string[], number]> => {
    const page = await store.list({ limit: 100, offset: 0, q });
    return [page.data.map((m) => m.messageId), page.total];
  };

  // A count read through a connection of its own, as an operator would.
  const countIn = (path: string, sql: string): number => {
    const reader = new DatabaseSync(path, { readOnly: true });
    try {
      return Number((reader.prepare(sql).get() as { n: number }).n);
    } finally {
      reader.close();
    }
  };
  // Rows wait in search_pending until the writer indexes them when ingest is quiet; searches read both.
  const pendingRows = (path: string): number => countIn(path, 'SELECT count(*) AS n FROM search_pending');
  const untilIndexed = (path: string): Promise<void> => waitFor(() => pendingRows(path) === 0, 10_000);
  // Zones whose character counts an operator's DELETE or UPDATE left for the writer to recount.
  const dirtyZones = (path: string): number => countIn(path, 'SELECT count(*) AS n FROM search_dirty');
  // Rows 0 to indexedRows - 1 put in the search index; then a store with `options` that leaves the next
  // waitingRows waiting for it (closed after the test).
  const withWaiting = async (
    t: TestContext,
    path: string,
    row: (i: number) => Message,
    [indexedRows, waitingRows]: [number, number],
    options: Partial<SqliteStoreOptions>,
  ): Promise<ReturnType<typeof createSqliteStore>> => {
    const first = createSqliteStore({ path, searchIndexDelayMs: 0 });
    await Promise.all(Array.from({ length: indexedRows }, (_, i) => first.insert(row(i))));
    await untilIndexed(path);
    await first.close();
    const store = createSqliteStore({ ...options, path, searchIndexDelayMs: Infinity });
    t.after(() => store.close());
    await Promise.all(Array.from({ length: waitingRows }, (_, k) => store.insert(row(indexedRows + k))));
    return store;
  };

  for (const state of ['waiting for the index', 'indexed'] as const) {
    test(`search follows an operator's DELETE, UPDATE and VACUUM through another connection (rows ${state})`, async (t) => {
      const path = join(tempDir(t), 'a.db');
      // walkLimit 0: every text query goes through the search index, however few the rows.
      const store = createSqliteStore({ path, walkLimit: 0, searchIndexDelayMs: state === 'indexed' ? 0 : Infinity });
      t.after(() => store.close());
      await Promise.all([
        store.insert(msg('a', { text: 'invoice 1001 paid' })),
        store.insert(msg('b', { text: 'Invoice 1002 due' })),
        store.insert(msg('c', { text: 'lunch?' })),
        store.insert(msg('d')),
      ]);
      if (state === 'indexed') await untilIndexed(path);
      else assert.equal(pendingRows(path), 3);
      assert.deepEqual(await search(store, 'INVOICE'), [['a', 'b'], 2]);
      const operator = new DatabaseSync(path, { timeout: 5_000 });
      operator.exec("DELETE FROM messages WHERE message_id IN ('a', 'd')");
      operator.exec("UPDATE messages SET text = 'invoice 1003 lunch' WHERE message_id = 'c'");
      assert.deepEqual(await search(store, 'invoice'), [['b', 'c'], 2]);
      assert.deepEqual(await search(store, '1001'), [[], 0]);
      operator.exec('VACUUM');
      operator.close();
      assert.deepEqual(await search(store, 'lunch'), [['c'], 1]);
      assert.deepEqual(await search(store, '100'), [['b', 'c'], 2]);
      // 1 character: the zone's counts are dirty now, so its rows are checked one by one.
      assert.deepEqual(await search(store, '?'), [[], 0]);
      assert.deepEqual(await search(store, 'V'), [['b', 'c'], 2]);
      assert.deepEqual(await search(store, '3'), [['c'], 1]);
      // 2 ASCII characters, counted by zone the same way.
      assert.deepEqual(await search(store, 'IN'), [['b', 'c'], 2]);
      assert.deepEqual(await search(store, '3 '), [['c'], 1]);
      assert.deepEqual(await search(store, 'h?'), [[], 0]);
      // Whatever was waiting is indexed later without changing a single answer.
      if (state !== 'indexed') {
        await store.close();
        const later = createSqliteStore({ path, walkLimit: 0, searchIndexDelayMs: 0 });
        t.after(() => later.close());
        await untilIndexed(path);
        assert.deepEqual(await search(later, 'invoice'), [['b', 'c'], 2]);
        assert.deepEqual(await search(later, '1001'), [[], 0]);
      }
      // Once quiet, the writer recounts the dirty zone; the answers stay the same.
      const current = state === 'indexed' ? store : undefined;
      if (current) {
        await current.insert(msg('e', { text: 'late' }));
        await waitFor(() => dirtyZones(path) === 0, 10_000);
        assert.deepEqual(await search(current, '?'), [[], 0]);
        assert.deepEqual(await search(current, 'v'), [['b', 'c'], 2]);
        assert.deepEqual(await search(current, 'L'), [['c', 'e'], 2]);
        assert.deepEqual(await search(current, 'in'), [['b', 'c'], 2]);
        assert.deepEqual(await search(current, 'te'), [['e'], 1]);
      }
    });
  }

  test('the search index and a row-by-row LIKE agree on every query shape', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const texts = ['Order #12 shipped', 'ORDER 50% off', 'snake_case order', 'Été à Paris', 'été', 'x "quoted" y 😀😀', null, 'ok', 'Reorder now', 'a\u0001b', ''];
    const insertRange = (store: ReturnType<typeof createSqliteStore>, from: number, to: number): Promise<unknown> =>
      Promise.all(
        Array.from({ length: to - from }, (_, k) => {
          const i = from + k;
          return store.insert(msg(`m${i}`, { from: `+${i % 7}`, ts: `2025-01-${String((i % 28) + 1).padStart(2, '0')}T00:00:0${i % 10}Z`, text: texts[i % texts.length] ?? null }));
        }),
      );
    // Two thirds indexed, the rest waiting: every answer below combines the two.
    const first = createSqliteStore({ path, searchIndexDelayMs: 0 });
    await insertRange(first, 0, 200);
    await untilIndexed(path);
    await first.close();
    const indexed = createSqliteStore({ path, walkLimit: 0, searchIndexDelayMs: Infinity });
    t.after(() => indexed.close());
    await insertRange(indexed, 200, 300);
    // 100 new rows, 9 of them without text (i % 11 === 6): nothing to search in those.
    assert.equal(pendingRows(path), 91);
    const scanning = createSqliteStore({ path, walkLimit: Number.POSITIVE_INFINITY });
    t.after(() => scanning.close());
    // Pages from the index's hits, sorted, wherever that beats walking the sort order.
    const sorting = createSqliteStore({ path, walkLimit: 0, sortLimit: Number.POSITIVE_INFINITY });
    t.after(() => sorting.close());
    // 1-2 characters too: the index's terms that begin with them, wherever in a text they stand.
    const queries = ['order', 'ORDER', 'der', '50%', 'e_c', 'été', 'ÉTÉ', '"quoted"', 'ok', 'zzz', 'or', 'OK', 'w', 'é', 'É', '%', '"', '#', 'k', 'R', '😀', 'y 😀', 'a\u0001', '\u0001', 'zq'];
    for (const q of queries) {
      for (const extra of [{}, { from: '+3' }, { since: '2025-01-20T00:00:00Z' }, { from: '+2', since: '2025-01-10T00:00:00Z' }]) {
        const after = { ts: '2025-01-12T00:00:05Z', messageId: 'm5' };
        for (const paging of [{ limit: 5, offset: 0 }, { limit: 100, offset: 3 }, { limit: 4, offset: 1, after }]) {
          const query = { q, ...extra, ...paging };
          const expected = await scanning.list(query);
          assert.deepEqual(await indexed.list(query), expected, JSON.stringify(query));
          assert.deepEqual(await sorting.list(query), expected, JSON.stringify(query));
        }
      }
    }
    assert.equal((await indexed.list({ limit: 1, offset: 0, q: 'ORDER' })).total, 28 * 3 + 27);
    assert.equal((await indexed.list({ limit: 1, offset: 0, q: 'Ok' })).total, 27);
  });

  test('a deep offset into a text query starts near it, and pages exactly as a walk from the first row', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const texts = ['Order 1 shipped', 'ok then', null, 'tax form', 'reorder?', 'see you'];
    // A row a minute, in five zones of 1,024 rowids, except that every 10th row of the last zone is
    // dated inside the third zone's span: a guess at the fourth zone then starts past the offset, and the
    // zone before it must be tried. The rows waiting for the index go back further still.
    const minute = (n: number): string => new Date(Date.parse('2025-03-01T00:00:00Z') + n * 60_000).toISOString().replace('.000Z', 'Z');
    const row = (i: number): Message => {
      // Some of the last zone's rows are dated exactly at the earliest minute of zone 1 or 2 (rowid = i + 1),
      // where a deep page may start: a zone that straddles a start then holds rows at it.
      const at =
        i >= 5_000 ? (i * 7) % 5_000 - 300
        : i >= 4_096 && i % 10 === 0 ? 2_048 + 500 + (i % 100)
        : i >= 4_096 && i % 10 === 5 ? (i % 20 === 5 ? 2_047 : 1_023)
        : i;
      return msg(`m${String(i).padStart(5, '0')}`, { ts: minute(at), text: texts[i % texts.length] ?? null });
    };
    // The index, pages walked (never sorted from the hits), and the start near the offset wherever usable;
    // 300 more rows waiting for the index, some of them older than everything indexed.
    const deep = await withWaiting(t, path, row, [5_000, 300], { walkLimit: 0, sortLimit: 0, deepWalk: 0 });
    assert.ok(pendingRows(path) > 0);
    const scanning = createSqliteStore({ path, walkLimit: Number.POSITIVE_INFINITY, deepWalk: Number.POSITIVE_INFINITY });
    t.after(() => scanning.close());
    for (const q of ['order', 'OK', 'x', 'e', 'er']) {
      for (const since of [{}, { since: minute(1_000) }, { since: minute(2_600) }, { since: minute(-200) }]) {
        const { total } = await scanning.list({ q, ...since, limit: 1, offset: 0 });
        assert.ok(total > 200, `${q}: ${total}`);
        for (const offset of [...Array.from({ length: Math.ceil(total / 37) }, (_, k) => k * 37), total - 1, total, total + 3]) {
          const query = { q, ...since, limit: 7, offset };
          assert.deepEqual(await deep.list(query), await scanning.list(query), JSON.stringify(query));
        }
      }
    }
  });

  test('a q holding U+0000 finds exactly the texts that hold it, by scan and through the index alike', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const indexed = createSqliteStore({ path, walkLimit: 0, searchIndexDelayMs: 0 });
    t.after(() => indexed.close());
    await Promise.all([
      indexed.insert(msg('a', { text: 'hello' })),
      indexed.insert(msg('b', { text: 'x\u0000y' })),
      indexed.insert(msg('c', { text: 'X\u0000Y and more' })),
    ]);
    await untilIndexed(path);
    const scanning = createSqliteStore({ path, walkLimit: Number.POSITIVE_INFINITY });
    t.after(() => scanning.close());
    // LIKE (and FTS5's query syntax) stop at a NUL: '\u0000' matched every row, 'x\u0000y' failed with a
    // 500 through the index, and 'more' (after the NUL) was counted by the index but missing by LIKE.
    const cases = [['\u0000', ['b', 'c']], ['x\u0000Y', ['b', 'c']], ['\u0000y a', ['c']], ['a\u0000', []], ['hel\u0000', []], ['MORE', ['c']], ['y', ['b', 'c']], ['ell', ['a']]] as const;
    for (const [q, ids] of cases) {
      for (const store of [indexed, scanning]) assert.deepEqual(await search(store, q), [ids, ids.length], JSON.stringify(q));
    }
  });

  test('the search index, which reads past a NUL, counts no text where q would only span one', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const texts = ['x\u0000in', 'xin there', 'Ship\u0000ment', 'shipment', 'a\u0000é', 'plain text'];
    const row = (i: number): Message =>
      msg(`m${String(i).padStart(4, '0')}`, { from: `+${i % 3}`, ts: `2025-02-${String((i % 28) + 1).padStart(2, '0')}T00:00:00Z`, text: texts[i % texts.length] ?? null });
    // Through the index always, pages walked from a start near the offset wherever it can; 60 rows waiting.
    const indexed = await withWaiting(t, path, row, [1_200, 60], { walkLimit: 0, sortLimit: 0, deepWalk: 0 });
    const sorting = createSqliteStore({ path, walkLimit: 0, sortLimit: Number.POSITIVE_INFINITY, searchIndexDelayMs: Infinity });
    t.after(() => sorting.close());
    const scanning = createSqliteStore({ path, walkLimit: Number.POSITIVE_INFINITY, deepWalk: Number.POSITIVE_INFINITY });
    t.after(() => scanning.close());
    for (const q of ['xin', 'XIN', 'shipment', 'pment', 'aé', 'in', 'ment']) {
      for (const extra of [{}, { from: '+1' }, { since: '2025-02-10T00:00:00Z' }, { from: '+2', since: '2025-02-20T00:00:00Z' }]) {
        for (const paging of [{ limit: 5, offset: 0 }, { limit: 5, offset: 90 }, { limit: 5, offset: 150 }]) {
          const query = { q, ...extra, ...paging };
          const expected = await scanning.list(query);
          assert.deepEqual(await indexed.list(query), expected, JSON.stringify(query));
          assert.deepEqual(await sorting.list(query), expected, JSON.stringify(query));
        }
      }
    }
    // 'xin there' only: 1 in 6 of 1,260 rows.
    assert.equal((await indexed.list({ q: 'xin', limit: 1, offset: 0 })).total, 210);
  });

  test('since with a text query counts whole runs of rowids by the search index, and stays exact for rows out of time order', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const store = createSqliteStore({ path, walkLimit: 0, searchIndexDelayMs: 0 });
    t.after(() => store.close());
    // 3,000 rows a minute apart (zones of 1,024 rowids), two of them 10 hours late, one without text.
    const minute = (i: number): string => new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString().replace('.000Z', 'Z');
    for (let from = 0; from < 3_000; from += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, k) => {
          const i = from + k;
          const ts = i === 1500 || i === 1501 ? minute(i - 600) : minute(i);
          return store.insert(msg(`m${i}`, { ts, text: i === 2 ? null : i % 3 ? 'parcel late' : 'Invoice due' }));
        }),
      );
    }
    await untilIndexed(path);
    const scanning = createSqliteStore({ path, walkLimit: Number.POSITIVE_INFINITY });
    t.after(() => scanning.close());
    const sinces = [minute(0), minute(500), minute(950), minute(1200), minute(2500), `${minute(2999).slice(0, -1)}.5Z`, minute(5000), '2029-01-01T00:00:00Z'];
    const agree = async (): Promise<number[]> => {
      const totals: number[] = [];
      for (const since of sinces) {
        for (const q of ['parcel', 'INVOICE', 'e', 'du']) {
          const query = { q, since, limit: 3, offset: 0 };
          const expected = await scanning.list(query);
          assert.deepEqual(await store.list(query), expected, JSON.stringify(query));
          if (q === 'parcel') totals.push(expected.total);
        }
      }
      return totals;
    };
    assert.deepEqual(await agree(), [1999, 1667, 1366, 1199, 334, 0, 0, 0]);
    // An operator moves an old row into the future and deletes two: its zone's bounds widen by trigger.
    const operator = new DatabaseSync(path, { timeout: 5_000 });
    operator.exec(`UPDATE messages SET ts = '2030-01-01T00:00:00Z' WHERE message_id = 'm10';
      DELETE FROM messages WHERE message_id IN ('m2000', 'm2001')`);
    operator.close();
    assert.deepEqual(await agree(), [1998, 1667, 1366, 1199, 335, 1, 1, 1]);
    // A rowid far past what a JavaScript number holds exactly (2^62 + 1), inserted by an operator.
    const far = new DatabaseSync(path, { timeout: 5_000 });
    far.exec(`INSERT INTO messages (rowid, message_id, from_msisdn, to_msisdn, ts, text, created_at)
      VALUES (4611686018427387905, 'far', '+1', '+2', '2031-01-01T00:00:00Z', 'parcel far', '2031-01-01T00:00:00Z')`);
    far.close();
    await store.insert(msg('wake', { ts: minute(3000), text: 'parcel' }));
    await untilIndexed(path);
    for (const since of ['2030-06-01T00:00:00Z', minute(2990)]) {
      const query = { q: 'PARCEL', since, limit: 5, offset: 0 };
      assert.deepEqual(await store.list(query), await scanning.list(query), since);
    }
    assert.deepEqual((await store.list({ q: 'parcel', since: '2030-06-01T00:00:00Z', limit: 5, offset: 0 })).data.map((m) => m.messageId), ['far']);
    // A row alone in its zone, without text (so never indexed), then given one by an operator: the
    // update puts it in the index, and its zone in the bounds and the character counts with it.
    const blank = new DatabaseSync(path, { timeout: 5_000 });
    blank.exec(`INSERT INTO messages (rowid, message_id, from_msisdn, to_msisdn, ts, text, created_at)
      VALUES (1099511627776, 'blank', '+1', '+2', '${minute(2995)}', NULL, '${minute(2995)}');
      UPDATE messages SET text = 'Parcel void' WHERE message_id = 'blank'`);
    blank.close();
    for (const q of ['parcel', 'V', 'd']) {
      const query = { q, since: minute(2990), limit: 5, offset: 0 };
      assert.deepEqual(await store.list(query), await scanning.list(query), q);
    }
    assert.equal((await store.list({ q: 'v', since: minute(2990), limit: 5, offset: 0 })).total, 4);
  });

  // Sender counts: an insert appends a delta, the writer folds deltas into sender_counts in bulk (along a
  // commit past SENDER_FOLD_AT, or when quiet); an operator's DELETE or UPDATE applies to the row directly
  // when no delta waits, and appends deltas otherwise. Every answer must be what the rows say.
  for (const state of ['waiting', 'folded'] as const) {
    test(`sender counts are exact with their deltas ${state}, through an operator's DELETE and UPDATE`, async (t) => {
      const path = join(tempDir(t), 'a.db');
      let store = createSqliteStore({ path, searchIndexDelayMs: state === 'folded' ? 0 : Infinity });
      t.after(() => store.close());
      const deltas = (): number => countIn(path, 'SELECT count(*) AS n FROM sender_deltas');
      const settled = (): Promise<void> => (state === 'folded' ? waitFor(() => deltas() === 0, 10_000) : Promise.resolve());
      let next = 0;
      // 30 senders, in no order: +100 to +129.
      const insertSome = async (rows: number): Promise<void> => {
        const batch = Array.from({ length: rows }, () => store.insert(msg(`m${next}`, { from: `+${100 + ((next++ * 7) % 30)}` })));
        assert.ok((await Promise.all(batch)).every((o) => o === 'created'));
      };
      const operator = (sql: string): void => {
        const db = new DatabaseSync(path, { timeout: 5_000 });
        db.exec(sql);
        db.close();
      };
      const check = async (step: string): Promise<void> => {
        const truth = new DatabaseSync(path, { readOnly: true });
        const counts = truth.prepare('SELECT from_msisdn AS f, count(*) AS n FROM messages GROUP BY 1 ORDER BY 2 DESC, 1').all() as { f: string; n: number }[];
        truth.close();
        const stats = await store.stats(10);
        assert.equal(stats.sendersCount, counts.length, step);
        assert.equal(stats.totalMessages, counts.reduce((a, c) => a + c.n, 0), step);
        assert.deepEqual(stats.messagesPerSender, counts.slice(0, 10).map((c) => ({ from: c.f, count: c.n })), step);
        for (const c of counts) assert.equal((await store.list({ limit: 1, offset: 0, from: c.f })).total, c.n, `${step}: ${c.f}`);
        assert.equal((await store.list({ limit: 1, offset: 0, from: '+999' })).total, 0, step);
      };

      // Past SENDER_FOLD_AT a commit folds along, even with the quiet-time fold held off.
      await insertSome(1_300);
      if (state === 'waiting') assert.ok(deltas() > 0 && deltas() < 1_300, `deltas folded along: ${deltas()} left`);
      await settled();
      await check('inserts');
      // One sender gone entirely, a few rows of others, rows moved to a new sender and to an existing one.
      operator(`DELETE FROM messages WHERE from_msisdn = '+100';
        DELETE FROM messages WHERE rowid % 7 = 0;
        UPDATE messages SET from_msisdn = '+555' WHERE rowid % 11 = 0;
        UPDATE messages SET from_msisdn = '+101' WHERE from_msisdn = '+102';`);
      await check('operator edits');
      await insertSome(200);
      await settled();
      await check('more inserts');
      operator("DELETE FROM messages WHERE from_msisdn IN ('+101', '+555')");
      await check('operator deletes');
      // Whatever waited, a quiet writer folds at last (senders whose deltas take them to zero leave).
      await store.close();
      store = createSqliteStore({ path, searchIndexDelayMs: 0 });
      await waitFor(() => deltas() === 0, 10_000);
      await check('all folded');
    });
  }

  test('stats read while commits fold sender deltas are one snapshot: the senders count never dips', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const store = createSqliteStore({ path, searchIndexDelayMs: Infinity });
    t.after(() => store.close());
    let done = false;
    const seen: number[] = [];
    const poll = (async () => {
      while (!done) {
        seen.push((await store.stats(10)).sendersCount);
        // A turn of the event loop, so the writer's replies come in.
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    // Every row a new sender, so only inserts and folds happen: the count can only grow.
    for (let round = 0; round < 12; round++) {
      await Promise.all(Array.from({ length: 1_100 }, (_, i) => store.insert(msg(`r${round}-${i}`, { from: `+${round + 1}${String(i).padStart(4, '0')}` }))));
    }
    done = true;
    await poll;
    const dips = seen.filter((n, i) => i > 0 && n < (seen[i - 1] ?? 0));
    assert.deepEqual(dips, [], `senders count went down in ${dips.length} of ${seen.length} reads`);
    assert.equal((await store.stats(10)).sendersCount, 13_200);
  });

  test('migrating again from version 0 recounts senders from the rows, dropping waiting deltas', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const first = createSqliteStore({ path, searchIndexDelayMs: Infinity });
    await Promise.all(['+1', '+1', '+2'].map((from, i) => first.insert(msg(`m${i}`, { from }))));
    await first.close();
    const old = new DatabaseSync(path);
    assert.equal(Number((old.prepare('SELECT count(*) AS n FROM sender_deltas').get() as { n: number }).n), 3);
    old.exec('PRAGMA user_version = 0');
    old.close();
    const store = createSqliteStore({ path, searchIndexDelayMs: Infinity });
    t.after(() => store.close());
    const stats = await store.stats(10);
    assert.equal(stats.sendersCount, 2);
    assert.deepEqual(stats.messagesPerSender, [{ from: '+1', count: 2 }, { from: '+2', count: 1 }]);
    assert.equal((await store.list({ limit: 1, offset: 0, from: '+1' })).total, 2);
  });

  test('a quiet writer finds and does the work an operator left: rows inserted, zones to recount', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const store = createSqliteStore({ path, walkLimit: 0, searchIndexDelayMs: 0, searchRecheckMs: 100 });
    t.after(() => store.close());
    await Promise.all([store.insert(msg('a', { text: 'Kiwi' })), store.insert(msg('b', { text: 'plum' }))]);
    await untilIndexed(path);
    // Behind the service's back, and no insert through it afterwards.
    const operator = new DatabaseSync(path, { timeout: 5_000 });
    operator.exec(`DELETE FROM messages WHERE message_id = 'a';
      INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at)
      VALUES ('c', '+1', '+2', '2025-01-01T00:00:00Z', 'kiwi again', '2025-01-01T00:00:00Z')`);
    operator.close();
    assert.deepEqual([pendingRows(path), dirtyZones(path)], [1, 1]);
    await waitFor(() => pendingRows(path) === 0 && dirtyZones(path) === 0, 10_000);
    assert.deepEqual(await search(store, 'K'), [['c'], 1]);
    assert.deepEqual(await search(store, 'kiwi'), [['c'], 1]);
  });

  test('past the backlog limit each commit indexes along, and search stays exact throughout', async (t) => {
    const path = join(tempDir(t), 'a.db');
    // Never idle-indexed: only the commits can bring the backlog down.
    const store = createSqliteStore({ path, walkLimit: 0, searchIndexDelayMs: Infinity, searchBacklog: 20 });
    t.after(() => store.close());
    for (let round = 0; round < 10; round += 1) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.insert(msg(`r${round}-${i}`, { text: i % 2 ? 'parcel delivered' : 'parcel late' }))));
      // A commit of 10 rows indexes up to 20 more once 20 wait: the backlog never runs away.
      assert.ok(pendingRows(path) <= 30, `pending ${pendingRows(path)} after round ${round}`);
      assert.equal((await search(store, 'parcel'))[1], (round + 1) * 10);
      assert.equal((await search(store, 'DELIVERED'))[1], (round + 1) * 5);
    }
    const reader = new DatabaseSync(path, { readOnly: true });
    t.after(() => reader.close());
    const indexed = Number((reader.prepare(`SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH '"parcel"'`).get() as { n: number }).n);
    assert.ok(indexed >= 70, `only ${indexed} of 100 rows indexed`);
    assert.equal(indexed + pendingRows(path), 100, 'each row in exactly one of index and queue');
  });

  test("':memory:' works the same with its writer on the store's own connection", async (t) => {
    const store = createSqliteStore({ path: ':memory:', walkLimit: 0 });
    t.after(() => store.close());
    await store.ready;
    const outcomes = await Promise.all([
      store.insert(msg('a', { text: 'Invoice paid', ts: '2025-01-02T00:00:00Z' })),
      store.insert(msg('b', { text: 'lunch?' })),
      store.insert(msg('a', { text: 'other text' })),
    ]);
    assert.deepEqual(outcomes, ['created', 'created', 'duplicate']);
    assert.equal(await store.insert(msg('b')), 'duplicate');
    assert.deepEqual(await search(store, 'INVOICE'), [['a'], 1]);
    assert.deepEqual((await store.list({ limit: 10, offset: 0 })).data.map((m) => m.messageId), ['b', 'a']);
    assert.equal((await store.stats(10)).totalMessages, 2);
    await store.ping();
  });

  test('migrating a version 1 database builds the search index, reporting progress', async (t) => {
    const path = join(tempDir(t), 'v1.db');
    const first = createSqliteStore({ path });
    await Promise.all([first.insert(msg('a', { text: 'Quarterly report' })), first.insert(msg('b', { text: 'report' }))]);
    await first.close();
    // Back to what version 1 left: no search index.
    const old = new DatabaseSync(path);
    old.exec(`DROP TRIGGER messages_fts_ai; DROP TRIGGER messages_fts_ad; DROP TRIGGER messages_fts_au;
      DROP TABLE messages_fts; PRAGMA user_version = 1;`);
    old.close();
    const events: [string, Record<string, unknown> | undefined][] = [];
    const store = createSqliteStore({ path, walkLimit: 0, onEvent: (m, f) => events.push([m, f]) });
    t.after(() => store.close());
    assert.deepEqual(events.map(([m]) => m), ['migrating existing messages', 'building search index', 'schema ready']);
    assert.equal(events[1]?.[1]?.percent, 100);
    assert.deepEqual(await search(store, 'REPORT'), [['a', 'b'], 2]);
    assert.deepEqual(await search(store, 'quarter'), [['a'], 1]);
  });

  test('migrating a version 3 database rebuilds the search index so that 1-2 character queries use it', async (t) => {
    const path = join(tempDir(t), 'v3.db');
    const first = createSqliteStore({ path, searchIndexDelayMs: 0 });
    await Promise.all([first.insert(msg('a', { text: 'Book it' })), first.insert(msg('b', { text: 'ok' })), first.insert(msg('c', { text: 'no' }))]);
    await untilIndexed(path);
    await first.close();
    // What version 3 indexed: lower(text) alone, in which a text's last two characters start no term.
    // And a row an operator inserted with a rowid past what a JavaScript number holds exactly.
    const old = new DatabaseSync(path);
    old.exec(`INSERT INTO messages (rowid, message_id, from_msisdn, to_msisdn, ts, text, created_at)
        VALUES (4611686018427387905, 'far', '+1', '+2', '2025-01-01T00:00:00Z', 'Okay', '2025-01-01T00:00:00Z');
      DELETE FROM search_pending;
      INSERT INTO messages_fts (messages_fts) VALUES ('delete-all');
      INSERT INTO messages_fts (rowid, text) SELECT rowid, lower(text) FROM messages; PRAGMA user_version = 3;`);
    old.close();
    const events: string[] = [];
    const store = createSqliteStore({ path, walkLimit: 0, searchIndexDelayMs: Infinity, onEvent: (m) => events.push(m) });
    t.after(() => store.close());
    assert.deepEqual(events, ['migrating existing messages', 'building search index', 'schema ready']);
    assert.equal(pendingRows(path), 0);
    assert.deepEqual(await search(store, 'OK'), [['a', 'b', 'far'], 3]);
    assert.deepEqual(await search(store, 'o'), [['a', 'b', 'c', 'far'], 4]);
    assert.deepEqual(await search(store, 't'), [['a'], 1]);
    assert.deepEqual(await search(store, 'book'), [['a'], 1]);
    // The migration also bounds the indexed rows' timestamps (search_zones), which `since` counts by.
    const since = (s: string): Promise<number> => store.list({ limit: 10, offset: 0, q: 'ok', since: s }).then((r) => r.total);
    assert.deepEqual([await since('2025-01-01T00:00:00Z'), await since('2025-01-01T00:00:00.001Z')], [3, 0]);
  });

  test('migrating a version 5 database counts the pairs of ASCII characters, reporting progress', async (t) => {
    const path = join(tempDir(t), 'v5.db');
    const texts = ['Invoice due', 'in time', 'Main road', 'no', 'ÉTÉ à Paris', null];
    const first = createSqliteStore({ path, searchIndexDelayMs: 0 });
    // Three zones of the index; rows waiting for it come after the migration.
    await Promise.all(Array.from({ length: 2_500 }, (_, i) => first.insert(msg(`m${i}`, { text: texts[i % texts.length] ?? null }))));
    await untilIndexed(path);
    await first.close();
    // What version 5 counted: single characters only.
    const old = new DatabaseSync(path);
    old.exec(`DELETE FROM search_chars WHERE length(ch) = 2; PRAGMA user_version = 5;`);
    old.close();
    const events: [string, Record<string, unknown> | undefined][] = [];
    const store = createSqliteStore({ path, walkLimit: 0, searchIndexDelayMs: Infinity, onEvent: (m, f) => events.push([m, f]) });
    t.after(() => store.close());
    assert.deepEqual(events.map(([m]) => m), ['migrating existing messages', 'counting search characters', 'schema ready']);
    assert.equal(events[1]?.[1]?.percent, 100);
    assert.equal(dirtyZones(path), 0);
    assert.ok(countIn(path, 'SELECT count(*) AS n FROM search_chars WHERE ch = \'in\'') === 3, 'a count per zone');
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.insert(msg(`w${i}`, { text: texts[i % texts.length] ?? null }))));
    const scanning = createSqliteStore({ path, walkLimit: Number.POSITIVE_INFINITY });
    t.after(() => scanning.close());
    for (const q of ['in', 'IN', 'n ', 'ai', 'é ', 'no', 'zz']) {
      const query = { q, limit: 3, offset: 1 };
      assert.deepEqual(await store.list(query), await scanning.list(query), q);
    }
    // 'Invoice due', 'in time' and 'Main road': 417 + 417 + 417 of the first rows, 4 + 4 + 3 of the later.
    assert.equal((await store.list({ q: 'In', limit: 1, offset: 0 })).total, 1_262);
  });

  test('a committed write probe removes only its own row, even past the rowids a JavaScript number holds', async (t) => {
    const path = join(tempDir(t), 'a.db');
    await createSqliteStore({ path }).close();
    const operator = new DatabaseSync(path);
    t.after(() => operator.close());
    for (const [rowid, id] of [['4611686018427387904', 'low'], ['4611686018427387905', 'high']]) {
      operator.exec(`INSERT INTO messages (rowid, message_id, from_msisdn, to_msisdn, ts, text, created_at)
        VALUES (${rowid}, '${id}', '+1', '+2', '2025-01-01T00:00:00Z', NULL, '2025-01-01T00:00:00Z')`);
    }
    // In storage trouble the probe commits: the next rowid (2^62 + 2) rounds to 2^62 as a number.
    const writer = createWriter({
      path, synchronous: 'FULL', cacheKib: 1_000, busyTimeoutMs: 50, fileId: null, allowExec: false,
      idleIndexMs: Number.POSITIVE_INFINITY, indexBacklog: 20_000, recheckMs: Number.POSITIVE_INFINITY,
    });
    assert.deepEqual(writer.handle([{ kind: 'probe', seq: 1, commit: true }, { kind: 'close', seq: 2 }]), [{ seq: 1, ok: true }, { seq: 2, ok: true }]);
    const ids = operator.prepare('SELECT message_id FROM messages ORDER BY rowid').all().map((r) => r.message_id);
    assert.deepEqual(ids, ['low', 'high']);
  });

  test('an up-to-date database opens without migration events', async (t) => {
    const path = join(tempDir(t), 'a.db');
    await createSqliteStore({ path }).close();
    const events: string[] = [];
    const store = createSqliteStore({ path, onEvent: (m) => events.push(m) });
    t.after(() => store.close());
    assert.deepEqual(events, []);
  });

  test('the service answers 503 with Retry-After while the file is locked, then 200', async (t) => {
    const app = await startApp(t);
    const locker = new DatabaseSync(app.dbPath);
    locker.exec('BEGIN EXCLUSIVE');
    const res = await postSigned(app.url, message());
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(((await res.json()) as { detail: string }).detail, 'storage temporarily unavailable, retry later');
    locker.exec('ROLLBACK');
    locker.close();
    assert.equal((await postSigned(app.url, message())).status, 200);
    assert.equal(((await getJson(`${app.url}/stats`)).body as { total_messages: number }).total_messages, 1);
  });
});
