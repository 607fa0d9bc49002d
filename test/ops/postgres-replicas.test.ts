// Several replicas of the built service on one PostgreSQL database, behind HAProxy on loopback: the
// promises a user running them makes to senders. Every loop is bounded in count and time.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { Sql } from 'postgres';
import { tempDir } from '../helpers.ts';
import { cluster, skipWithoutPostgres } from '../postgres-cluster.ts';
import { haproxyMissing, postMessage, sendLoad, startBalancer, startReplica, type Balancer, type LoadResult, type Replica } from '../replicas.ts';

function skip(): false | string {
  const pg = skipWithoutPostgres();
  if (pg !== false) return pg;
  const missing = haproxyMissing();
  if (missing === null) return false;
  if (process.env.CI === 'true') throw new Error(`the replica tests are mandatory in CI: ${missing}`);
  return `replica tests did not run: ${missing}`;
}

type Setup = { replicas: Replica[]; balancer: Balancer; admin: Sql };

async function setUp(t: TestContext, count = 2): Promise<Setup> {
  const url = await cluster().database('replicas');
  // Started together: the migration's advisory lock is what lets them.
  const replicas = await Promise.all(Array.from({ length: count }, () => startReplica(url)));
  for (const r of replicas) t.after(() => r.stop());
  const balancer = await startBalancer(tempDir(t), replicas.map((r) => r.port));
  t.after(() => balancer.stop());
  const admin = cluster().admin(new URL(url).pathname.slice(1));
  t.after(() => admin.end());
  return { replicas, balancer, admin };
}

const storedIds = async (admin: Sql): Promise<Set<string>> =>
  new Set((await admin<{ message_id: string }[]>`SELECT message_id FROM messages`).map((r) => r.message_id));

