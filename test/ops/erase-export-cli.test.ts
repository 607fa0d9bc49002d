// scripts/erase.ts and scripts/export.ts as an operator runs them: subprocesses against a real server,
// tokens from the environment only.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { message, postSigned, useApp } from '../helpers.ts';

const SCRIPTS = join(import.meta.dirname, '..', '..', 'scripts');
const ADMIN = 'cli-admin-token-0123456789';
const READ = 'cli-read-token-0123456789';

type Run = { code: number | null; stdout: string; stderr: string };

function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const proc = spawn(process.execPath, [join(SCRIPTS, script), ...args], {
    env: { PATH: process.env.PATH ?? '', NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE ?? '', ...env },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('npm run export / npm run erase against a real server', () => {
  const app = useApp({ adminTokens: [ADMIN], readTokens: [READ] });

  test('export writes exactly what GET /messages/export answers, CSV and NDJSON, with the filters given', async () => {
    for (let i = 0; i < 5; i += 1) {
      const res = await postSigned(app().url, message({ message_id: `cli${i}`, from: i < 3 ? '+911' : '+922', text: `hello, "cli" ${i}\nsecond line` }));
      assert.equal(res.status, 200);
    }
    const csv = await run('export.ts', ['--url', app().url, '--format', 'csv', '--from', '+911'], { READ_TOKEN: READ });
    assert.equal(csv.code, 0, csv.stderr);
    const direct = await fetch(`${app().url}/messages/export?format=csv&from=%2B911`, { headers: { authorization: `Bearer ${READ}` } });
    assert.equal(csv.stdout, await direct.text());
    assert.equal(csv.stdout.split('\r\n').length, 5); // the header, three records, and the empty rest after the last CRLF
    const ndjson = await run('export.ts', ['--url', app().url, '--q', 'CLI'], { READ_TOKEN: READ });
    assert.equal(ndjson.code, 0, ndjson.stderr);
    assert.deepEqual(ndjson.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { message_id: string }).message_id), ['cli0', 'cli1', 'cli2', 'cli3', 'cli4']);
  });

  test('erase by sender and by id prints {"deleted":N} and exits 0; a 404 exits 1', async () => {
    await postSigned(app().url, message({ message_id: 'gone-1', from: '+933' }));
    await postSigned(app().url, message({ message_id: 'gone-2', from: '+933' }));
    await postSigned(app().url, message({ message_id: 'gone/3', from: '+944' }));
    const bySender = await run('erase.ts', ['--url', app().url, '--from', '+933'], { ADMIN_TOKEN: ADMIN });
    assert.deepEqual([bySender.code, bySender.stdout], [0, '{"deleted":2}\n'], bySender.stderr);
    const byId = await run('erase.ts', ['--url', app().url, '--id', 'gone/3'], { ADMIN_TOKEN: ADMIN });
    assert.deepEqual([byId.code, byId.stdout], [0, '{"deleted":1}\n'], byId.stderr);
    const again = await run('erase.ts', ['--url', app().url, '--id', 'gone/3'], { ADMIN_TOKEN: ADMIN });
    assert.deepEqual([again.code, again.stderr], [1, 'HTTP 404: {"detail":"message not found"}\n']);
    const left = await fetch(`${app().url}/messages?from=%2B933`, { headers: { authorization: `Bearer ${READ}` } });
    assert.equal(((await left.json()) as { total: number }).total, 0);
  });

  test('an id of . or .. is refused (exit 2) with the curl command that erases it, and nothing else is erased', async () => {
    await postSigned(app().url, message({ message_id: '.', from: '+955' }));
    for (const id of ['.', '..']) {
      const r = await run('erase.ts', ['--url', app().url, '--id', id], { ADMIN_TOKEN: ADMIN });
      assert.equal(r.code, 2, r.stdout);
      assert.ok(r.stderr.endsWith(`curl --path-as-is -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" ${app().url}/messages/${id}\n`), r.stderr);
    }
    const still = await fetch(`${app().url}/messages?from=%2B955`, { headers: { authorization: `Bearer ${READ}` } });
    assert.equal(((await still.json()) as { total: number }).total, 1);
  });

  test('tokens come from the environment: missing is a usage error (2), wrong is the 401 (1); a bad option is 2', async () => {
    const none = await run('erase.ts', ['--url', app().url, '--from', '+911']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /ADMIN_TOKEN is not set/);
    const wrong = await run('erase.ts', ['--url', app().url, '--from', '+911'], { ADMIN_TOKEN: READ });
    assert.deepEqual([wrong.code, wrong.stderr], [1, 'HTTP 401: {"detail":"not authenticated"}\n']);
    const unread = await run('export.ts', ['--url', app().url]);
    assert.deepEqual([unread.code, unread.stdout], [1, '']);
    assert.equal((await run('erase.ts', ['--url', app().url, '--from', '+1', '--id', 'x'], { ADMIN_TOKEN: ADMIN })).code, 2);
    assert.equal((await run('export.ts', ['--bogus'])).code, 2);
    const unreachable = await run('export.ts', ['--url', 'http://127.0.0.1:9']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});
