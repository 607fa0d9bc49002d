import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sign } from '../../src/domain/signature.ts';
import {
  ED25519_PUBLIC_KEY,
  ED25519_SIGNING_KEY,
  getJson,
  SECRET,
  standardKeys,
  tempDir,
  useApp,
  WHATSAPP_APP_SECRET,
  WHATSAPP_VERIFY_TOKEN,
} from '../helpers.ts';

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
    const { body: listed } = await getJson(`${app().url}/messages?q=from%20stdin`);
    assert.deepEqual((listed as { data: unknown[] }).data, [JSON.parse(body)]);
  });

  test('make send BODY=... sends the body as given: a `$` in it is text, never make syntax', async () => {
    const text = 'price $5, $(PORT) and $$HOME, $(shell echo ran)';
    const body = JSON.stringify({ ...JSON.parse(BODY), message_id: 'make-dollar', text });
    const proc = spawn('make', ['-s', '--no-print-directory', '-C', join(import.meta.dirname, '..', '..'), 'send', `BODY=${body}`, `URL=${app().url}`], {
      env: { PATH: process.env.PATH ?? '', WEBHOOK_SECRET: SECRET },
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    assert.equal(await new Promise((resolve) => proc.on('close', resolve)), 0, out);
    const { body: listed } = await getJson(`${app().url}/messages?from=%2B919876543210&q=${encodeURIComponent('$5')}`);
    assert.deepEqual((listed as { data: { text: string }[] }).data.map((m) => m.text), [text]);
  });

  test('without URL, sends to localhost on PORT, as make run listens', async () => {
    const port = new URL(app().url).port;
    const r = await send([BODY.replace('cli-1', 'cli-port')], { PORT: port, WEBHOOK_SECRET: SECRET });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP 200 /);
  });

  test('reads the secret from WEBHOOK_SECRET_FILE, trailing newline trimmed', async (t) => {
    const file = join(tempDir(t), 'secret');
    writeFileSync(file, `${SECRET}\n`);
    const r = await send(['--url', app().url, BODY], { WEBHOOK_SECRET_FILE: file });
    assert.equal(r.code, 0, r.stderr);
  });

  test('with no body, sends a valid sample message with a fresh id, stamped with the time it was sent', async () => {
    const before = Date.now();
    const r = await send(['--url', app().url], { WEBHOOK_SECRET: SECRET });
    assert.equal(r.code, 0, r.stderr);
    const { body } = await getJson(`${app().url}/messages?q=scripts/send.ts`);
    const { total, data } = body as { total: number; data: { message_id: string; from: string; to: string; ts: string; text: string }[] };
    assert.equal(total, 1);
    const [m] = data;
    assert.ok(m);
    assert.match(m.message_id, /^sample-\d+$/);
    assert.deepEqual([m.from, m.to, m.text], ['+919876543210', '+14155550100', 'Hello from scripts/send.ts']);
    assert.match(m.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Date.parse(m.ts) >= Math.floor(before / 1000) * 1000 && Date.parse(m.ts) <= Date.now());
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
    // From the environment, during a rotation: signed under the previous secret, which the service accepts too.
    const rotating = { WEBHOOK_SECRET: 'the-new-secret-0123456789', WEBHOOK_SECRET_PREVIOUS: SECRET };
    const byPrevious = await send(['verify', '--header', xsig.stdout.trim(), raw], rotating);
    assert.deepEqual([byPrevious.code, byPrevious.stdout], [0, 'valid (X-Signature)\n']);
    const byNone = await send(['verify', '--header', xsig.stdout.trim(), raw], { ...rotating, WEBHOOK_SECRET_PREVIOUS: 'another-old-secret-0123' });
    assert.deepEqual([byNone.code, byNone.stdout], [1, 'invalid signature (X-Signature)\n']);
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

describe('scripts/send.ts --scheme whatsapp and handshake, against a real server', () => {
  const app = useApp();
  const env = { WHATSAPP_APP_SECRET: `${WHATSAPP_APP_SECRET} previous-secret` };

  test('wraps a message in Meta\'s envelope, signs it as Meta does and posts it to /webhook/whatsapp', async () => {
    const body = '{"message_id":"wamid.cli-1","from":"+16505551234","to":"+15550783881","ts":"2025-02-12T00:43:44Z","text":"Привет 👋"}';
    const r = await send(['--scheme', 'whatsapp', '--url', app().url, body], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP 200 \(request id [0-9a-f-]{36}\)\n\{"status":"ok"\}\n$/);
    const scoped = body.replace('cli-1', 'cli-2').replace('+16505551234', 'US.13491208655302741918');
    assert.equal((await send(['--scheme', 'whatsapp', '--url', `${app().url}/webhook/whatsapp`, scoped], env)).code, 0);
    const { body: listed } = await getJson(`${app().url}/messages?q=${encodeURIComponent('Привет')}`);
    assert.deepEqual((listed as { data: unknown[] }).data, [
      { message_id: 'wamid.cli-1', from: '+16505551234', to: '+15550783881', ts: '2025-02-12T00:43:44Z', text: 'Привет 👋' },
      { message_id: 'wamid.cli-2', from: 'US.13491208655302741918', to: '+15550783881', ts: '2025-02-12T00:43:44Z', text: 'Привет 👋' },
    ]);
  });

  test('sends an envelope as given, in Meta\'s serialisation; a sample without BODY; a wrong secret is a 401', async () => {
    const value = {
      metadata: { display_phone_number: '15550783881', phone_number_id: '2' },
      messages: [{ from: '16505551234', id: 'wamid.cli-env', timestamp: '1739321024', type: 'image', image: { id: '3', caption: 'ü/ñ' } }],
    };
    const envelope = { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value }] }] };
    const r = await send(['--scheme', 'whatsapp', '--url', app().url, '-'], env, JSON.stringify(envelope));
    assert.equal(r.code, 0, r.stderr);
    const { body } = await getJson(`${app().url}/messages?from=%2B16505551234&q=${encodeURIComponent('ü/ñ')}`);
    assert.deepEqual((body as { data: { type?: string }[] }).data.map((m) => m.type), ['image']);
    const sample = await send(['--scheme', 'whatsapp', '--url', app().url], env);
    assert.equal(sample.code, 0, sample.stderr);
    const wrong = await send(['--scheme', 'whatsapp', '--url', app().url, '--secret', 'not-it'], env);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /^HTTP 401 .*\n\{"detail":"invalid signature"\}\n$/);
    const bad = await send(['--scheme', 'whatsapp', '--url', app().url, '{"message_id":"x","from":"+1","to":"+2","ts":"2025-01-01T00:00:00Z","text":null}'], env);
    assert.deepEqual([bad.code, bad.stderr], [2, 'a WhatsApp text message needs a text\n']);
  });

  test('sign prints the header and the exact (escaped) body; verify checks X-Hub-Signature-256', async () => {
    const body = '{"message_id":"wamid.cli-sign","from":"+16505551234","to":"+15550783881","ts":"2025-02-12T00:43:44Z","text":"日本"}';
    const signed = await send(['sign', '--scheme', 'whatsapp', body], env);
    assert.equal(signed.code, 0, signed.stderr);
    const [header = '', blank, raw = ''] = signed.stdout.split('\n');
    assert.equal(blank, '');
    assert.ok(raw.includes('\\u65e5\\u672c') && !/[^\x00-\x7f]/.test(raw), raw);
    assert.match(header, /^x-hub-signature-256: sha256=[0-9a-f]{64}$/);
    const res = await fetch(`${app().url}/webhook/whatsapp`, { method: 'POST', headers: { 'x-hub-signature-256': header.slice(21) }, body: raw });
    assert.equal(res.status, 200);
    const valid = await send(['verify', '--header', header, raw], env);
    assert.deepEqual([valid.code, valid.stdout], [0, 'valid (X-Hub-Signature-256)\n']);
    const tampered = await send(['verify', '--header', header, raw.replace('u65e5', 'u65e6')], env);
    assert.deepEqual([tampered.code, tampered.stdout], [1, 'invalid signature (X-Hub-Signature-256)\n']);
    // During a rotation (the new app secret first), a body Meta signed under the old one is valid, as the service finds it.
    const rotated = await send(['verify', '--header', header, raw], { ...env, WHATSAPP_APP_SECRET: `the-new-app-secret-0123 ${env.WHATSAPP_APP_SECRET}` });
    assert.deepEqual([rotated.code, rotated.stdout], [0, 'valid (X-Hub-Signature-256)\n']);
  });

  test('handshake: ok when the URL echoes the challenge for the token and refuses a wrong one', async () => {
    const ok = await send(['handshake', '--url', app().url], { WHATSAPP_VERIFY_TOKEN });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^handshake ok: http:\/\/127\.0\.0\.1:\d+\/webhook\/whatsapp echoed the challenge for the token and refused a wrong one \(HTTP 403\)\n$/);
    const wrong = await send(['handshake', '--url', app().url, '--token', 'not-it']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /answered the verify token with HTTP 403: check WHATSAPP_VERIFY_TOKEN on both sides\n$/);
    const down = await send(['handshake', '--url', 'http://127.0.0.1:9', '--token', 't']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^cannot reach http:\/\/127\.0\.0\.1:9\/webhook\/whatsapp: /);
  });

  test('handshake: a URL that echoes the challenge whatever the token fails the check', async (t) => {
    const { createServer } = await import('node:http');
    const echo = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(new URL(req.url ?? '/', 'http://x').searchParams.get('hub.challenge') ?? '');
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    t.after(() => echo.close());
    const { port } = echo.address() as { port: number };
    const r = await send(['handshake', '--url', `http://127.0.0.1:${port}`, '--token', 't']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /echoed the challenge for a wrong token too: it does not check the token\n$/);
  });
});

