import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { createRandom, seedFrom, type Random } from '../../tools/prng.ts';
import { sign } from '../../src/domain/signature.ts';
import { SECRET, startApp } from '../helpers.ts';
import { rawRequest } from '../raw-http.ts';

// Hostile input: generated requests, malformed at every layer, written as raw bytes. FUZZ_SEED replays a
// run, FUZZ_COUNT changes its size. Bar: no 5xx, no unanswered request, every error a JSON body with
// `detail`, no stored row that was not validly signed and valid, and the process still serving at the end.
const COUNT = Number(process.env.FUZZ_COUNT ?? 10_000);
const CONCURRENCY = 16;

type Generated = { bytes: Buffer; signedId: string | null; label: string; head: boolean };

const ROUTES = ['/webhook', '/messages', '/stats', '/health/live', '/health/ready', '/metrics'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'get', 'P0ST', 'CONNECT'];

const VALUES: ((r: Random) => unknown)[] = [
  () => null,
  () => true,
  () => 0,
  () => -0,
  () => 1e308,
  (r) => r.int(2 ** 31) * (r.chance(0.5) ? -1 : 1),
  () => [],
  () => ({}),
  () => '',
  () => '+',
  () => '+1234567890123456',
  () => '+919876543210',
  () => '2025-02-30T10:00:00Z',
  () => '2025-01-15T25:00:00Z',
  () => '2025-01-15T10:00:00.123456789Z',
  () => 'x'.repeat(257),
  () => '😀'.repeat(4096),
  () => 'y'.repeat(4097),
  () => 'a\u0000b',
  () => '\ud800',
  () => ({ __proto__: { polluted: true } }),
  (r) => randomString(r, r.int(40)),
];

function randomString(r: Random, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCodePoint(r.chance(0.8) ? 0x20 + r.int(0x5f) : r.int(0x3000));
  return s;
}

function validMessage(r: Random, n: number): Record<string, unknown> {
  return {
    message_id: `fz-${n}`,
    from: `+${1 + r.int(9)}${r.int(1e9)}`,
    to: '+14155550100',
    ts: r.pick(['2025-01-15T10:00:00Z', '2025-01-15T10:00:00.5Z', '2024-02-29T23:59:59Z']),
    ...(r.chance(0.7) && { text: r.chance(0.5) ? randomString(r, r.int(100)) : null }),
  };
}

/** The message_id a validly signed body may store, as JSON.parse reads it (the last of repeated keys). */
function idOf(body: Buffer): string | null {
  try {
    const parsed: unknown = JSON.parse(body.toString());
    if (typeof parsed === 'object' && parsed !== null && 'message_id' in parsed && typeof parsed.message_id === 'string') {
      return parsed.message_id;
    }
  } catch {
    // not JSON: it can store nothing
  }
  return null;
}

function deep(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

/** A body for POST /webhook: near-valid messages with one thing wrong, or plain garbage. */
function webhookBody(r: Random, n: number): Buffer {
  const roll = r.int(10);
  if (roll <= 3) {
    const m = validMessage(r, n);
    if (roll > 0) {
      const key = r.pick(['message_id', 'from', 'to', 'ts', 'text', '__proto__', 'constructor', 'extra']);
      m[key] = r.pick(VALUES)(r);
    }
    let json = JSON.stringify(m);
    if (r.chance(0.1)) json = json.replace('{', '{"__proto__":{"message_id":"proto"},"constructor":{"prototype":{"x":1}},');
    if (r.chance(0.05)) json = json.replace('"message_id"', '"message_id":"shadowed","message_id"');
    return Buffer.from(json);
  }
  switch (roll) {
    case 4:
      return Buffer.from(deep(r.pick([10, 1_000, 100_000])));
    case 5: {
      // Invalid UTF-8 inside an otherwise valid message.
      const json = Buffer.from(JSON.stringify(validMessage(r, n)));
      const bad = Buffer.from(r.pick([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x00]]));
      const at = 1 + r.int(json.length - 2);
      return Buffer.concat([json.subarray(0, at), bad, json.subarray(at)]);
    }
    case 6:
      return Buffer.from(r.pick(['', 'null', '[]', '"str"', '1e999', '123456789012345678901234567890', '{', '{"a":', 'true', '\u0000']));
    case 7:
      return Buffer.from(`{"message_id":${r.pick(['1', '1.5e400', '-0', 'NaN', '"\\ud800"', '"\\u0000"'])},"from":"+1","to":"+2","ts":"2025-01-15T10:00:00Z"}`);
    default: {
      const bytes = Buffer.alloc(r.int(300));
      for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(256);
      return bytes;
    }
  }
}

