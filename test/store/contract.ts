// The Store contract suite (STYLE.md, Storage): every engine runs it through runStoreContract(harness),
// as hono's router variants run runTest({ newRouter }). Named cases, one per rule of SPEC.md (GET
// /messages, GET /stats, Storage, Retention), then a seeded random run against the in-memory model.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { isStoreUnavailable, type Message, type Store } from '../../src/store/store.ts';
import { ids, insertAll, insertOne, list, manualClock, msg, type Open } from './contract-helpers.ts';
import { eraseCases, scanCases } from './contract-erase.ts';
import { arrivalCases } from './contract-arrivals.ts';
import { listCases } from './contract-list.ts';
import { DEFAULT_OPS, runRandomOps } from './contract-random.ts';

export type OpenedStore = {
  store: Store;
  /** Another store on the same database, open at the same time (a second process/replica). */
  another(): Promise<Store>;
  /** Closes nothing; opens the same database again (after `store.close()`), as a restart would. */
  reopen(): Promise<Store>;
  /**
   * Makes the database refuse writes the way real trouble would (engine's choice: SQLite a lock held by
   * another connection; PostgreSQL e.g. a lock or a stopped server); resolves with a function that ends
   * the trouble.
   */
  trouble(): Promise<() => Promise<void>>;
};

/** Opens a fresh, empty database; registers its cleanup (closing stores, removing files) with t.after. */
export type StoreHarness = {
  name: string;
  open(t: TestContext, options: { clock: () => Date }): Promise<OpenedStore>;
};

export type ContractOptions = {
  /** Operations in the random run (DEFAULT_OPS); STORE_OPS in the environment overrides it. 0: no random run. */
  randomOps?: number;
};

export function runStoreContract(harness: StoreHarness, options: ContractOptions = {}): void {
  const open: Open = async (t) => {
    const clock = manualClock();
    return { ...(await harness.open(t, { clock: clock.now })), clock };
  };

  describe(`store contract: ${harness.name}`, () => {
    writeCases(open);
    listCases(open);
    statsCases(open);
    lifecycleCases(open);
    eraseCases(open);
    scanCases(open);
    arrivalCases(open);
    test('retention: prune deletes at most `limit` rows received before `before`; reads stay right', (t) => retentionCase(t, open));
    if (options.randomOps !== 0) {
      test('a seeded random run agrees with the in-memory model', (t) => runRandomOps(t, open, { ops: options.randomOps ?? DEFAULT_OPS }));
    }
  });
}

