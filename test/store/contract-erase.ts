// The contract's erasure and export cases (SPEC.md: Erasure, GET /messages/export), run by every engine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message, MessageFilter, Store } from '../../src/store/store.ts';
import { ids, insertAll, insertOne, list, msg, type Open } from './contract-helpers.ts';

/** Every page the scan yields, and the messages in them. */
async function scanAll(store: Store, filter: MessageFilter, pageSize: number): Promise<{ pages: number[]; data: Message[] }> {
  const pages: number[] = [];
  const data: Message[] = [];
  for await (const page of store.scan(filter, pageSize)) {
    pages.push(page.length);
    data.push(...page);
  }
  return { pages, data };
}

/** Inserts a few hundred at once (group commit; within the pool's queue): one by one would take the test's time. */
async function insertMany(store: Store, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 400) {
    const outcomes = await Promise.all(messages.slice(i, i + 400).map((m) => insertOne(store, m)));
    assert.ok(outcomes.every((o) => o === 'created'));
  }
}

export function eraseCases(open: Open): void {
  test('erase one message by id: it goes from list, search and stats; erasing it again finds none', async (t) => {
    const { store } = await open(t);
    await insertAll(store, [
      msg('keep', { from: '+111', text: 'a word to keep', ts: '2025-01-01T00:00:00Z' }),
      msg('gone', { from: '+222', text: 'a secret word', ts: '2025-01-02T00:00:00Z' }),
    ]);
    assert.equal(await store.erase({ messageId: 'gone' }), 1);
    assert.equal(await store.erase({ messageId: 'gone' }), 0);
    assert.deepEqual(ids(await list(store)), ['keep']);
    assert.deepEqual([ids(await list(store, { q: 'secret' })), (await list(store, { q: 'word' })).total], [[], 1]);
    const stats = await store.stats(10);
    assert.deepEqual([stats.totalMessages, stats.sendersCount, stats.messagesPerSender], [1, 1, [{ from: '+111', count: 1 }]]);
    assert.deepEqual([stats.firstMessageTs, stats.lastMessageTs], ['2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z']);
  });

  test('erase a sender across several batches, seen by another store on the same database; others stay', async (t) => {
    const { store, another } = await open(t);
    const sender = 'US.13491208655302741918';
    const theirs = Array.from({ length: 2_345 }, (_, i) => msg(`s${i}`, { from: sender, text: `private ${i}`, ts: `2025-01-01T00:00:${String(i % 60).padStart(2, '0')}Z` }));
    const others = Array.from({ length: 30 }, (_, i) => msg(`o${i}`, { from: '+999', text: `public ${i}` }));
    await insertMany(store, [...theirs, ...others]);
    const replica = await another();
    assert.equal(await replica.erase({ from: sender }), theirs.length);
    assert.equal(await store.erase({ from: sender }), 0);
    assert.deepEqual([(await list(store, { from: sender })).total, (await list(store, { q: 'private' })).total], [0, 0]);
    assert.deepEqual([(await list(store)).total, (await list(store, { q: 'public' })).total], [30, 30]);
    const stats = await store.stats(10);
    assert.deepEqual([stats.totalMessages, stats.sendersCount, stats.messagesPerSender], [30, 1, [{ from: '+999', count: 30 }]]);
  });

  test('erase of a sender with no messages, or of an id never stored: 0, nothing else touched', async (t) => {
    const { store } = await open(t);
    await insertAll(store, [msg('a', { from: '+1' })]);
    assert.deepEqual([await store.erase({ from: '+2' }), await store.erase({ messageId: 'b' })], [0, 0]);
    assert.equal((await list(store)).total, 1);
  });
}

export function scanCases(open: Open): void {
  test('scan yields every match in listing order, pages of at most pageSize, the same as paging the list', async (t) => {
    const { store } = await open(t);
    const texts = ['Hello, "world"', 'line\nbreak', 'nul\u0000inside', 'ünïcödé hello', null, 'HELLO again', '100% _literal_'];
    const all = Array.from({ length: 23 }, (_, i) =>
      msg(`m${String(22 - i).padStart(2, '0')}`, {
        from: i % 3 === 0 ? '+300' : '+400',
        ts: `2025-03-0${1 + (i % 5)}T00:00:00${i % 2 === 0 ? '.5' : ''}Z`,
        text: texts[i % texts.length] ?? null,
      }),
    );
    await insertAll(store, all);
    const filters: MessageFilter[] = [{}, { from: '+300' }, { since: '2025-03-03T00:00:00Z' }, { q: 'hello' }, { q: 'l' }, { q: '%' }, { q: 'nul\u0000' }, { from: '+400', q: 'ell', since: '2025-03-02T00:00:00.5Z' }];
    for (const filter of filters) {
      const listed = await list(store, filter);
      for (const pageSize of [1, 4, 100]) {
        const scanned = await scanAll(store, filter, pageSize);
        assert.deepEqual(scanned.data, listed.data, JSON.stringify(filter));
        assert.ok(scanned.pages.every((n) => n >= 1 && n <= pageSize));
        assert.equal(scanned.pages.length, Math.ceil(listed.total / pageSize));
      }
    }
    assert.deepEqual(await scanAll(store, { from: '+500' }, 10), { pages: [], data: [] });
  });
}