function query(r: Random): string {
  const parts: string[] = [];
  const n = r.int(5);
  for (let i = 0; i < n; i++) {
    const name = r.pick(['limit', 'offset', 'from', 'since', 'q', 'limit', '__proto__', 'constructor', '', 'x[]']);
    const value = r.pick([
      '1e3', '-0', '0', '100', '101', '-1', '1.0', '0x10', '%00', '%zz', '%E0%A4%A', '+919876543210', '%2B1',
      '2025-01-15T10:00:00Z', '2025-13-01T00:00:00Z', '%25', '_', 'a'.repeat(10_000), '9'.repeat(400), '',
    ]);
    parts.push(r.chance(0.1) ? name : `${name}=${value}`);
  }
  return parts.length > 0 || r.chance(0.5) ? `?${parts.join(r.chance(0.9) ? '&' : ';')}` : '';
}

function path(r: Random): string {
  if (r.chance(0.75)) return r.pick(ROUTES);
  return r.pick([
    '/webhook/', '//webhook', '/WEBHOOK', '/%00', '/../etc/passwd', '/messages%2F..', `/${randomString(r, 20).replace(/[\s?#]/g, '')}`,
    '/' + 'p'.repeat(r.pick([100, 12_000])), '*', '/health', '/metrics/',
  ]);
}

function generate(r: Random, n: number): Generated {
  const method = r.chance(0.8) ? (r.chance(0.6) ? 'POST' : 'GET') : r.pick(METHODS);
  // Most traffic goes where it can do harm: signed POSTs to /webhook, queries to /messages.
  const route = method === 'POST' && r.chance(0.85) ? '/webhook' : method === 'GET' && r.chance(0.5) ? '/messages' : path(r);
  const target = route + query(r);
  const headers: string[] = [];
  let body: Buffer = Buffer.alloc(0);
  let signedId: string | null = null;
  if (method === 'POST' || r.chance(0.1)) {
    body = webhookBody(r, n);
    const sig = sign(body, SECRET);
    const how = r.int(10);
    if (how <= 6) {
      headers.push(`X-Signature: ${r.chance(0.2) ? 'sha256=' : ''}${r.chance(0.2) ? sig.toUpperCase() : sig}`);
      signedId = idOf(body);
    } else if (how === 7) headers.push(`X-Signature: ${sig.slice(0, -1)}${sig.endsWith('0') ? '1' : '0'}`);
    else if (how === 8) headers.push(`X-Signature: ${sig}`, `X-Signature: ${sig}`);
    // how === 9: no signature at all
    headers.push('Content-Type: ' + r.pick(['application/json', 'text/plain', 'application/json; charset=latin1', '']));
  }
  const framing = r.int(20);
  if (framing === 0) headers.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`);
  else if (framing === 1) headers.push('Transfer-Encoding: chunked');
  else if (framing === 2) headers.push(`Content-Length: -${body.length}`);
  else if (body.length > 0 || method === 'POST') headers.push(`Content-Length: ${body.length}`);
  let payload: Buffer = body;
  if (framing === 1) {
    payload = r.chance(0.5)
      ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])
      : Buffer.from('zz\r\nnot a chunk\r\n');
  }
  const odd = r.int(12);
  if (odd === 0) headers.push(`X-Request-ID: ${'r'.repeat(r.pick([129, 10_000]))}`);
  else if (odd === 1) headers.push('X-Request-ID: bad\u0001id\u007f');
  else if (odd === 2) headers.push('X-Request-ID: a', 'X-Request-ID: b');
  else if (odd === 3) headers.push(`X-Junk: ${'\u00e9\u00ff'.repeat(50)}`);
  else if (odd === 4) headers.push('Expect: 100-continue');
  else if (odd === 5) headers.push('Host: a', 'Host: b');
  else if (odd === 6) headers.push('Bad Header: space in name');
  else if (odd === 7) headers.push(`X-Big: ${'h'.repeat(20_000)}`);
  else if (odd === 8) headers.push('Upgrade: websocket', 'Connection: Upgrade');
  const version = r.chance(0.97) ? 'HTTP/1.1' : r.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'FOO']);
  const host = r.chance(0.95) ? 'Host: localhost\r\n' : '';
  const head = `${method} ${target} ${version}\r\n${host}${headers.map((h) => h + '\r\n').join('')}Connection: close\r\n\r\n`;
  return {
    bytes: Buffer.concat([Buffer.from(head, 'latin1'), payload]),
    // Conflicting or negative Content-Length must never reach a handler; valid chunked framing may store.
    signedId: framing === 0 || framing === 2 ? null : signedId,
    label: `#${n} ${method} ${target.slice(0, 60)} framing=${framing} odd=${odd}`,
    head: method === 'HEAD',
  };
}

