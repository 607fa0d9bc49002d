import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PRUNE_BATCH, startRetention } from '../../src/retention.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { getJson, message, postSigned, startApp, tempDir, waitFor } from '../helpers.ts';
import { insertOne } from './contract-helpers.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('retention (RETENTION_DAYS)', () => {
  test('a run deletes, batch after batch, exactly the messages received before the cutoff', async (t) => {
    let now = T0;
    const store = createSqliteStore({ path: join(tempDir(t), 'a.db'), clock: () => new Date(now) });
    t.after(() => store.close());
    const old = 2 * PRUNE_BATCH + 50;
    const m = (id: string) => ({ messageId: id, from: `+${id.length}`, to: '+2', ts: '2025-01-01T00:00:00Z', text: `text ${id}` });
    await Promise.all(Array.from({ length: old }, (_, i) => insertOne(store, m(`old-${i}`))));
    now = T0 + 20 * DAY;
    await insertOne(store, m('recent'));
    now = T0 + 31 * DAY; // the old ones are 31 days old, the recent one 11

    const batches: number[] = [];
    const retention = startRetention({ store, days: 30, clock: () => new Date(now), onPruned: (n) => batches.push(n), everyMs: 3_600_000 });
    t.after(() => retention.stop());
    await waitFor(() => batches.reduce((a, b) => a + b, 0) === old);
    assert.deepEqual(batches, [PRUNE_BATCH, PRUNE_BATCH, 50]);
    assert.equal(await retention.run(), 0, 'a second run finds nothing more');
    const stats = await store.stats(10);
    assert.deepEqual([stats.totalMessages, stats.sendersCount, stats.messagesPerSender], [1, 1, [{ from: '+6', count: 1 }]]);
    const search = await store.list({ limit: 10, offset: 0, q: 'TEXT' });
    assert.deepEqual([search.data.map((r) => r.messageId), search.total], [['recent'], 1]);
  });

  test('the service prunes at start and counts it in messages_pruned_total; unset, nothing goes', async (t) => {
    const dir = tempDir(t);
    const database = { kind: 'sqlite', path: join(dir, 'app.db') } as const;
    const first = await startApp(t, { database, clock: () => new Date(T0) });
    for (const id of ['a', 'b', 'c']) assert.equal((await postSigned(first.url, message({ message_id: id }))).status, 200);
    await first.shutdown();

    const later = (): Date => new Date(T0 + 45 * DAY);
    const keep = await startApp(t, { database, clock: later });
    assert.equal(((await getJson(`${keep.url}/stats`)).body as { total_messages: number }).total_messages, 3);
    await keep.shutdown();

    const prune = await startApp(t, { database, clock: later, retentionDays: 30 });
    const pruned = async (): Promise<string | undefined> =>
      (await (await fetch(`${prune.url}/metrics`)).text()).split('\n').find((l) => l.startsWith('messages_pruned_total '));
    await waitFor(async () => (await pruned()) === 'messages_pruned_total 3');
    assert.equal(((await getJson(`${prune.url}/stats`)).body as { total_messages: number }).total_messages, 0);
  });
});
