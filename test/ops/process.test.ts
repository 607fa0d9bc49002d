import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { sign } from '../../src/domain/signature.ts';
import { message, postSigned, SECRET, tempDir, type LogLine } from '../helpers.ts';

type Running = { proc: ChildProcess; lines: LogLine[]; url: string; exit: Promise<number | string | null> };

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'main.ts');
/** What `make run`, `npm start` and the image run: the JavaScript tsc emits (`make build`). */
const BUILT = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

function launch(env: Record<string, string>, main = MAIN): { proc: ChildProcess; lines: LogLine[]; raw: () => string; exit: Promise<number | string | null> } {
  const proc = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    let i: number;
    while ((i = out.indexOf('\n')) !== -1) {
      lines.push(JSON.parse(out.slice(0, i)) as LogLine);
      out = out.slice(i + 1);
    }
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | string | null>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
  return { proc, lines, raw: () => err, exit };
}

async function startMain(env: Record<string, string>, main = MAIN): Promise<Running> {
  const r = launch(env, main);
  const until = Date.now() + 10_000;
  for (;;) {
    const listening = r.lines.find((l) => l.msg === 'listening');
    if (listening) return { ...r, url: `http://127.0.0.1:${String(listening.port)}` };
    if (Date.now() > until || r.proc.exitCode !== null) throw new Error(`service did not start: ${JSON.stringify(r.lines)} ${r.raw()}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe('the process', () => {
  test('a configuration error is one JSON line and a non-zero exit, no stack trace', async (t) => {
    const dir = tempDir(t);
    const cases: Record<string, string>[] = [
      { DATABASE_URL: 'mysql://db/app' },
      { DATABASE_URL: 'postgres://' },
      { LOG_LEVEL: 'verbose', DATABASE_URL: `sqlite:///${dir}/a.db` },
      { PORT: 'eighty', DATABASE_URL: `sqlite:///${dir}/a.db` },
    ];
    for (const env of cases) {
      const r = launch({ WEBHOOK_SECRET: SECRET, ...env });
      const code = await r.exit;
      assert.notEqual(code, 0);
      assert.equal(r.lines.length, 1, JSON.stringify(r.lines));
      assert.equal(r.lines[0]?.level, 'ERROR');
      assert.ok(Array.isArray(r.lines[0]?.errors));
      assert.equal(r.raw(), '');
    }
  });

  test('bad Standard Webhooks keys and read tokens: every problem in the one JSON line, no key echoed', async (t) => {
    const dir = tempDir(t);
    const r = launch({
      DATABASE_URL: `sqlite:///${dir}/a.db`,
      STANDARD_WEBHOOKS_SECRET: 'whsec_%%%% whpk_QUFBQQ==',
      READ_TOKENS: 'tok',
      READ_TOKENS_FILE: join(dir, 'tokens'),
      WEBHOOK_TOLERANCE_SECONDS: 'soon',
    });
    assert.equal(await r.exit, 2);
    assert.equal(r.lines.length, 1, JSON.stringify(r.lines));
    const errors = r.lines[0]?.errors as string[];
    assert.deepEqual(errors.map((e) => e.split(/[:;]| must /)[0]), [
      'STANDARD_WEBHOOKS_SECRET key 1 of 2',
      'STANDARD_WEBHOOKS_SECRET key 2 of 2',
      'WEBHOOK_TOLERANCE_SECONDS',
      'READ_TOKENS and READ_TOKENS_FILE are both set',
    ]);
    assert.ok(!JSON.stringify(errors).includes('%%%%') && !JSON.stringify(errors).includes('QUFBQQ'));
    assert.equal(r.raw(), '');
  });

  test('a token setting that holds no token (a file of one newline, a blank METRICS_TOKEN) stops the start: exit 2, one line naming both', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'tokens'), '\n');
    const r = launch({ DATABASE_URL: `sqlite:///${dir}/a.db`, WEBHOOK_SECRET: SECRET, READ_TOKENS_FILE: join(dir, 'tokens'), METRICS_TOKEN: ' ' });
    assert.equal(await r.exit, 2);
    assert.equal(r.lines.length, 1, JSON.stringify(r.lines));
    assert.deepEqual(r.lines[0]?.errors, [
      'READ_TOKENS_FILE is set but holds no token; unset it or give at least one',
      'METRICS_TOKEN is set but holds no token; unset it or give at least one',
    ]);
  });

  test('with only STANDARD_WEBHOOKS_SECRET the service is ready and logs no missing-secret ERROR', async (t) => {
    const dir = tempDir(t);
    const s = await startMain({ DATABASE_URL: `sqlite:///${dir}/a.db`, STANDARD_WEBHOOKS_SECRET: `whsec_${Buffer.alloc(32, 1).toString('base64')}` });
    t.after(() => s.proc.kill('SIGKILL'));
    assert.equal((await fetch(`${s.url}/health/ready`)).status, 200);
    assert.deepEqual(s.lines.filter((l) => l.level === 'ERROR'), []);
    s.proc.kill('SIGTERM');
    assert.equal(await s.exit, 0);
  });

  test('a database folder that cannot be made (under /proc) is one ERROR line and exit 1, not a hang', async () => {
    const r = launch({ WEBHOOK_SECRET: SECRET, DATABASE_URL: 'sqlite:////proc/lyftr-no-such/app.db' });
    const code = await Promise.race([r.exit, new Promise((res) => setTimeout(() => res('hung'), 8_000))]);
    if (code === 'hung') r.proc.kill('SIGKILL');
    assert.equal(code, 1);
    assert.deepEqual(r.lines.map((l) => [l.level, l.msg]), [['ERROR', 'cannot start']]);
    assert.match(String(r.lines[0]?.error), /ENOENT/);
  });

  test('SIGTERM while it still starts (PostgreSQL not reachable yet) exits 0 with a line saying so', async (t) => {
    const r = launch({ WEBHOOK_SECRET: SECRET, DATABASE_URL: 'postgres://lyftr:secret@127.0.0.1:1/lyftr' });
    t.after(() => r.proc.kill('SIGKILL'));
    for (const until = Date.now() + 10_000; !r.lines.some((l) => /not reachable yet/.test(String(l.msg))); await new Promise((res) => setTimeout(res, 20))) {
      assert.ok(Date.now() < until, `no retry line: ${JSON.stringify(r.lines)} ${r.raw()}`);
    }
    r.proc.kill('SIGTERM');
    assert.equal(await r.exit, 0);
    assert.ok(r.lines.some((l) => l.msg === 'signal received' && l.signal === 'SIGTERM'));
  });

  test('a reader of its log that goes away (a closed pipe) costs no CPU: requests are still served', async (t) => {
    const dir = tempDir(t);
    const s = await startMain({ WEBHOOK_SECRET: SECRET, DATABASE_URL: `sqlite:///${dir}/app.db` });
    t.after(() => s.proc.kill('SIGKILL'));
    s.proc.stdout?.destroy(); // the pipe's reading end closes: the next write fails with EPIPE
    for (let i = 0; i < 5; i++) assert.equal((await postSigned(s.url, message({ message_id: `epipe-${i}` }))).status, 200);
    // CPU of the whole process over half a second, idle: a loop of failing writes would take all of it.
    const cpu = (): number => {
      const fields = readFileSync(`/proc/${s.proc.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 a second)
    };
    const before = cpu();
    await new Promise((res) => setTimeout(res, 500));
    assert.ok(cpu() - before < 25, `${cpu() - before} ticks of CPU in 0.5 s while idle`);
    s.proc.kill('SIGTERM');
    assert.equal(await s.exit, 0);
  });

  test('the build the service runs (dist/) stores a message and stops on SIGTERM', async (t) => {
    assert.ok(existsSync(BUILT), 'dist/main.js is missing: `make test` builds it first (`make build`)');
    const dir = tempDir(t);
    const s = await startMain({ WEBHOOK_SECRET: SECRET, DATABASE_URL: `sqlite:///${dir}/app.db` }, BUILT);
    t.after(() => s.proc.kill('SIGKILL'));
    assert.equal((await postSigned(s.url, message({ message_id: 'built' }))).status, 200);
    const page = (await (await fetch(`${s.url}/messages`)).json()) as { total: number; data: { message_id: string }[] };
    assert.deepEqual([page.total, page.data[0]?.message_id], [1, 'built']);
    s.proc.kill('SIGTERM');
    assert.equal(await s.exit, 0);
  });

  test('without a secret it starts, logs an ERROR and is not ready', async (t) => {
    const dir = tempDir(t);
    const s = await startMain({ DATABASE_URL: `sqlite:///${dir}/app.db` });
    t.after(() => s.proc.kill('SIGKILL'));
    assert.ok(s.lines.some((l) => l.level === 'ERROR' && String(l.msg).includes('secret')));
    assert.equal((await fetch(`${s.url}/health/ready`)).status, 503);
    assert.equal((await postSigned(s.url, message())).status, 503);
  });

  test('reads the secret from WEBHOOK_SECRET_FILE, trimming the trailing newline', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'secret'), 'from-a-file\n');
    const s = await startMain({ WEBHOOK_SECRET_FILE: join(dir, 'secret'), DATABASE_URL: `sqlite:///${dir}/app.db` });
    t.after(() => s.proc.kill('SIGKILL'));
    assert.equal((await postSigned(s.url, message(), 'from-a-file')).status, 200);
    assert.equal((await postSigned(s.url, message({ message_id: 'x' }), 'from-a-file\n')).status, 401);
  });

  test('SIGTERM finishes the request in flight, then exits 0 with the row stored', async (t) => {
    const dir = tempDir(t);
    const dbPath = join(dir, 'app.db');
    const s = await startMain({ WEBHOOK_SECRET: SECRET, DATABASE_URL: `sqlite:///${dbPath}` });
    t.after(() => s.proc.kill('SIGKILL'));
    const raw = JSON.stringify(message({ message_id: 'in-flight' }));
    const { port } = new URL(s.url);
    const answer = new Promise<number>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/webhook',
        headers: { 'x-signature': sign(raw, SECRET), 'content-length': Buffer.byteLength(raw) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      // Half the body now, SIGTERM, then the rest: the request is in flight while shutdown starts.
      req.write(raw.slice(0, 20));
      setTimeout(() => {
        s.proc.kill('SIGTERM');
        setTimeout(() => req.end(raw.slice(20)), 300);
      }, 100);
    });
    const started = Date.now();
    assert.equal(await answer, 200);
    assert.equal(await s.exit, 0);
    assert.ok(Date.now() - started < 10_000);
    assert.ok(s.lines.some((l) => l.msg === 'stopped'));
    const db = new DatabaseSync(dbPath);
    assert.deepEqual(
      db.prepare('SELECT message_id FROM messages').all().map((r) => r.message_id),
      ['in-flight'],
    );
    db.close();
  });

  test('kill -9 right after the answers loses nothing that got a 200', async (t) => {
    const dir = tempDir(t);
    const dbPath = join(dir, 'app.db');
    const s = await startMain({ WEBHOOK_SECRET: SECRET, DATABASE_URL: `sqlite:///${dbPath}` });
    const ids = Array.from({ length: 150 }, (_, i) => `k-${i}`);
    const answers = await Promise.all(ids.map((id) => postSigned(s.url, message({ message_id: id }))));
    assert.ok(answers.every((r) => r.status === 200));
    s.proc.kill('SIGKILL');
    assert.equal(await s.exit, 'SIGKILL');

    const again = await startMain({ WEBHOOK_SECRET: SECRET, DATABASE_URL: `sqlite:///${dbPath}` });
    t.after(() => again.proc.kill('SIGKILL'));
    const res = await fetch(`${again.url}/messages?limit=1`);
    assert.equal(((await res.json()) as { total: number }).total, 150);
    const stats = (await (await fetch(`${again.url}/stats`)).json()) as { total_messages: number };
    assert.equal(stats.total_messages, 150);
  });
});
