import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { message, postSigned, startApp, tempDir, waitFor } from '../helpers.ts';
import { insertOne } from '../store/contract-helpers.ts';

/** The value of one unlabelled sample in a /metrics text, or undefined when absent. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const scrape = async (url: string): Promise<string> => (await fetch(`${url}/metrics`)).text();

describe("the service's own metrics", () => {
  test('messages_stored counts stored rows, duplicates aside, and follows a DELETE made with the sqlite3 CLI', async (t) => {
    const app = await startApp(t);
    assert.equal(sample(await scrape(app.url), 'messages_stored'), 0);
    await postSigned(app.url, message({ message_id: 'a' }));
    await postSigned(app.url, message({ message_id: 'b' }));
    await postSigned(app.url, message({ message_id: 'a' }));
    assert.equal(sample(await scrape(app.url), 'messages_stored'), 2);

    const other = new DatabaseSync(app.dbPath, { timeout: 5_000 });
    other.exec("DELETE FROM messages WHERE message_id = 'a'");
    other.close();
    assert.equal(sample(await scrape(app.url), 'messages_stored'), 1);
  });

  test('database_size_bytes is the database file plus its write-ahead log', async (t) => {
    const app = await startApp(t);
    await postSigned(app.url, message({ message_id: 'x', text: 'y'.repeat(4000) }));
    const text = await scrape(app.url);
    const size = (p: string): number => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    const expected = size(app.dbPath) + size(`${app.dbPath}-wal`);
    assert.ok(size(`${app.dbPath}-wal`) > 4000, 'the row is in the WAL');
    assert.equal(sample(text, 'database_size_bytes'), expected);
  });

  test('each group commit is observed: batch size and commit duration histograms', async (t) => {
    const app = await startApp(t);
    // Sent together, so they are likely to share commits; the row total is exact whatever the grouping.
    const sent = await Promise.all(['a', 'b', 'c', 'd'].map((id) => postSigned(app.url, message({ message_id: id }))));
    assert.deepEqual(sent.map((r) => r.status), [200, 200, 200, 200]);
    const text = await scrape(app.url);
    assert.equal(sample(text, 'store_commit_batch_size_sum'), 4);
    const commits = sample(text, 'store_commit_batch_size_count') ?? 0;
    assert.ok(commits >= 1 && commits <= 4, `commits: ${commits}`);
    assert.equal(sample(text, 'store_commit_duration_seconds_count'), commits);
    assert.equal(sample(text, 'store_commit_duration_seconds_bucket{le="+Inf"}'), commits);
    assert.ok((sample(text, 'store_commit_duration_seconds_sum') ?? 0) > 0);
  });

  test('service_ready is 1 when ready and 0 without a secret, like /health/ready', async (t) => {
    const ready = await startApp(t);
    assert.equal(sample(await scrape(ready.url), 'service_ready'), 1);
    const unready = await startApp(t, { secrets: [] });
    assert.equal(sample(await scrape(unready.url), 'service_ready'), 0);
  });

  test('a scrape writes nothing: with writes locked out it neither waits for nor trips over the lock; readiness does', async (t) => {
    const app = await startApp(t);
    const locker = new DatabaseSync(app.dbPath, { timeout: 5_000 });
    locker.exec('BEGIN EXCLUSIVE');
    t.after(() => locker.isOpen && locker.close());
    for (let i = 0; i < 3; i += 1) assert.equal(sample(await scrape(app.url), 'service_ready'), 1);
    // A write probe would have met the lock: the writer reports storage trouble on its first failure.
    assert.deepEqual(app.logs.filter((l) => String(l.msg).startsWith('storage trouble')), []);
    // The readiness probe writes, finds the lock, and the metric follows its verdict until the next one.
    assert.equal((await fetch(`${app.url}/health/ready`)).status, 503);
    assert.equal(sample(await scrape(app.url), 'service_ready'), 0);
    locker.exec('ROLLBACK');
    locker.close();
    assert.equal((await fetch(`${app.url}/health/ready`)).status, 200);
    assert.equal(sample(await scrape(app.url), 'service_ready'), 1);
  });

  test('a database that no longer answers still scrapes: messages_stored NaN, service_ready 0', async (t) => {
    const app = await startApp(t);
    const other = new DatabaseSync(app.dbPath, { timeout: 5_000 });
    other.exec('DROP TABLE message_totals');
    other.close();
    const res = await fetch(`${app.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(Number.isNaN(sample(text, 'messages_stored')));
    assert.equal(sample(text, 'service_ready'), 0);
  });
});

describe('createSqliteStore onCommit', () => {
  test('reports rows and seconds once per committed transaction, never for a failed one', async (t) => {
    const commits: [number, number][] = [];
    const store = createSqliteStore({ path: join(tempDir(t), 'a.db'), onCommit: (rows, seconds) => commits.push([rows, seconds]) });
    t.after(() => store.close());
    // Same event-loop turn: one transaction of three rows (a duplicate is still a row of the batch).
    const m = { from: '+1', to: '+2', ts: '2025-01-01T00:00:00Z', text: null };
    await Promise.all([insertOne(store, { messageId: 'x', ...m }), insertOne(store, { messageId: 'y', ...m }), insertOne(store, { messageId: 'x', ...m })]);
    await insertOne(store, { messageId: 'z', ...m });
    assert.deepEqual(commits.map(([rows]) => rows), [3, 1]);
    for (const [, seconds] of commits) assert.ok(seconds > 0 && seconds < 5, `seconds: ${seconds}`);
  });

  test('a batch that rolls back is not reported; its good rows, retried alone, are', async (t) => {
    const path = join(tempDir(t), 'a.db');
    const rows: number[] = [];
    const store = createSqliteStore({ path, onCommit: (n) => rows.push(n) });
    t.after(() => store.close());
    const other = new DatabaseSync(path, { timeout: 5_000 });
    other.exec("CREATE TRIGGER poison BEFORE INSERT ON messages WHEN new.message_id = 'p' BEGIN SELECT RAISE(ABORT, 'no'); END");
    other.close();
    const m = { from: '+1', to: '+2', ts: '2025-01-01T00:00:00Z', text: null };
    const outcomes = await Promise.allSettled([insertOne(store, { messageId: 'ok', ...m }), insertOne(store, { messageId: 'p', ...m })]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected']);
    assert.deepEqual(rows, [1]);
  });
});