function writeCases(open: Open): void {
  test('the same message_id twice: created, then duplicate; the first copy is kept and counted once', async (t) => {
    const { store } = await open(t);
    const first = msg('dup', { from: '+111', ts: '2025-01-01T00:00:00.5Z', text: 'first' });
    assert.equal(await insertOne(store, first), 'created');
    assert.equal(await insertOne(store, msg('dup', { from: '+222', ts: '2025-02-01T00:00:00Z', text: 'second' })), 'duplicate');
    assert.equal(await insertOne(store, { ...first }), 'duplicate');
    assert.deepEqual(await list(store), { data: [first], total: 1, more: false });
    const stats = await store.stats(10);
    assert.deepEqual(stats, {
      totalMessages: 1,
      sendersCount: 1,
      messagesPerSender: [{ from: '+111', count: 1 }],
      firstMessageTs: first.ts,
      lastMessageTs: first.ts,
    });
  });

  test('insertMany: outcomes in order, a repeated id a duplicate; type stored and returned only when set', async (t) => {
    const { store } = await open(t);
    assert.equal(await insertOne(store, msg('w0', { text: 'first' })), 'created');
    const image = msg('w1', { type: 'image', text: null, ts: '2025-01-01T00:00:01Z' });
    const reaction = msg('w3', { type: 'reaction', text: '👍', ts: '2025-01-01T00:00:03Z' });
    const caption = msg('w2', { text: 'Caption ÄÖ', ts: '2025-01-01T00:00:02Z' });
    const outcomes = await store.insertMany([image, msg('w0', { text: 'again' }), caption, msg('w1', { text: 'copy' }), reaction]);
    assert.deepEqual(outcomes, ['created', 'duplicate', 'created', 'duplicate', 'created']);
    assert.deepEqual(await store.insertMany([]), []);
    const first = msg('w0', { text: 'first' });
    assert.deepEqual(await list(store), { data: [first, image, caption, reaction], total: 4, more: false });
    assert.deepEqual(await list(store, { q: 'caption äö' }), { data: [caption], total: 1, more: false });
    assert.equal((await store.stats(10)).totalMessages, 4);
    // Requests that arrive together share a group commit, each answered for its own messages.
    const together = await Promise.all([
      store.insertMany([msg('x1'), msg('x2'), msg('x1')]),
      insertOne(store, msg('x2')),
      store.insertMany([msg('x3'), msg('w3')]),
    ]);
    assert.deepEqual(together, [['created', 'created', 'duplicate'], 'duplicate', ['created', 'duplicate']]);
  });

  test('insertMany in storage trouble rejects as unavailable and stores none of its messages', async (t) => {
    const { store, trouble } = await open(t);
    const end = await trouble();
    try {
      await assert.rejects(store.insertMany([msg('t1'), msg('t2', { type: 'image' })]), (err) => isStoreUnavailable(err));
    } finally {
      await end();
    }
    assert.deepEqual(await list(store), { data: [], total: 0, more: false });
    assert.deepEqual(await store.insertMany([msg('t1'), msg('t2')]), ['created', 'created']);
  });

  test('concurrent inserts of one id, on one store and across two: exactly one created, one row', async (t) => {
    const { store, another } = await open(t);
    const outcomes = await Promise.all([1, 2, 3, 4, 5].map((n) => insertOne(store, msg('same', { text: `copy ${n}` }))));
    assert.deepEqual(outcomes.toSorted(), ['created', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);

    const other = await another();
    const across = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((n) => insertOne(n % 2 === 0 ? store : other, msg('across', { text: `copy ${n}` }))),
    );
    assert.deepEqual(across.toSorted(), ['created', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
    for (const s of [store, other]) {
      assert.deepEqual(ids(await list(s)), ['across', 'same']);
      assert.equal((await s.stats(10)).totalMessages, 2);
    }
  });
}

function statsCases(open: Open): void {
  test('stats: top senders by count desc then from asc; senders count; first and last instants', async (t) => {
    const { store } = await open(t);
    const some = (from: string, n: number): Message[] =>
      Array.from({ length: n }, (_, i) => msg(`${from}-${i}`, { from, ts: '2025-01-01T00:00:05Z' }));
    const ones = ['+39', '+31', '+38', '+32', '+37', '+33', '+36', '+34', '+35'].flatMap((from) => some(from, 1));
    // String order would make '…:00.5Z' the first and '…:09Z' the last: instants decide.
    const edges = [
      msg('early', { from: '+2', ts: '2025-01-01T00:00:00Z' }),
      msg('almost-early', { from: '+2', ts: '2025-01-01T00:00:00.5Z' }),
      msg('late', { from: '+10', ts: '2025-01-01T00:00:09.1Z' }),
      msg('almost-late', { from: '+10', ts: '2025-01-01T00:00:09Z' }),
    ];
    await insertAll(store, [...ones, ...some('+2', 1), ...some('+1', 3), ...some('+10', 1), ...edges]);
    const expectedTop = [
      { from: '+1', count: 3 },
      { from: '+10', count: 3 },
      { from: '+2', count: 3 },
      ...['+31', '+32', '+33', '+34', '+35', '+36', '+37'].map((from) => ({ from, count: 1 })),
    ];
    assert.deepEqual(await store.stats(10), {
      totalMessages: 18,
      sendersCount: 12,
      messagesPerSender: expectedTop,
      firstMessageTs: '2025-01-01T00:00:00Z',
      lastMessageTs: '2025-01-01T00:00:09.1Z',
    });
    assert.deepEqual((await store.stats(2)).messagesPerSender, expectedTop.slice(0, 2));
  });

  test('stats of an empty store: zeros, no senders, null timestamps', async (t) => {
    const { store } = await open(t);
    const empty = { totalMessages: 0, sendersCount: 0, messagesPerSender: [], firstMessageTs: null, lastMessageTs: null };
    assert.deepEqual(await store.stats(10), empty);
    assert.deepEqual(await list(store, { q: 'a' }), { data: [], total: 0, more: false });
  });
}

function lifecycleCases(open: Open): void {
  test('close with inserts pending commits them all; calls after close reject as unavailable (503)', async (t) => {
    const { store, reopen } = await open(t);
    const batch = ['p1', 'p2', 'p3', 'p4', 'p5'].map((id) => msg(id, { text: `pending ${id}` }));
    const inserts = batch.map((m) => insertOne(store, m));
    const closing = store.close();
    assert.deepEqual(await Promise.all(inserts), ['created', 'created', 'created', 'created', 'created']);
    await closing;
    await store.close();
    for (const call of [
      () => insertOne(store, msg('late')),
      () => list(store),
      () => store.stats(10),
      () => store.ping(),
      () => store.prune(new Date('2100-01-01T00:00:00Z'), 10),
      () => store.erase({ from: '+100' }),
      () => store.arrivalHead(),
    ]) {
      await assert.rejects(call(), (err) => isStoreUnavailable(err));
    }
    const again = await reopen();
    assert.deepEqual(await list(again), { data: batch, total: 5, more: false });
    assert.equal((await again.stats(10)).totalMessages, 5);
  });

  test('storage trouble: insert and ping reject as unavailable, nothing stored; both work once it ends', async (t) => {
    const { store, trouble } = await open(t);
    assert.equal(await insertOne(store, msg('before')), 'created');
    const end = await trouble();
    try {
      await assert.rejects(insertOne(store, msg('during')), (err) => isStoreUnavailable(err));
      await assert.rejects(store.ping(), (err) => isStoreUnavailable(err));
    } finally {
      await end();
    }
    assert.deepEqual(ids(await list(store)), ['before']);
    await store.ping();
    assert.equal(await insertOne(store, msg('during')), 'created');
    assert.deepEqual(ids(await list(store)), ['before', 'during']);
    assert.equal((await store.stats(10)).totalMessages, 2);
  });

  test('load: messages accepted and not answered yet are counted until their commit; none when idle', async (t) => {
    const { store } = await open(t);
    assert.equal(store.load().pendingInserts, 0);
    const inserts = [insertOne(store, msg('a')), store.insertMany([msg('b'), msg('c')]), insertOne(store, msg('d'))];
    assert.equal(store.load().pendingInserts, 4);
    await Promise.all(inserts);
    assert.equal(store.load().pendingInserts, 0);
  });
}

async function retentionCase(t: TestContext, open: Open): Promise<void> {
  const { store, clock } = await open(t);
  const at = (n: number, from: string, ts: string): Message => msg(`old-${n}`, { from, ts, text: `needle old ${n}` });
  // Received first, yet later by ts: retention goes by the time received, never by ts.
  const old = [at(1, '+1', '2025-06-01T00:00:01Z'), at(2, '+1', '2025-06-01T00:00:02Z'), at(3, '+1', '2025-06-01T00:00:03Z')];
  old.push(at(4, '+2', '2025-06-01T00:00:04Z'), at(5, '+2', '2025-06-01T00:00:05.5Z'));
  clock.set('2026-01-01T00:00:00.000Z');
  await insertAll(store, old);
  clock.set('2026-01-02T00:00:00.000Z');
  const kept = [
    msg('new-1', { from: '+1', ts: '2025-01-01T00:00:01Z', text: 'needle new' }),
    msg('new-2', { from: '+3', ts: '2025-01-01T00:00:02.25Z', text: 'NEEDLE new' }),
  ];
  await insertAll(store, kept);
  // A duplicate changes nothing, not even when its first copy was received.
  assert.equal(await insertOne(store, msg('old-1', { text: 'again' })), 'duplicate');

  // Received exactly at `before` is not before it: the new rows stay.
  const before = new Date('2026-01-02T00:00:00.000Z');
  let left = old.length;
  for (let calls = 0; left > 0; calls += 1) {
    assert.ok(calls < old.length, 'prune drains the old rows');
    const n = await store.prune(before, 2);
    assert.ok(n >= 1 && n <= 2, `prune(before, 2) deleted ${n}`);
    left -= n;
    assert.equal((await store.stats(10)).totalMessages, kept.length + left);
  }
  assert.equal(left, 0);
  assert.equal(await store.prune(before, 2), 0);

  assert.deepEqual(await store.stats(10), {
    totalMessages: 2,
    sendersCount: 2,
    messagesPerSender: [{ from: '+1', count: 1 }, { from: '+3', count: 1 }],
    firstMessageTs: '2025-01-01T00:00:01Z',
    lastMessageTs: '2025-01-01T00:00:02.25Z',
  });
  assert.deepEqual(await list(store), { data: kept, total: 2, more: false });
  assert.deepEqual(await list(store, { q: 'needle' }), { data: kept, total: 2, more: false });
  assert.deepEqual(await list(store, { q: 'old' }), { data: [], total: 0, more: false });
  assert.deepEqual(await list(store, { from: '+2' }), { data: [], total: 0, more: false });
  assert.deepEqual(await list(store, { from: '+1', q: 'NEEDLE', limit: 1 }), { data: [kept[0]], total: 1, more: false });

  assert.equal(await store.prune(new Date('2026-01-03T00:00:00.000Z'), 100), 2);
  const empty = { totalMessages: 0, sendersCount: 0, messagesPerSender: [], firstMessageTs: null, lastMessageTs: null };
  assert.deepEqual(await store.stats(10), empty);
}