const STORED_ROW = {
  message_id: (v: string) => v.length >= 1 && [...v].length <= 256,
  from_msisdn: (v: string) => /^\+[0-9]{1,15}$/.test(v),
  to_msisdn: (v: string) => /^\+[0-9]{1,15}$/.test(v),
  ts: (v: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v),
};

test(`fuzz: ${COUNT} hostile requests get no 5xx, always a JSON error, and store nothing unsigned or invalid`, { timeout: 180_000 }, async (t) => {
  const seed = seedFrom('FUZZ_SEED');
  t.diagnostic(`seed ${seed} (replay with FUZZ_SEED=${seed})`);
  const app = await startApp(t, { logLevel: 'WARNING', timeouts: { headersMs: 2_000, requestMs: 3_000, checkIntervalMs: 250 } });
  const port = Number(new URL(app.url).port);
  const r = createRandom(seed);
  const validlySigned = new Set<string>();
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  let next = 0;

  const worker = async (): Promise<void> => {
    while (next < COUNT && failures.length < 20) {
      const g = generate(r, next++);
      if (g.signedId) validlySigned.add(g.signedId);
      const res = await rawRequest(port, g.bytes, { head: g.head });
      if (res === null) {
        failures.push(`${g.label}: no answer`);
        continue;
      }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) failures.push(`${g.label}: ${res.status} ${res.body.toString()}`);
      if (res.status >= 400) {
        const type = res.headers.get('content-type')?.[0] ?? '';
        let ok = type.startsWith('application/json');
        // HEAD answers carry the headers of the JSON error but, by HTTP's rules, no body.
        if (g.head && res.body.length === 0) {
          if (!ok) failures.push(`${g.label}: ${res.status} not a JSON error's headers: ${type}`);
          continue;
        }
        try {
          const parsed: unknown = JSON.parse(res.body.toString());
          ok &&= typeof parsed === 'object' && parsed !== null && 'detail' in parsed;
        } catch {
          ok = false;
        }
        if (!ok) failures.push(`${g.label}: ${res.status} not a JSON error: ${type} ${res.body.toString().slice(0, 80)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
  assert.deepEqual(failures, [], `seed ${seed}`);
  assert.equal(next, COUNT);

  assert.equal((await fetch(`${app.url}/health/live`)).status, 200);
  assert.ok(!app.logs.some((l) => l.msg === 'unhandled error'), 'no request reached the catch-all');
  const db = new DatabaseSync(app.dbPath, { readOnly: true });
  t.after(() => db.close());
  const rows = db.prepare('SELECT message_id, from_msisdn, to_msisdn, ts, text FROM messages').all() as Record<string, string>[];
  assert.ok(rows.length > 100, `the generator must also produce storable messages (${rows.length})`);
  for (const row of rows) {
    assert.ok(validlySigned.has(String(row.message_id)), `stored without a valid signature: ${row.message_id}`);
    for (const [col, ok] of Object.entries(STORED_ROW)) assert.ok(ok(String(row[col])), `invalid ${col} stored: ${row[col]}`);
    assert.ok(row.text === null || [...String(row.text)].length <= 4096);
  }
});