const created = async (replica: Replica): Promise<number> => {
  const text = await (await fetch(`${replica.url}/metrics`)).text();
  return Number(/^webhook_requests_total\{result="created"\} (\d+)$/m.exec(text)?.[1] ?? NaN);
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('replicas behind HAProxy on one PostgreSQL', { skip: skip(), concurrency: false }, () => {
  test('the same message_id sent to two replicas at once is stored once, and both answer 200', async (t) => {
    const { replicas, admin } = await setUp(t);
    const [a, b] = replicas as [Replica, Replica];
    const ids = Array.from({ length: 100 }, (_, i) => `same-${i}`);
    const answers = await Promise.all(ids.flatMap((id) => [postMessage(a.url, id), postMessage(b.url, id)]));
    assert.deepEqual(new Set(answers.map((r) => r.status)), new Set([200]));
    assert.equal((await admin`SELECT count(*)::int AS n FROM messages`)[0]?.n, 100);
    // Each id was created by exactly one of them; the other answered it as a duplicate.
    assert.equal((await created(a)) + (await created(b)), 100);
  });

  test('a message acknowledged by one replica is listed by the next request to another', async (t) => {
    const { replicas } = await setUp(t);
    const [a, b] = replicas as [Replica, Replica];
    for (let i = 0; i < 40; i += 1) {
      const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
      assert.equal((await postMessage(writer.url, `ryw-${i}`, `marker${i}x`)).status, 200);
      const page = (await (await fetch(`${reader.url}/messages?q=marker${i}x`)).json()) as { total: number; data: { message_id: string }[] };
      assert.deepEqual([page.total, page.data.map((m) => m.message_id)], [1, [`ryw-${i}`]], `round ${i}`);
      const stats = (await (await fetch(`${reader.url}/stats`)).json()) as { total_messages: number };
      assert.equal(stats.total_messages, i + 1);
    }
  });

  test('kill -9 of one replica under load loses no acknowledged message; the balancer routes around it', async (t) => {
    const { replicas, balancer, admin } = await setUp(t);
    const victim = replicas[0] as Replica;
    let stop = false;
    const deadline = setTimeout(() => (stop = true), 60_000);
    t.after(() => clearTimeout(deadline));
    // The load stops once 60 answers came after the health check had time to mark the victim down
    // (2 x 200 ms, with margin): a count, so a slow machine takes longer instead of failing.
    let killedAt = Infinity;
    let seen = 0;
    let afterKill = 0;
    const enoughAfterKill = (soFar: LoadResult): boolean => {
      for (; seen < soFar.last.length; seen += 1) if ((soFar.last[seen]?.at ?? 0) > killedAt + 1_500) afterKill += 1;
      return afterKill >= 60;
    };
    const loading = sendLoad(balancer.url, 'kill', { concurrency: 8, maxRequests: 20_000, stop: (soFar) => stop || enoughAfterKill(soFar) });
    await sleep(1_500);
    victim.proc.kill('SIGKILL');
    killedAt = Date.now();
    assert.equal(await victim.exited, 'SIGKILL');
    const load = await loading;
    const stored = await storedIds(admin);
    const lost = load.acked.filter((id) => !stored.has(id));
    assert.deepEqual(lost, [], 'every acknowledged message is stored');
    t.diagnostic(`statuses: ${JSON.stringify([...load.statuses])}; ${load.acked.length} acknowledged; ${load.errors.join('; ')}`);
    // No 500s: a request cut off by the kill is refused by the balancer (502/503) or fails to connect.
    for (const status of load.statuses.keys()) assert.ok([0, 200, 502, 503].includes(status), `status ${status}`);
    // Once the health check has marked it down (2 x 200 ms), every request goes to the survivor.
    const after = load.last.filter((r) => r.at > killedAt + 1_500);
    assert.ok(after.length >= 60, `load went on after the kill (${after.length} answers; the 60 s deadline came first)`);
    assert.deepEqual(new Set(after.map((r) => r.status)), new Set([200]));
  });

  test('a PostgreSQL restart under load gives 503s with Retry-After, no 500s, no lost rows, and recovers by itself', async (t) => {
    const { balancer, admin, replicas } = await setUp(t);
    let stop = false;
    const deadline = setTimeout(() => (stop = true), 60_000);
    t.after(() => clearTimeout(deadline));
    // Bounded by the deadline, not by a count: a count reached early would end the load before the
    // recovery it is to show.
    const loading = sendLoad(balancer.url, 'restart', { concurrency: 8, maxRequests: Infinity, stop: () => stop });
    await sleep(1_500);
    await cluster().stop();
    await sleep(2_000);
    const downUntil = Date.now();
    await cluster().start();
    // Back without a restart of any replica: readiness, then ingest through the balancer.
    const until = Date.now() + 20_000;
    while (!(await Promise.all(replicas.map((r) => fetch(`${r.url}/health/ready`).then((x) => x.status === 200)))).every(Boolean)) {
      assert.ok(Date.now() < until, 'replicas ready again in time');
      await sleep(100);
    }
    await sleep(2_000);
    stop = true;
    const stoppedAt = Date.now();
    const load = await loading;
    t.diagnostic(`statuses: ${JSON.stringify([...load.statuses])}; ${load.acked.length} acknowledged; ${load.errors.join('; ')}`);
    assert.ok((load.statuses.get(503) ?? 0) > 0, 'the outage was seen as 503s');
    for (const status of load.statuses.keys()) assert.ok([200, 503].includes(status), `status ${status}`);
    assert.equal(load.missingRetryAfter, 0, 'every 503 carries Retry-After');
    // The second before the load was told to stop: a request still running then (its answer later)
    // must not shrink the window to itself.
    const tail = load.last.filter((r) => r.at > stoppedAt - 1_000 && r.at <= stoppedAt);
    const tailStatuses = JSON.stringify([...new Set(tail.map((r) => r.status))]);
    assert.ok(tail.length > 20 && tail.every((r) => r.status === 200), `ingest recovered (the last second: ${tail.length} answers, statuses ${tailStatuses})`);
    assert.ok(load.last.some((r) => r.at < downUntil && r.status === 503));
    const stored = await storedIds(admin);
    assert.deepEqual(load.acked.filter((id) => !stored.has(id)), [], 'every acknowledged message is stored');
  });
});
