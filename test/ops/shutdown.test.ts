import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { launch, postWebhook, SOAK_SECRET } from '../../tools/crash.ts';
import { sign } from '../../src/domain/signature.ts';
import { message, tempDir } from '../helpers.ts';

type Outcome = { id: string; status: number | null };

async function post(agent: Agent, port: number, id: string): Promise<Outcome> {
  const raw = JSON.stringify(message({ message_id: id }));
  return { id, status: await postWebhook(agent, port, raw, sign(raw, SOAK_SECRET)) };
}

test('SIGTERM during a burst: every request is answered truly or refused untouched, then exit 0 in time', async (t) => {
  const dbPath = join(tempDir(t), 'app.db');
  const server = await launch(dbPath);
  assert.ok(server, 'the service did not start');
  t.after(() => server.proc.kill('SIGKILL'));
  const code = new Promise<number | null>((resolve) => server.proc.once('exit', (c) => resolve(c)));

  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  t.after(() => agent.destroy());
  const outcomes: Promise<Outcome>[] = [];
  let sigtermAt = 0;
  let n = 0;
  let answeredSoFar = 0;
  const started = Date.now();
  // SIGTERM once the service is answering at speed (a few batches answered: on a slow moment the first
  // ones take longer), then keep sending for a while so requests meet every stage of the drain.
  while (sigtermAt === 0 || Date.now() - sigtermAt < 300) {
    const batch = Array.from({ length: 32 }, () => post(agent, server.port, `burst-${n++}`));
    for (const p of batch) void p.then((o) => (answeredSoFar += o.status === null ? 0 : 1));
    outcomes.push(...batch);
    if (sigtermAt === 0 && (answeredSoFar >= 32 * 3 || Date.now() - started > 5_000)) {
      server.proc.kill('SIGTERM');
      sigtermAt = Date.now();
    }
    await Promise.race([Promise.all(batch), new Promise((r) => setTimeout(r, 20))]);
  }
  const results = await Promise.all(outcomes);
  assert.equal(await code, 0);
  const exitedWithin = Date.now() - sigtermAt;
  assert.ok(exitedWithin < 10_000, `exit took ${exitedWithin} ms`);

  const answered = results.filter((r) => r.status !== null);
  const refused = results.filter((r) => r.status === null);
  t.diagnostic(`${results.length} requests: ${answered.length} answered, ${refused.length} refused before any work`);
  assert.ok(answered.length >= 32 && refused.length > 0, 'the burst must straddle the shutdown to test anything');
  assert.deepEqual([...new Set(answered.map((r) => r.status))], [200], 'a 200 or no answer at all, never a 5xx');

  const db = new DatabaseSync(dbPath, { readOnly: true });
  t.after(() => db.close());
  const stored = new Set(db.prepare('SELECT message_id FROM messages').all().map((r) => String(r.message_id)));
  assert.deepEqual(answered.filter((r) => !stored.has(r.id)), [], 'every 200 is stored');
  assert.deepEqual(refused.filter((r) => stored.has(r.id)), [], 'nothing stored without its answer');
  assert.equal((db.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
});
