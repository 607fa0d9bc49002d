import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { getJson, message, postSigned, useApp } from './helpers.ts';

type Page = { data: { message_id: string; from: string; to: string; ts: string; text: string | null }[]; total: number; limit: number; offset: number };

const ids = (body: unknown): string[] => (body as Page).data.map((m) => m.message_id);

describe('GET /messages', () => {
  const current = useApp();
  let app: { url: string };
  // One shared data set: mixed-precision timestamps, two senders, texts with LIKE wildcards and cases.
  const seed = [
    { message_id: 'b', from: '+911', ts: '2025-01-01T00:00:00.5Z', text: 'Hello World' },
    { message_id: 'a', from: '+911', ts: '2025-01-01T00:00:00.5Z', text: '50% off' },
    { message_id: 'c', from: '+922', ts: '2025-01-01T00:00:00Z', text: 'snake_case here' },
    { message_id: 'd', from: '+922', ts: '2025-01-01T00:00:00.49Z', text: 'hello there' },
    { message_id: 'e', from: '+911', ts: '2025-01-01T00:00:01Z', text: null },
    { message_id: 'f', from: '+933', ts: '2024-12-31T23:59:59.999999Z', text: 'fifty percent: 50 off' },
    { message_id: 'g', from: '+911', ts: '2025-01-01T00:00:01.000Z', text: 'snakeXcase' },
  ];

  before(async () => {
    app = current();
    for (const m of seed) {
      const res = await postSigned(app.url, message({ to: '+1', ...m }));
      assert.equal(res.status, 200);
    }
  });

  test('orders by instant then message_id, across mixed precision, and echoes ts as sent', async () => {
    const { status, body } = await getJson(`${app.url}/messages`);
    assert.equal(status, 200);
    assert.deepEqual(ids(body), ['f', 'c', 'd', 'a', 'b', 'e', 'g']);
    const page = body as Page;
    assert.equal(page.data.find((m) => m.message_id === 'g')?.ts, '2025-01-01T00:00:01.000Z');
    assert.deepEqual(Object.keys(page.data[0] ?? {}), ['message_id', 'from', 'to', 'ts', 'text']);
    assert.deepEqual([page.total, page.limit, page.offset], [7, 50, 0]);
  });

  test('limit and offset page through; total counts every match', async () => {
    const { body } = await getJson(`${app.url}/messages?limit=2&offset=2`);
    assert.deepEqual(ids(body), ['d', 'a']);
    assert.deepEqual([(body as Page).total, (body as Page).limit, (body as Page).offset], [7, 2, 2]);
    const past = await getJson(`${app.url}/messages?offset=100`);
    assert.deepEqual(past.body, { data: [], total: 7, limit: 50, offset: 100 });
  });

  test('from is an exact sender match, and an unencoded + (a space) still means +', async () => {
    const encoded = await getJson(`${app.url}/messages?from=%2B922`);
    assert.deepEqual(ids(encoded.body), ['c', 'd']);
    const raw = await getJson(`${app.url}/messages?from=+922`);
    assert.deepEqual(raw.body, encoded.body);
    const none = await getJson(`${app.url}/messages?from=%2B92`);
    assert.deepEqual(none.body, { data: [], total: 0, limit: 50, offset: 0 });
  });

  test('since is inclusive and compares instants, not strings', async () => {
    const { body } = await getJson(`${app.url}/messages?since=2025-01-01T00:00:00.500Z`);
    assert.deepEqual(ids(body), ['a', 'b', 'e', 'g']);
    const whole = await getJson(`${app.url}/messages?since=2025-01-01T00:00:01Z`);
    assert.deepEqual(ids(whole.body), ['e', 'g']);
    assert.equal((whole.body as Page).total, 2);
  });

  test('q is a case-insensitive substring where % and _ are literal', async () => {
    assert.deepEqual(ids((await getJson(`${app.url}/messages?q=HELLO`)).body), ['d', 'b']);
    assert.deepEqual(ids((await getJson(`${app.url}/messages?q=50%25`)).body), ['a']);
    assert.deepEqual(ids((await getJson(`${app.url}/messages?q=e_c`)).body), ['c']);
    assert.deepEqual(ids((await getJson(`${app.url}/messages?q=%25`)).body), ['a']);
  });

  test('filters combine, and total counts the combined matches', async () => {
    const { body } = await getJson(`${app.url}/messages?from=%2B911&since=2025-01-01T00:00:00.6Z&q=snake&limit=1`);
    assert.deepEqual(ids(body), ['g']);
    assert.equal((body as Page).total, 1);
    const paged = await getJson(`${app.url}/messages?from=%2B911&limit=1&offset=1`);
    assert.deepEqual(ids(paged.body), ['b']);
    assert.equal((paged.body as Page).total, 4);
  });

  const invalid: [string, string][] = [
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=1e3', 'limit'],
    ['limit=5.0', 'limit'],
    ['limit=', 'limit'],
    ['offset=-1', 'offset'],
    ['offset=1.5', 'offset'],
    ['since=yesterday', 'since'],
    ['since=2025-13-01T00:00:00Z', 'since'],
    ['since=2025-01-01T00:00:00%2B01:00', 'since'],
    ['limit=1&limit=2', 'limit'],
  ];
  for (const [qs, field] of invalid) {
    test(`${qs} -> 422 naming ${field}`, async () => {
      const { status, body } = await getJson(`${app.url}/messages?${qs}`);
      assert.equal(status, 422);
      const detail = (body as { detail: { loc: unknown[]; msg: string; type: string }[] }).detail;
      assert.deepEqual(detail[0]?.loc, ['query', field]);
      assert.equal(typeof detail[0]?.msg, 'string');
    });
  }

  test('boundary values are accepted: limit=1, limit=100, offset=0, offset=-0', async () => {
    for (const qs of ['limit=1', 'limit=100', 'offset=0', 'offset=-0']) {
      const { status } = await getJson(`${app.url}/messages?${qs}`);
      assert.equal(status, 200, qs);
    }
  });
});
