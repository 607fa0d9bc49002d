import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseArgs, sampleBody } from '../scripts/send.ts';
import { getJson, SECRET, tempDir, useApp } from './helpers.ts';

const SEND = join(import.meta.dirname, '..', 'scripts', 'send.ts');

type Run = { code: number | null; stdout: string; stderr: string };

/** Runs the CLI as a user would, with only PATH (and coverage) from this environment. */
function send(args: string[], env: Record<string, string> = {}, stdin = ''): Promise<Run> {
  const proc = spawn(process.execPath, [SEND, ...args], {
    env: { PATH: process.env.PATH ?? '', NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE ?? '', ...env },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdin.end(stdin);
  return new Promise((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr })));
}

const BODY = '{"message_id":"cli-1","from":"+919876543210","to":"+14155550100","ts":"2025-01-15T10:00:00Z","text":"Hi"}';

describe('scripts/send.ts against a real server', () => {
  const app = useApp();

  test('signs the body, posts it, prints status and answer, exits 0; the message is stored', async () => {
    const r = await send(['--url', app().url, '--secret', SECRET, BODY]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP 200 \(request id [0-9a-f-]{36}\)\n\{"status":"ok"\}\n$/);
    const { body } = await getJson(`${app().url}/messages?from=%2B919876543210`);
    assert.deepEqual((body as { data: unknown[] }).data, [
      { message_id: 'cli-1', from: '+919876543210', to: '+14155550100', ts: '2025-01-15T10:00:00Z', text: 'Hi' },
    ]);
  });

  test('takes URL and WEBHOOK_SECRET from the environment, and the body from stdin with "-"', async () => {
    const body = BODY.replace('cli-1', 'cli-2');
    const r = await send(['-'], { URL: app().url, WEBHOOK_SECRET: SECRET }, body);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP 200 /);
  });

  test('reads the secret from WEBHOOK_SECRET_FILE, trailing newline trimmed', async (t) => {
    const file = join(tempDir(t), 'secret');
    writeFileSync(file, `${SECRET}\n`);
    const r = await send(['--url', app().url, BODY], { WEBHOOK_SECRET_FILE: file });
    assert.equal(r.code, 0, r.stderr);
  });

  test('with no body, sends a valid sample message with a fresh id', async () => {
    const r = await send(['--url', app().url, '--secret', SECRET]);
    assert.equal(r.code, 0, r.stderr);
    const { body } = await getJson(`${app().url}/messages?q=scripts/send.ts`);
    assert.equal((body as { total: number }).total, 1);
  });

  test('a wrong secret prints the 401 answer and exits 1', async () => {
    const r = await send(['--url', app().url, '--secret', 'wrong', BODY]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^HTTP 401 .*\n\{"detail":"invalid signature"\}\n$/);
  });

  test('an invalid body prints the 422 field errors and exits 1', async () => {
    const r = await send(['--url', app().url, '--secret', SECRET, '{"message_id":"x"}']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^HTTP 422 /);
    assert.match(r.stdout, /"loc":\["body","from"\]/);
  });

  test('no secret, or an unreachable server: a clear message on stderr, non-zero exit, no stack', async () => {
    const none = await send(['--url', app().url, BODY]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^no secret: pass --secret or set WEBHOOK_SECRET\nusage:/);
    const down = await send(['--url', 'http://127.0.0.1:9', '--secret', SECRET, BODY]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^cannot reach http:\/\/127\.0\.0\.1:9: /);
    assert.doesNotMatch(down.stderr, /\n\s+at /);
  });
});

describe('send.ts argument parsing', () => {
  test('unknown options, missing values and a second body are usage errors', () => {
    const env = { WEBHOOK_SECRET: 's' };
    assert.deepEqual(parseArgs(['--nope'], env), { ok: false, error: 'unknown option --nope' });
    assert.deepEqual(parseArgs(['--url'], env), { ok: false, error: '--url needs a value' });
    assert.deepEqual(parseArgs(['{}', '{}'], env), { ok: false, error: 'give the body once (quote it)' });
    assert.deepEqual(parseArgs([], env), { ok: true, url: 'http://localhost:8000', secret: 's', body: null });
  });

  test('the sample body is a valid message stamped with the given time', () => {
    assert.deepEqual(JSON.parse(sampleBody(new Date('2025-03-04T05:06:07.890Z'))), {
      message_id: 'sample-1741064767890',
      from: '+919876543210',
      to: '+14155550100',
      ts: '2025-03-04T05:06:07Z',
      text: 'Hello from scripts/send.ts',
    });
  });
});
