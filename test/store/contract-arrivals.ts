// The live tail's part of the Store contract (SPEC: GET /messages/stream): positions in arrival order,
// never repeated, filters as `list` applies them, and a wake for rows another store committed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Arrival, Store } from '../../src/store/store.ts';
import { insertOne, msg, type Open } from './contract-helpers.ts';

const idsOf = (arrivals: Arrival[]): string[] => arrivals.map((a) => a.message.messageId);

/** Everything after `position`, read `limit` at a time as a stream reads it. */
async function readAll(store: Store, position: string, filter = {}, limit = 2): Promise<Arrival[]> {
  const all: Arrival[] = [];
  for (;;) {
    const page = await store.arrivals(position, filter, limit);
    all.push(...page);
    const last = page.at(-1);
    if (last === undefined) return all;
    position = last.position;
  }
}

export function arrivalCases(open: Open): void {
  test('arrivals: in the order stored (not ts order), once each, from the head on; filters as list; type kept', async (t) => {
    const { store } = await open(t);
    await insertOne(store, msg('before'));
    const head = await store.arrivalHead();
    assert.ok(await store.arrivalIssued(head));
    assert.deepEqual(await store.arrivals(head, {}, 10), []);
    await insertOne(store, msg('late', { ts: '2025-06-01T00:00:00Z', from: '+200', text: 'Straße 5' }));
    assert.deepEqual(await store.insertMany([msg('early', { ts: '2024-01-01T00:00:00Z', text: 'hi', type: 'image' }), msg('late')]), ['created', 'duplicate']);
    await insertOne(store, msg('third', { from: '+200', text: 'STRASSE' }));
    const all = await readAll(store, head);
    assert.deepEqual(idsOf(all), ['late', 'early', 'third']);
    assert.deepEqual(all[1]?.message, msg('early', { ts: '2024-01-01T00:00:00Z', text: 'hi', type: 'image' }));
    assert.equal(new Set(all.map((a) => a.position)).size, 3);
    for (const a of all) assert.ok(await store.arrivalIssued(a.position), a.position);
    assert.deepEqual(idsOf(await readAll(store, all[0]?.position ?? '')), ['early', 'third']);
    assert.deepEqual(idsOf(await readAll(store, head, { from: '+200' })), ['late', 'third']);
    assert.deepEqual(idsOf(await readAll(store, head, { q: 'strasse' })), ['late', 'third']);
    assert.deepEqual(idsOf(await readAll(store, head, { from: '+100', q: 'H' })), ['early']);
    assert.deepEqual(idsOf(await store.arrivals(head, {}, 1)), ['late']);
  });

  test('arrivals: a position is never issued again, also after the newest message is deleted', async (t) => {
    const { store, clock } = await open(t);
    const start = await store.arrivalHead();
    await insertOne(store, msg('one'));
    const [first] = await store.arrivals(start, {}, 10);
    assert.ok(first);
    clock.set('2026-02-01T00:00:00Z');
    assert.equal(await store.prune(new Date('2026-03-01T00:00:00Z'), 10), 1);
    await insertOne(store, msg('two'));
    const after = await store.arrivals(first.position, {}, 10);
    assert.deepEqual(idsOf(after), ['two']);
    assert.notEqual(after[0]?.position, first.position);
  });

  test('arrivalIssued: only positions this store could have handed out', async (t) => {
    const { store } = await open(t);
    await insertOne(store, msg('one'));
    for (const bad of ['', 'x', '-1', '1e3', ' 1', '01', '99999999999999999999999999', '1.2.3', '\u0661', '1.9999999999999999999', '18446744073709551616.1']) {
      assert.equal(await store.arrivalIssued(bad), false, JSON.stringify(bad));
    }
  });

  test('watchArrivals: a commit of this store wakes at once, one of another store (replica) soon after', async (t) => {
    const { store, another } = await open(t);
    const other = await another();
    const start = await store.arrivalHead();
    let woken = 0;
    const stop = store.watchArrivals(() => (woken += 1));
    t.after(stop);
    // The first wake comes unasked (rows may have come before the watch began): past it, every wake is news.
    await waitUntil(() => woken > 0);
    woken = 0;
    await insertOne(store, msg('mine'));
    assert.ok(woken > 0, 'its own commit woke it before the insert was answered');
    const seen = woken;
    await insertOne(other, msg('theirs'));
    await waitUntil(() => woken > seen);
    assert.deepEqual(idsOf(await readAll(store, start)), ['mine', 'theirs']);
  });
}

async function waitUntil(check: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
