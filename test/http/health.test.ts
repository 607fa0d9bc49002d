import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { createReadiness, createReadyHandler } from '../../src/http/handlers/health.ts';
import type { Store } from '../../src/store/store.ts';
import { getJson, startApp, SQLITE_ONLY } from '../helpers.ts';

describe('health probes', () => {
  test('live and ready answer 200 when the database and the secret are fine', async (t) => {
    const app = await startApp(t);
    assert.deepEqual(await getJson(`${app.url}/health/live`).then((r) => [r.status, r.body]), [200, { status: 'ok' }]);
    const ready = await getJson(`${app.url}/health/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', checks: { database: 'ok', secret: 'ok', shutdown: 'no' } });
  });

  test('without a secret: live 200, ready 503 naming the secret', async (t) => {
    const app = await startApp(t, { secrets: [] });
    assert.equal((await getJson(`${app.url}/health/live`)).status, 200);
    const ready = await getJson(`${app.url}/health/ready`);
    assert.equal(ready.status, 503);
    const body = ready.body as { status: string; checks: { secret: string; database: string } };
    assert.equal(body.status, 'not ready');
    assert.match(body.checks.secret, /^missing/);
    assert.equal(body.checks.database, 'ok');
  });

  test('ready turns 503 as soon as draining starts, with a healthy database', async () => {
    let draining = false;
    const store = { ping: async () => {} } as unknown as Store;
    const ready = createReadyHandler(createReadiness({ store, secretConfigured: true, draining: () => draining }));
    assert.equal((await ready()).status, 200);
    draining = true;
    const reply = await ready();
    assert.equal(reply.status, 503);
    assert.deepEqual(reply.body, { status: 'not ready', checks: { database: 'ok', secret: 'ok', shutdown: 'in progress' } });
  });

  test('ready reports the database when its schema is gone', { skip: SQLITE_ONLY }, async (t) => {
    const app = await startApp(t);
    const other = new DatabaseSync(app.dbPath, { timeout: 5_000 });
    other.exec('DROP TABLE message_totals');
    other.close();
    const ready = await getJson(`${app.url}/health/ready`);
    assert.equal(ready.status, 503);
    assert.match((ready.body as { checks: { database: string } }).checks.database, /^unavailable/);
    assert.equal((await getJson(`${app.url}/health/live`)).status, 200);
  });
});
