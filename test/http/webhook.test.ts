import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sign } from '../../src/domain/signature.ts';
import { getJson, message, postSigned, SECRET, startApp, STREAM_LIMIT, streamUntilAnswered, type LogLine } from '../helpers.ts';

const webhookLines = (logs: LogLine[]): LogLine[] => logs.filter((l) => l.msg === 'request' && l.path === '/webhook');

async function storedIds(url: string): Promise<string[]> {
  const { body } = await getJson(`${url}/messages?limit=100`);
  return (body as { data: { message_id: string }[] }).data.map((m) => m.message_id);
}

describe('POST /webhook', () => {
  test('stores a valid signed message and answers 200 {"status":"ok"}', async (t) => {
    const app = await startApp(t);
    const res = await postSigned(app.url, message());
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
    const { body } = await getJson(`${app.url}/messages`);
    assert.deepEqual(body, {
      data: [{ message_id: 'm1', from: '+919876543210', to: '+14155550100', ts: '2025-01-15T10:00:00Z', text: 'Hello' }],
      total: 1,
      limit: 50,
      offset: 0,
      next_cursor: null,
    });
  });

  test('a repeated message_id answers 200 again and keeps the first copy', async (t) => {
    const app = await startApp(t);
    assert.equal((await postSigned(app.url, message({ text: 'first' }))).status, 200);
    const again = await postSigned(app.url, message({ text: 'second', to: '+1999' }));
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), { status: 'ok' });
    const { body } = await getJson(`${app.url}/messages`);
    const data = (body as { data: { text: string; to: string }[]; total: number }).data;
    assert.equal(data.length, 1);
    assert.equal(data[0]?.text, 'first');
    assert.equal(data[0]?.to, '+14155550100');
    const lines = webhookLines(app.logs);
    assert.deepEqual(
      lines.map((l) => [l.result, l.dup, l.message_id]),
      [
        ['created', false, 'm1'],
        ['duplicate', true, 'm1'],
      ],
    );
  });

  test('many concurrent copies of one message store exactly one row', async (t) => {
    const app = await startApp(t);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => postSigned(app.url, message({ message_id: 'same', text: `copy ${i}` }))),
    );
    assert.deepEqual(new Set(answers.map((r) => r.status)), new Set([200]));
    const results = webhookLines(app.logs).map((l) => l.result);
    assert.equal(results.filter((r) => r === 'created').length, 1);
    assert.equal(results.filter((r) => r === 'duplicate').length, 39);
    const { body } = await getJson(`${app.url}/stats`);
    assert.equal((body as { total_messages: number }).total_messages, 1);
  });

  test('concurrent distinct messages are all stored', async (t) => {
    const app = await startApp(t);
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => postSigned(app.url, message({ message_id: `id-${i}` }))),
    );
    assert.ok(answers.every((r) => r.status === 200));
    const { body } = await getJson(`${app.url}/messages?limit=100`);
    assert.equal((body as { total: number }).total, 60);
  });

  describe('signature', () => {
    const bad: [string, Record<string, string>][] = [
      ['missing', {}],
      ['not hex', { 'x-signature': 'z'.repeat(64) }],
      ['too short', { 'x-signature': 'ab'.repeat(16) }],
      ['under another secret', { 'x-signature': sign(JSON.stringify(message()), 'other-secret') }],
      ['empty', { 'x-signature': '' }],
    ];
    for (const [name, headers] of bad) {
      test(`${name} -> 401 and nothing stored`, async (t) => {
        const app = await startApp(t);
        const res = await fetch(`${app.url}/webhook`, { method: 'POST', headers, body: JSON.stringify(message()) });
        assert.equal(res.status, 401);
        assert.deepEqual(await res.json(), { detail: 'invalid signature' });
        assert.deepEqual(await storedIds(app.url), []);
      });
    }

    test('accepts uppercase hex and a sha256= prefix', async (t) => {
      const app = await startApp(t);
      const raw = JSON.stringify(message({ message_id: 'upper' }));
      const upper = await fetch(`${app.url}/webhook`, {
        method: 'POST',
        headers: { 'x-signature': sign(raw, SECRET).toUpperCase() },
        body: raw,
      });
      assert.equal(upper.status, 200);
      const raw2 = JSON.stringify(message({ message_id: 'prefixed' }));
      const prefixed = await fetch(`${app.url}/webhook`, {
        method: 'POST',
        headers: { 'x-signature': `sha256=${sign(raw2, SECRET)}` },
        body: raw2,
      });
      assert.equal(prefixed.status, 200);
      assert.deepEqual((await storedIds(app.url)).sort(), ['prefixed', 'upper']);
    });

    test('the signature covers the raw bytes, not re-serialised JSON', async (t) => {
      const app = await startApp(t);
      const spaced = '{ "message_id": "raw", "from": "+1", "to": "+2", "ts": "2025-01-01T00:00:00Z" }';
      const compact = JSON.stringify(JSON.parse(spaced));
      const res = await fetch(`${app.url}/webhook`, {
        method: 'POST',
        headers: { 'x-signature': sign(compact, SECRET) },
        body: spaced,
      });
      assert.equal(res.status, 401);
      assert.equal((await postSigned(app.url, spaced)).status, 200);
    });

    test('is checked before the body is parsed: unsigned garbage gets 401, not 422', async (t) => {
      const app = await startApp(t);
      const res = await fetch(`${app.url}/webhook`, { method: 'POST', body: 'not json', headers: { 'x-signature': 'ab'.repeat(32) } });
      assert.equal(res.status, 401);
    });

    test('during rotation both the current and the previous secret are accepted', async (t) => {
      const app = await startApp(t, { secrets: ['new-secret', 'old-secret'] });
      assert.equal((await postSigned(app.url, message({ message_id: 'a' }), 'new-secret')).status, 200);
      assert.equal((await postSigned(app.url, message({ message_id: 'b' }), 'old-secret')).status, 200);
      assert.equal((await postSigned(app.url, message({ message_id: 'c' }), 'other')).status, 401);
      assert.deepEqual((await storedIds(app.url)).sort(), ['a', 'b']);
    });

    test('an invalid signature logs at ERROR without the signature, secret or text', async (t) => {
      const app = await startApp(t);
      const raw = JSON.stringify(message({ text: 'very private words' }));
      const sig = sign(raw, 'wrong');
      await fetch(`${app.url}/webhook`, { method: 'POST', headers: { 'x-signature': sig }, body: raw });
      const [line] = webhookLines(app.logs);
      assert.equal(line?.level, 'ERROR');
      assert.equal(line?.status, 401);
      assert.equal(line?.result, 'invalid_signature');
      for (const secretish of [sig, SECRET, 'very private words']) assert.ok(!app.logged(secretish), secretish);
    });
  });

  describe('validation', () => {
    test('invalid fields -> 422 with every problem in FastAPI form, nothing stored', async (t) => {
      const app = await startApp(t);
      const res = await postSigned(app.url, { message_id: 42, from: '919876543210', to: '+1', ts: '2025-02-30T00:00:00Z' });
      assert.equal(res.status, 422);
      const body = (await res.json()) as { detail: { loc: unknown[]; type: string; msg: string }[] };
      assert.deepEqual(
        body.detail.map((d) => [d.loc, d.type]),
        [
          [['body', 'message_id'], 'string_type'],
          [['body', 'from'], 'string_pattern_mismatch'],
          [['body', 'ts'], 'datetime_format'],
        ],
      );
      for (const d of body.detail) assert.equal(typeof d.msg, 'string');
      assert.deepEqual(await storedIds(app.url), []);
    });

    test('a ts fraction has 1 to 9 digits: 9 is stored, 10 (or 100,000) -> 422 naming ts, nothing stored', async (t) => {
      const app = await startApp(t);
      assert.equal((await postSigned(app.url, message({ message_id: 'nine', ts: '2025-01-15T10:00:00.123456789Z' }))).status, 200);
      for (const fraction of ['1234567890', '1'.repeat(100_000)]) {
        const res = await postSigned(app.url, message({ message_id: `long-${fraction.length}`, ts: `2025-01-15T10:00:00.${fraction}Z` }));
        assert.equal(res.status, 422);
        const body = (await res.json()) as { detail: { loc: unknown[]; type: string }[] };
        assert.deepEqual(body.detail.map((d) => [d.loc, d.type]), [[['body', 'ts'], 'datetime_format']]);
      }
      assert.deepEqual(await storedIds(app.url), ['nine']);
      const since = await getJson(`${app.url}/messages?since=2025-01-15T10:00:00.1234567890Z`);
      assert.equal(since.status, 422);
    });

    test('malformed JSON, arrays and scalars -> 422', async (t) => {
      const app = await startApp(t);
      for (const raw of ['{"message_id":', '[]', '"text"', 'null', '']) {
        const res = await postSigned(app.url, raw);
        assert.equal(res.status, 422, raw);
        const body = (await res.json()) as { detail: { loc: unknown[] }[] };
        assert.deepEqual(body.detail[0]?.loc, ['body'], raw);
      }
    });

    test('text may be missing or null, and is stored as null', async (t) => {
      const app = await startApp(t);
      const noText = message({ message_id: 'no-text' });
      delete noText.text;
      assert.equal((await postSigned(app.url, noText)).status, 200);
      assert.equal((await postSigned(app.url, message({ message_id: 'null-text', text: null }))).status, 200);
      const { body } = await getJson(`${app.url}/messages`);
      assert.deepEqual(
        (body as { data: { text: unknown }[] }).data.map((m) => m.text),
        [null, null],
      );
    });

    test('a body that repeats one of the message fields -> 422 naming it, nothing stored; other keys may repeat', async (t) => {
      const app = await startApp(t);
      const rest = '"from":"+1","to":"+2","ts":"2025-01-01T00:00:00Z"';
      for (const [raw, field] of [
        [`{"message_id":"a",${rest},"message_id":"b"}`, 'message_id'],
        [`{"message_id":"c",${rest},"text":"shown","text":"stored"}`, 'text'],
      ] as const) {
        const res = await postSigned(app.url, raw);
        assert.equal(res.status, 422, raw);
        assert.deepEqual(await res.json(), { detail: [{ loc: ['body', field], msg: 'Field given more than once', type: 'duplicate_field' }] });
      }
      assert.deepEqual(await storedIds(app.url), []);
      assert.equal((await postSigned(app.url, `{"message_id":"d",${rest},"extra":1,"extra":2}`)).status, 200);
    });

    test('__proto__ keys are plain unknown fields', async (t) => {
      const app = await startApp(t);
      const raw = '{"message_id":"p","from":"+1","to":"+2","ts":"2025-01-01T00:00:00Z","__proto__":{"text":"injected"},"constructor":{"prototype":{"x":1}}}';
      assert.equal((await postSigned(app.url, raw)).status, 200);
      const { body } = await getJson(`${app.url}/messages`);
      assert.equal((body as { data: { text: unknown }[] }).data[0]?.text, null);
      assert.equal(({} as Record<string, unknown>).x, undefined);
    });
  });

  describe('body size', () => {
    test('a declared body over MAX_BODY_BYTES -> 413 before the signature is looked at', async (t) => {
      const app = await startApp(t, { maxBodyBytes: 200 });
      const raw = JSON.stringify(message({ text: 'x'.repeat(300) }));
      // Signed with a wrong secret: a 401 would mean the signature was checked first.
      const res = await postSigned(app.url, raw, 'not-the-secret-0123456789');
      assert.equal(res.status, 413);
      assert.deepEqual(await res.json(), { detail: 'payload too large' });
      assert.deepEqual(await storedIds(app.url), []);
    });

    test('a chunked body that grows past the limit -> 413 without reading it to the end', async (t) => {
      const app = await startApp(t, { maxBodyBytes: 1024 });
      const result = await streamUntilAnswered(app.url, '/webhook', { 'x-signature': 'ab'.repeat(32) });
      assert.equal(result.status, 413);
      assert.deepEqual(JSON.parse(result.body), { detail: 'payload too large' });
      assert.ok(result.sent < STREAM_LIMIT, `server read ${result.sent} bytes`);
    });

    test('413 comes before 503 when no secret is configured', async (t) => {
      const app = await startApp(t, { maxBodyBytes: 50, secrets: [] });
      const res = await postSigned(app.url, message());
      assert.equal(res.status, 413);
    });
  });

  test('no secret configured -> 503 with the contract body, and nothing stored', async (t) => {
    const app = await startApp(t, { secrets: [] });
    const res = await postSigned(app.url, message());
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { detail: 'webhook secret not configured' });
    assert.deepEqual(await storedIds(app.url), []);
  });

  test('control and direction characters in a message_id reach the access log escaped, never raw', async (t) => {
    const app = await startApp(t);
    const id = 'csi\u009b31m-ls\u2028ps\u2029-rlo\u202egnp.exe';
    assert.equal((await postSigned(app.url, message({ message_id: id }), undefined, { 'x-request-id': 'escaped' })).status, 200);
    const line = app.logs.find((l) => l.request_id === 'escaped');
    assert.equal(line?.message_id, id, 'the id reads back exactly');
    for (const c of ['\u009b', '\u2028', '\u2029', '\u202e']) assert.ok(!app.logText().includes(c), `raw U+${c.charCodeAt(0).toString(16)}`);
  });

  test('a 422 logs the message_id when that field itself was valid, and only then', async (t) => {
    const app = await startApp(t);
    await postSigned(app.url, message({ message_id: 'known-id', from: '911234567890' }), undefined, { 'x-request-id': 'bad-from' });
    await postSigned(app.url, message({ message_id: '', from: '911234567890' }), undefined, { 'x-request-id': 'bad-id' });
    const line = (id: string): Record<string, unknown> | undefined => app.logs.find((l) => l.request_id === id);
    assert.equal(line('bad-from')?.status, 422);
    assert.equal(line('bad-from')?.message_id, 'known-id');
    assert.equal(line('bad-id')?.status, 422);
    assert.ok(line('bad-id') !== undefined && !('message_id' in (line('bad-id') ?? {})));
  });

  test('outcomes are counted in webhook_requests_total{result}', async (t) => {
    const app = await startApp(t);
    await postSigned(app.url, message());
    await postSigned(app.url, message());
    await postSigned(app.url, message(), 'wrong');
    await postSigned(app.url, message({ from: 'nope' }));
    const text = await (await fetch(`${app.url}/metrics`)).text();
    for (const [result, n] of [
      ['created', 1],
      ['duplicate', 1],
      ['invalid_signature', 1],
      ['validation_error', 1],
      ['payload_too_large', 0],
    ] as const) {
      assert.match(text, new RegExp(`^webhook_requests_total\\{result="${result}"\\} ${n}$`, 'm'), result);
    }
  });
});
