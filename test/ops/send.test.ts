import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseArgs, sampleBody } from '../../scripts/send.ts';
import { sign } from '../../src/domain/signature.ts';
import { ED25519_PUBLIC_KEY, ED25519_SIGNING_KEY, getJson, SECRET, standardKeys, tempDir, useApp } from '../helpers.ts';

const SEND = join(import.meta.dirname, '..', '..', 'scripts', 'send.ts');

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
    const body = BODY.replace('cli-1', 'cli-2').replace('"Hi"', '"from stdin"');
    const r = await send(['-'], { URL: app().url, WEBHOOK_SECRET: SECRET }, body);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP 200 /);
    // The stdin body itself was sent and stored, not a sample or an argument.
    const { body: listed } = await getJson(`${app().url}/messages?q=from%20stdin`);
    assert.deepEqual((listed as { data: unknown[] }).data, [
      { message_id: 'cli-2', from: '+919876543210', to: '+14155550100', ts: '2025-01-15T10:00:00Z', text: 'from stdin' },
    ]);
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

const HMAC = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
const SIGNING = ED25519_SIGNING_KEY;
const PUBLIC = ED25519_PUBLIC_KEY;

const cliMessage = (id: string): string => BODY.replace('cli-1', id);
async function total(url: string): Promise<number> {
  return ((await getJson(`${url}/messages?limit=1`)).body as { total: number }).total;
}

