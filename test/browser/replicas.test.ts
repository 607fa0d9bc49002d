// The inbox page behind the replicas' load balancer: two built service processes on one PostgreSQL
// database, HAProxy in front, the page served and read through it. Run by `make test-postgres` (the
// engine's other browser tests run there too, on TEST_ENGINE=postgres).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { message, postSigned, SECRET, tempDir } from '../helpers.ts';
import { cluster, skipWithoutPostgres } from '../postgres-cluster.ts';
import { haproxyMissing, startBalancer, startReplica, type Balancer, type Replica } from '../replicas.ts';
import { browserMissing, openPage, useBrowser } from './chromium.ts';
import { loadAll, loadInbox, notes, range, rowTexts, seed, seeded, SEEDED, settled, shows } from './inbox-page.ts';

function skip(): false | string {
  if (process.env.TEST_ENGINE !== 'postgres') return 'on PostgreSQL replicas: make test-postgres runs it';
  const missing = browserMissing() || skipWithoutPostgres() || haproxyMissing();
  if (missing && process.env.CI === 'true') throw new Error(`the inbox's replica tests are mandatory in CI: ${missing}`);
  return missing || false;
}

describe('the inbox page through HAProxy in front of two replicas on one PostgreSQL', { skip: skip() }, () => {
  const browser = useBrowser();
  let replicas: Replica[] = [];
  let balancer: Balancer | undefined;
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    const database = await cluster().database('inbox_replicas');
    // The tests' own secret, so the shared helpers sign for them.
    replicas = await Promise.all([startReplica(database, { WEBHOOK_SECRET: SECRET }), startReplica(database, { WEBHOOK_SECRET: SECRET })]);
    balancer = await startBalancer(tempDir({ after: (fn) => void cleanups.push(fn) }), replicas.map((r) => r.port));
    await seed(balancer, range(1, SEEDED).map(seeded));
  });
  after(async () => {
    await balancer?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    for (const fn of cleanups) await fn();
  });
  const front = (): string => {
    if (!balancer) throw new Error('balancer not started');
    return balancer.url;
  };

  test('loads with no console error and no failed request, and lists the seeded messages newest first', async (t) => {
    const w = await openPage(browser(), t);
    await loadInbox(w, `${front()}/inbox`);
    await shows(w.page, `Showing 50 of ${SEEDED}`);
    assert.deepEqual(await rowTexts(w.page), notes(range(71, SEEDED).reverse()));
    await settled(w);
    assert.deepEqual(w.consoleErrors, []);
    assert.deepEqual(w.failed, []);
  });

  test('filters narrow the list and appear in the URL', async (t) => {
    const w = await openPage(browser(), t);
    await loadInbox(w, `${front()}/inbox`);
    await w.page.getByLabel('Search text').fill('APPLE');
    await w.page.waitForURL(/\?q=APPLE$/);
    await shows(w.page, 'Showing 12 of 12');
    await w.page.getByLabel('From').fill('+14155550101');
    await w.page.getByLabel('From').press('Enter');
    await w.page.waitForURL(/from=%2B14155550101/);
    await shows(w.page, 'Showing 8 of 8');
    assert.deepEqual(await rowTexts(w.page), notes([120, 110, 90, 80, 60, 50, 30, 20]));
  });

  test('Load more neither repeats nor skips, in both orders', async (t) => {
    const w = await openPage(browser(), t);
    await loadInbox(w, `${front()}/inbox`);
    assert.deepEqual(await loadAll(w.page), notes(range(1, SEEDED).reverse()));
    await w.page.getByLabel('Order').selectOption('oldest');
    await shows(w.page, `Showing 50 of ${SEEDED}`);
    assert.deepEqual(await loadAll(w.page), notes(range(1, SEEDED)));
  });

  test('a message posted straight to either replica appears live within 2 s on the page served through the balancer', async (t) => {
    const w = await openPage(browser(), t);
    // The stream's head is fixed before its answer's head is sent: what is posted after this is news to it.
    // (A count of open streams cannot say so: the earlier pages' streams stay counted behind HAProxy until
    // a write to them fails.)
    const streaming = w.page.waitForResponse((r) => new URL(r.url()).pathname === '/messages/stream' && r.status() === 200, { timeout: 5_000 });
    await loadInbox(w, `${front()}/inbox`);
    await streaming;
    // The page's stream is open on one of the two (the balancer chose); each posts once, so one of the
    // messages crosses from the other replica through PostgreSQL.
    for (const [i, r] of replicas.entries()) {
      const text = `live through replica ${i} ${Date.now()}`;
      assert.equal((await postSigned(r.url, message({ message_id: `live-r${i}-${Date.now()}`, ts: '2026-03-02T00:00:00Z', text }))).status, 200);
      const posted = Date.now();
      await w.page.locator('#rows td.text', { hasText: text }).waitFor({ timeout: 2_000 });
      t.diagnostic(`replica ${i}: on the page ${Date.now() - posted} ms after the 200`);
    }
    assert.deepEqual(w.consoleErrors, []);
  });
});
