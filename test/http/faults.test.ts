import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { getJson, message, postSigned, startApp, tempDir, type TestApp } from '../helpers.ts';

// Each kind of storage trouble, induced while the service runs: `start` makes it, `end` takes it away.
// Root ignores file modes, so "read-only" is PRAGMA query_only on the service's own connection (SQLite
// answers SQLITE_READONLY exactly as for a read-only file) and "full" is PRAGMA max_page_count.
type Fault = { name: string; start(app: TestApp, db: DatabaseSync): Promise<() => Promise<void>>; reason: RegExp };

const FAULTS: Fault[] = [
  {
    name: 'database full',
    reason: /full/,
    start: async (_app, db) => {
      const pages = Number((db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count);
      db.exec(`PRAGMA max_page_count = ${pages}`);
      return async () => void db.exec('PRAGMA max_page_count = 1073741823');
    },
  },
  {
    name: 'file read-only',
    reason: /readonly/,
    start: async (_app, db) => {
      db.exec('PRAGMA query_only = ON');
      return async () => void db.exec('PRAGMA query_only = OFF');
    },
  },
  {
    name: 'file locked by another writer',
    reason: /locked/,
    start: async (app) => {
      const locker = new DatabaseSync(app.dbPath);
      locker.exec('BEGIN EXCLUSIVE');
      return async () => {
        locker.exec('ROLLBACK');
        locker.close();
      };
    },
  },
  {
    name: 'directory missing',
    reason: /moved or deleted/,
    start: async (app) => {
      // Writing on would "succeed" into a deleted file and vanish at the next start: it must be refused.
      renameSync(app.dir, `${app.dir}-away`);
      return async () => renameSync(`${app.dir}-away`, app.dir);
    },
  },
];

type Ready = { status: string; checks: { database: string } };

describe('storage trouble', () => {
  for (const fault of FAULTS) {
    test(`${fault.name}: 503 with Retry-After, not ready, an ERROR line, then recovery without restart`, async (t) => {
      let db: DatabaseSync | undefined;
      const app = await startApp(t, { onOpen: (opened) => (db = opened) });
      assert.ok(db);
      assert.equal((await postSigned(app.url, message({ message_id: 'before' }))).status, 200);

      const end = await fault.start(app, db);
      // Readiness notices on its own, before any webhook fails.
      const ready = await getJson(`${app.url}/health/ready`);
      assert.equal(ready.status, 503);
      assert.match((ready.body as Ready).checks.database, fault.reason);

      const res = await postSigned(app.url, message({ message_id: 'during', text: 'x'.repeat(4096) }));
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.deepEqual(await res.json(), { detail: 'storage temporarily unavailable, retry later' });
      assert.equal((await getJson(`${app.url}/health/live`)).status, 200);
      const troubles = app.logs.filter((l) => l.level === 'ERROR' && String(l.msg).startsWith('storage trouble'));
      assert.equal(troubles.length, 1, 'one ERROR line per episode, naming the cause');
      assert.match(String(troubles[0]?.error), fault.reason);

      await end();
      const again = await getJson(`${app.url}/health/ready`);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.ok(app.logs.some((l) => l.msg === 'storage recovered'));
      assert.equal((await postSigned(app.url, message({ message_id: 'after', text: 'x'.repeat(4096) }))).status, 200);
      const list = await getJson(`${app.url}/messages`);
      assert.deepEqual(
        (list.body as { data: { message_id: string }[] }).data.map((m) => m.message_id),
        ['after', 'before'].sort(),
      );
    });
  }

  test('an erasure that fails: 503, and its audit line says so; repeated once the trouble passes, it erases', async (t) => {
    let db: DatabaseSync | undefined;
    const admin = 'admin-token-0123456789abcdef';
    const app = await startApp(t, { adminTokens: [admin], onOpen: (opened) => (db = opened) });
    for (const id of ['a', 'b']) assert.equal((await postSigned(app.url, message({ message_id: id, from: '+91555' }))).status, 200);
    db?.exec('PRAGMA query_only = 1');
    const erase = (): Promise<Response> => fetch(`${app.url}/messages?from=%2B91555`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
    const failed = await erase();
    assert.equal(failed.status, 503);
    const [line] = app.logs.filter((l) => l.msg === 'erasure');
    assert.equal(line?.level, 'WARNING');
    assert.equal(line?.failed, true);
    assert.match(String(line?.error), /readonly|read-only/i);
    assert.equal(line?.deleted, undefined);
    db?.exec('PRAGMA query_only = 0');
    const again = await erase();
    assert.deepEqual([again.status, await again.json()], [200, { deleted: 2 }]);
    assert.equal(app.logs.filter((l) => l.msg === 'erasure').at(-1)?.deleted, 2);
  });

  test('a sqlite3 CLI holding BEGIN EXCLUSIVE: 503 and not ready while it holds, fine once it lets go', async (t) => {
    // CI installs Debian's sqlite3: there a missing CLI fails the test.
    if (spawnSync('sqlite3', ['-version']).status !== 0 && process.env.CI !== 'true') {
      t.skip('no sqlite3 CLI on this machine');
      return;
    }
    const app = await startApp(t);
    const cli = spawn('sqlite3', [app.dbPath], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => cli.kill());
    const locked = new Promise((resolve) => cli.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve(null)));
    cli.stdin.write('BEGIN EXCLUSIVE;\nINSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, created_at) VALUES (\'cli\', \'+1\', \'+2\', \'2025-01-01T00:00:00Z\', \'x\');\n.print locked\n');
    await locked;
    assert.equal((await postSigned(app.url, message())).status, 503);
    assert.equal((await getJson(`${app.url}/health/ready`)).status, 503);
    cli.stdin.end('ROLLBACK;\n.quit\n');
    await new Promise((resolve) => cli.once('exit', resolve));
    assert.equal((await getJson(`${app.url}/health/ready`)).status, 200);
    assert.equal((await postSigned(app.url, message())).status, 200);
  });

  test('a directory that cannot be created stops the start with a clear error', async (t) => {
    const dir = tempDir(t);
    // A file where the folder should be: mkdir fails whoever runs the test.
    const db = new DatabaseSync(join(dir, 'blocker'));
    db.close();
    await assert.rejects(startApp(t, { database: { kind: 'sqlite', path: join(dir, 'blocker', 'sub', 'app.db') } }), /ENOTDIR/);
  });
});
