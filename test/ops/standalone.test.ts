// The SQLite service runs from its build with no node_modules at all (SPEC: standard library only on the
// default engine), and a PostgreSQL URL there is one JSON line naming the command that installs the
// driver. Run from a copy of dist/ and package.json in a temp folder, so no node_modules is in reach.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { serviceFlags } from '../../tools/service-command.ts';
import { message, postSigned, SECRET, tempDir, type LogLine } from '../helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');

function copyBuild(dir: string): string {
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: `make build` first (make test does)');
  cpSync(join(ROOT, 'dist'), join(dir, 'app', 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'app', 'package.json'));
  // Nothing up the tree either: Node would find a node_modules in any parent folder.
  for (let d = dir; d !== '/'; d = join(d, '..')) assert.equal(existsSync(join(d, 'node_modules')), false, d);
  return join(dir, 'app', 'dist', 'main.js');
}

function launch(main: string, env: Record<string, string>) {
  const proc = spawn(process.execPath, [...serviceFlags(), main], {
    cwd: join(main, '..', '..'),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', WEBHOOK_SECRET: SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | string | null>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
  const lines = (): LogLine[] => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);
  return { proc, exit, lines, stderr: () => err };
}

describe('the build without node_modules', () => {
  test('serves on SQLite: ready, stores a signed message, lists it, stops cleanly', async (t) => {
    const dir = tempDir(t);
    const r = launch(copyBuild(dir), { DATABASE_URL: `sqlite:///${dir}/app.db` });
    t.after(() => r.proc.kill('SIGKILL'));
    const until = Date.now() + 10_000;
    let port: unknown;
    while ((port = r.lines().find((l) => l.msg === 'listening')?.port) === undefined) {
      assert.ok(Date.now() < until && r.proc.exitCode === null, `did not start: ${JSON.stringify(r.lines())} ${r.stderr()}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    const url = `http://127.0.0.1:${String(port)}`;
    assert.equal((await fetch(`${url}/health/ready`)).status, 200);
    assert.equal((await postSigned(url, message({ message_id: 'standalone' }))).status, 200);
    const listed = (await (await fetch(`${url}/messages`)).json()) as { total: number };
    assert.equal(listed.total, 1);
    assert.match(await (await fetch(`${url}/inbox/live.js`)).text(), /serverSentEvents/, 'the inbox page is served from the build');
    r.proc.kill('SIGTERM');
    assert.equal(await r.exit, 0);
    assert.equal(r.stderr(), '');
  });

  test('a PostgreSQL URL there is one JSON ERROR line naming the install command, and exit 1', async (t) => {
    const dir = tempDir(t);
    const r = launch(copyBuild(dir), { DATABASE_URL: 'postgres://app:secret@127.0.0.1:1/app' });
    assert.equal(await r.exit, 1);
    const lines = r.lines();
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const pinned = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies.postgres;
    assert.match(pinned ?? '', /^\d+\.\d+\.\d+$/, 'pinned exactly');
    assert.equal(lines[0]?.level, 'ERROR');
    assert.ok(String(lines[0]?.error).includes(`npm install --save-exact postgres@${pinned}`), String(lines[0]?.error));
    assert.doesNotMatch(JSON.stringify(lines), /secret/, 'the password is not logged');
    assert.equal(r.stderr(), '');
  });
});