describe('send.ts argument errors: exit 2 and one line saying what is wrong, nothing sent', () => {
  const cases: [string[], Record<string, string>, string | RegExp][] = [
    [['--nope'], {}, 'unknown option --nope'],
    [['--url'], {}, '--url needs a value'],
    [['{}', '{}'], {}, 'give the body once (quote it)'],
    [['--count', '0'], {}, '--count must be a positive integer, got "0"'],
    [['--concurrency', '1.5'], {}, '--concurrency must be a positive integer, got "1.5"'],
    [['--scheme', 'standard', '--timestamp', '-3'], {}, '--timestamp must be unix seconds, got "-3"'],
    [['--scheme', 'svix'], {}, '--scheme must be xsig, standard or whatsapp, got "svix"'],
    [['--scheme', 'whatsapp'], { WHATSAPP_APP_SECRET: '' }, 'no secret: pass --secret or set WHATSAPP_APP_SECRET'],
    [['--scheme', 'whatsapp', '--skew', '1'], { WHATSAPP_APP_SECRET: 'a' }, '--id, --timestamp and --skew are Standard Webhooks options: add --scheme standard'],
    [['handshake'], { WHATSAPP_VERIFY_TOKEN: '' }, 'handshake needs the verify token: pass --token or set WHATSAPP_VERIFY_TOKEN'],
    [['--skew', '10'], {}, '--id, --timestamp and --skew are Standard Webhooks options: add --scheme standard'],
    [['sign'], {}, 'sign needs the BODY'],
    [['verify', '{}'], {}, /^verify needs the received headers/],
    [['verify', '--header', 'nocolon', '{}'], {}, /^--header takes 'name: value'/],
    [['--scheme', 'standard'], { WEBHOOK_SECRET: 's' }, 'no secret: pass --secret or set STANDARD_WEBHOOKS_SECRET'],
    [[], { WEBHOOK_SECRET: '', WEBHOOK_SECRET_FILE: '/nonexistent/secret' }, 'cannot read WEBHOOK_SECRET_FILE /nonexistent/secret'],
  ];
  for (const [argv, env, error] of cases) {
    test(`${argv.join(' ') || '(no arguments)'} ${JSON.stringify(env)}`, async () => {
      // Port 9 (discard): were anything sent, the answer would be "cannot reach", exit 1.
      const r = await send([...argv, ...(argv.includes('--url') ? [] : ['--url', 'http://127.0.0.1:9'])], { WEBHOOK_SECRET: 's', STANDARD_WEBHOOKS_SECRET: '', ...env });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      const [first, second] = r.stderr.split('\n');
      if (typeof error === 'string') assert.equal(first, error);
      else assert.match(first ?? '', error);
      assert.match(second ?? '', /^usage: /);
    });
  }

  test('the defaults: scheme xsig, the secret from WEBHOOK_SECRET; verify picks Standard Webhooks from its headers', async () => {
    const signed = await send(['sign', '{}'], { WEBHOOK_SECRET: 's' });
    assert.deepEqual([signed.code, signed.stdout], [0, `x-signature: ${sign('{}', 's')}\n`]);
    const verify = await send(['verify', '--header', 'Webhook-Signature: v1,x', '--header', 'webhook-id: a', '--header', 'webhook-timestamp: 1', '{}'], {
      STANDARD_WEBHOOKS_SECRET: 'whsec_c2VjcmV0',
    });
    assert.equal(verify.code, 1);
    // Only Standard Webhooks signs a time.
    assert.match(verify.stdout, /^timestamp outside tolerance: /);
  });
});