describe('scripts/send.ts with Standard Webhooks, against a real server with both schemes', () => {
  const app = useApp({ standardKeys: standardKeys(HMAC, PUBLIC) });

  test('--scheme standard signs with a whsec_ secret or a whsk_ signing key; the message is stored', async () => {
    for (const [secret, id] of [[HMAC, 'std-hmac'], [SIGNING, 'std-ed25519']] as const) {
      const r = await send(['--scheme', 'standard', '--url', app().url, cliMessage(id)], { STANDARD_WEBHOOKS_SECRET: secret });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^HTTP 200 .*\n\{"status":"ok"\}\n$/);
    }
    const { body } = await getJson(`${app().url}/messages?q=Hi`);
    const ids = (body as { data: { message_id: string }[] }).data.map((m) => m.message_id);
    assert.ok(ids.includes('std-hmac') && ids.includes('std-ed25519'));
  });

  test('--skew moves the timestamp: inside the window 200, outside "timestamp outside tolerance"', async () => {
    const inside = await send(['--scheme', 'standard', '--secret', HMAC, '--skew', '-250', '--url', app().url, cliMessage('skew-in')]);
    assert.equal(inside.code, 0, inside.stdout);
    const outside = await send(['--scheme', 'standard', '--secret', HMAC, '--skew', '400', '--url', app().url, cliMessage('skew-out')]);
    assert.equal(outside.code, 1);
    assert.match(outside.stdout, /^HTTP 401 .*\n\{"detail":"timestamp outside tolerance"\}\n$/);
    const old = await send(['--scheme', 'standard', '--secret', HMAC, '--timestamp', '1614265330', '--url', app().url, cliMessage('old')]);
    assert.match(old.stdout, /timestamp outside tolerance/);
  });

  test('--repeat sends the same signed delivery again: every answer 200, one row stored, a one-line summary', async () => {
    const before = await total(app().url);
    const r = await send(['--scheme', 'standard', '--secret', HMAC, '--id', 'msg_repeat', '--repeat', '3', '--url', app().url, cliMessage('rep')]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^3 requests in \d+\.\d\d s \(concurrency 1\): 200 x3 \| latency p50 \d+\.\d ms, p99 \d+\.\d ms\n$/);
    assert.equal(await total(app().url), before + 1);
  });

  test('--count with --concurrency: fresh sample messages, status counts in the summary; a wrong secret exits 1', async () => {
    const before = await total(app().url);
    const r = await send(['--count', '20', '--concurrency', '4', '--secret', SECRET, '--url', app().url]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^20 requests in .* \(concurrency 4\): 200 x20 \| latency p50 /);
    assert.equal(await total(app().url), before + 20);
    const wrong = await send(['--count', '3', '--scheme', 'standard', '--secret', `whsec_${Buffer.alloc(32, 6).toString('base64')}`, '--url', app().url]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /: 401 x3 \|/);
  });

  test('sign prints headers a client can send as they are; verify checks received headers', async () => {
    const raw = cliMessage('signed');
    const signed = await send(['sign', '--scheme', 'standard', '--secret', SIGNING, raw]);
    assert.equal(signed.code, 0, signed.stderr);
    const headers = Object.fromEntries(signed.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
    assert.deepEqual(Object.keys(headers), ['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    const res = await fetch(`${app().url}/webhook`, { method: 'POST', headers, body: raw });
    assert.equal(res.status, 200);
    const received = Object.entries(headers).flatMap(([k, v]) => ['--header', `${k}: ${v}`]);
    const valid = await send(['verify', '--secret', `${HMAC} ${PUBLIC}`, ...received, raw]);
    assert.deepEqual([valid.code, valid.stdout], [0, 'valid (Standard Webhooks)\n']);
    const tampered = await send(['verify', '--secret', PUBLIC, ...received, raw.replace('Hi', 'Ho')]);
    assert.deepEqual([tampered.code, tampered.stdout], [1, 'invalid signature (Standard Webhooks)\n']);
    const xsig = await send(['sign', '--secret', SECRET, raw]);
    assert.equal(xsig.stdout, `x-signature: ${sign(raw, SECRET)}\n`);
    const checked = await send(['verify', '--secret', SECRET, '--header', xsig.stdout.trim(), raw]);
    assert.deepEqual([checked.code, checked.stdout], [0, 'valid (X-Signature)\n']);
  });

  test('verify of a captured request says its signature holds but its time has passed', async () => {
    // The specification's vector: signed in 2021, so long outside any tolerance.
    const headers = [
      'webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp: 1614265330',
      'webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    ].flatMap((h) => ['--header', h]);
    const r = await send(['verify', '--secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ...headers, '{"test": 2432232314}']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^timestamp outside tolerance: \d+ s old, tolerance 300 s \(the signature itself is valid\)\n$/);
  });
});

describe('send.ts argument parsing', () => {
  test('unknown options, missing values and a second body are usage errors', () => {
    const env = { WEBHOOK_SECRET: 's' };
    assert.deepEqual(parseArgs(['--nope'], env), { ok: false, error: 'unknown option --nope' });
    assert.deepEqual(parseArgs(['--url'], env), { ok: false, error: '--url needs a value' });
    assert.deepEqual(parseArgs(['{}', '{}'], env), { ok: false, error: 'give the body once (quote it)' });
    assert.deepEqual(parseArgs([], env), {
      ok: true,
      options: {
        command: 'send',
        url: 'http://localhost:8000',
        scheme: 'xsig',
        secret: 's',
        body: null,
        id: null,
        headers: {},
        timestamp: null,
        skew: 0,
        repeat: 1,
        count: 1,
        concurrency: 1,
      },
    });
  });

  test('numbers, schemes and what each command needs are checked before anything is sent', () => {
    const env = { WEBHOOK_SECRET: 's', STANDARD_WEBHOOKS_SECRET: 'whsec_c2VjcmV0' };
    const error = (argv: string[], from: Record<string, string> = env): string => {
      const r = parseArgs(argv, from);
      return r.ok ? 'ok' : r.error;
    };
    assert.equal(error(['--count', '0']), '--count must be a positive integer, got "0"');
    assert.equal(error(['--concurrency', '1.5']), '--concurrency must be a positive integer, got "1.5"');
    assert.equal(error(['--scheme', 'standard', '--timestamp', '-3']), '--timestamp must be unix seconds, got "-3"');
    assert.equal(error(['--scheme', 'standard', '--skew', '-400']), 'ok');
    assert.equal(error(['--scheme', 'svix']), '--scheme must be xsig or standard, got "svix"');
    assert.equal(error(['--skew', '10']), '--id, --timestamp and --skew are Standard Webhooks options: add --scheme standard');
    assert.equal(error(['sign']), 'sign needs the BODY');
    assert.match(error(['verify', '{}']), /^verify needs the received headers/);
    assert.match(error(['verify', '--header', 'nocolon', '{}']), /^--header takes 'name: value'/);
    assert.equal(error(['--scheme', 'standard']), 'ok');
    assert.equal(error(['--scheme', 'standard'], {}), 'no secret: pass --secret or set STANDARD_WEBHOOKS_SECRET');
    const verify = parseArgs(['verify', '--header', 'Webhook-Signature: v1,x', '{}'], env);
    assert.ok(verify.ok);
    assert.deepEqual([verify.options.scheme, verify.options.headers], ['standard', { 'webhook-signature': 'v1,x' }]);
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
