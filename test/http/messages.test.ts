import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { getJson, message, postSigned, startApp, useApp } from '../helpers.ts';

type Page = {
  data: { message_id: string; from: string; to: string; ts: string; text: string | null }[];
  total: number;
  limit: number;
  offset: number;
  next_cursor: string | null;
};

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
    assert.deepEqual(past.body, { data: [], total: 7, limit: 50, offset: 100, next_cursor: null });
  });

  test('from is an exact sender match, and an unencoded + (a space) still means +', async () => {
    const encoded = await getJson(`${app.url}/messages?from=%2B922`);
    assert.deepEqual(ids(encoded.body), ['c', 'd']);
    const raw = await getJson(`${app.url}/messages?from=+922`);
    assert.deepEqual(raw.body, encoded.body);
    const none = await getJson(`${app.url}/messages?from=%2B92`);
    assert.deepEqual(none.body, { data: [], total: 0, limit: 50, offset: 0, next_cursor: null });
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

  test('q of any length means the same: case-insensitive, other characters exact', async () => {
    // 3+ characters go through the trigram index, 1-2 scan; both must agree with the contract.
    assert.deepEqual(ids((await getJson(`${app.url}/messages?q=LO`)).body), ['d', 'b']);
    assert.deepEqual(ids((await getJson(`${app.url}/messages?q=LO%20w`)).body), ['b']);
    assert.deepEqual(ids((await getJson(`${app.url}/messages?q=x`)).body), ['g']);
    assert.deepEqual(ids((await getJson(`${app.url}/messages?q=KEXC`)).body), ['g']);
    assert.deepEqual(ids((await getJson(`${app.url}/messages?q=zzz`)).body), []);
    assert.equal(((await getJson(`${app.url}/messages?q=off`)).body as Page).total, 2);
  });

  /** Follows next_cursor from `first` until it is null; returns every id seen, in order. */
  const walk = async (first: string): Promise<string[]> => {
    const seen: string[] = [];
    let url: string | null = first;
    while (url !== null) {
      const page = (await getJson(url)).body as Page;
      seen.push(...ids(page));
      url = page.next_cursor === null ? null : `${first}&cursor=${page.next_cursor}`;
    }
    return seen;
  };

  test('next_cursor walks the whole order page by page, then is null', async () => {
    assert.deepEqual(await walk(`${app.url}/messages?limit=2`), ['f', 'c', 'd', 'a', 'b', 'e', 'g']);
    const { body } = await getJson(`${app.url}/messages?limit=7`);
    assert.equal((body as Page).next_cursor, null);
    const more = (await getJson(`${app.url}/messages?limit=6`)).body as Page;
    assert.equal(typeof more.next_cursor, 'string');
    const after = (await getJson(`${app.url}/messages?limit=6&cursor=${more.next_cursor}`)).body as Page;
    assert.deepEqual([ids(after), after.total, after.offset, after.next_cursor], [['g'], 7, 0, null]);
  });

  test('a cursor combines with filters, and total still counts every match', async () => {
    assert.deepEqual(await walk(`${app.url}/messages?from=%2B911&limit=1`), ['a', 'b', 'e', 'g']);
    assert.deepEqual(await walk(`${app.url}/messages?q=snake&limit=1`), ['c', 'g']);
    const first = (await getJson(`${app.url}/messages?since=2025-01-01T00:00:00.5Z&limit=1`)).body as Page;
    const second = (await getJson(`${app.url}/messages?since=2025-01-01T00:00:00.5Z&limit=1&cursor=${first.next_cursor}`)).body as Page;
    assert.deepEqual([ids(first), ids(second), second.total], [['a'], ['b'], 4]);
  });

  test('order=desc: newest first, the exact reverse of the default order; order=asc is the default', async () => {
    const { status, body } = await getJson(`${app.url}/messages?order=desc`);
    assert.equal(status, 200);
    assert.deepEqual(ids(body), ['g', 'e', 'b', 'a', 'd', 'c', 'f']);
    assert.deepEqual([(body as Page).total, (body as Page).offset, (body as Page).next_cursor], [7, 0, null]);
    assert.deepEqual((await getJson(`${app.url}/messages?order=asc`)).body, (await getJson(`${app.url}/messages`)).body);
    const page = (await getJson(`${app.url}/messages?order=desc&limit=2&offset=2`)).body as Page;
    assert.deepEqual([ids(page), page.total, page.offset], [['b', 'a'], 7, 2]);
    const wrong = await getJson(`${app.url}/messages?order=newest`);
    assert.deepEqual([wrong.status, wrong.body], [422, { detail: [{ loc: ['query', 'order'], msg: "Input should be 'asc' or 'desc'", type: 'enum' }] }]);
  });

  test('order=desc: next_cursor continues newest first, with filters, when order is repeated with it', async () => {
    assert.deepEqual(await walk(`${app.url}/messages?order=desc&limit=2`), ['g', 'e', 'b', 'a', 'd', 'c', 'f']);
    assert.deepEqual(await walk(`${app.url}/messages?order=desc&from=%2B911&limit=1`), ['g', 'e', 'b', 'a']);
    assert.deepEqual(await walk(`${app.url}/messages?order=desc&q=SNAKE&limit=1`), ['g', 'c']);
    assert.deepEqual(await walk(`${app.url}/messages?order=desc&since=2025-01-01T00:00:00.5Z&limit=3`), ['g', 'e', 'b', 'a']);
  });

  test('an invalid cursor -> 422 naming cursor with a clear message', async () => {
    const forged = Buffer.from(JSON.stringify(['not a time', 'x'])).toString('base64url');
    // A ts whose fraction has more than 9 digits: no stored message can have it.
    const longFraction = Buffer.from(JSON.stringify(['2025-01-01T00:00:00.1234567890Z', 'x'])).toString('base64url');
    // An id no message can have: a lone surrogate (JSON escapes it), or longer than 256 code points.
    const badIds = ['\ud800', '', 'x'.repeat(257)].map((id) => Buffer.from(JSON.stringify(['2025-01-01T00:00:00Z', id])).toString('base64url'));
    for (const cursor of ['abc', '!!', forged, longFraction, Buffer.from('[1,2]').toString('base64url'), ...badIds]) {
      const { status, body } = await getJson(`${app.url}/messages?cursor=${encodeURIComponent(cursor)}`);
      assert.equal(status, 422, cursor);
      assert.deepEqual(body, {
        detail: [{ loc: ['query', 'cursor'], msg: 'Invalid cursor: pass the next_cursor of a previous response unchanged', type: 'cursor_invalid' }],
      });
    }
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
    ['order=newest', 'order'],
    ['order=DESC', 'order'],
    ['order=', 'order'],
    ['order=desc&order=desc', 'order'],
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

describe('GET /messages cursor while messages arrive', () => {
  test('pages neither repeat nor skip rows when messages arrive in between', async (t) => {
    const app = await startApp(t);
    for (const id of ['m1', 'm2', 'm3', 'm4']) {
      assert.equal((await postSigned(app.url, message({ message_id: id, ts: `2025-01-0${id.slice(1)}T00:00:00Z` }))).status, 200);
    }
    const first = (await getJson(`${app.url}/messages?limit=2`)).body as Page;
    assert.deepEqual(ids(first), ['m1', 'm2']);
    // One arrives before the cursor (offset paging would now repeat m2), one after it.
    await postSigned(app.url, message({ message_id: 'early', ts: '2024-12-31T00:00:00Z' }));
    await postSigned(app.url, message({ message_id: 'late', ts: '2025-01-09T00:00:00Z' }));
    const second = (await getJson(`${app.url}/messages?limit=2&cursor=${first.next_cursor}`)).body as Page;
    assert.deepEqual([ids(second), second.total], [['m3', 'm4'], 6]);
    const third = (await getJson(`${app.url}/messages?limit=2&cursor=${second.next_cursor}`)).body as Page;
    assert.deepEqual([ids(third), third.next_cursor], [['late'], null]);
  });

  test('order=desc: pages neither repeat nor skip rows when messages arrive in between', async (t) => {
    const app = await startApp(t);
    for (const id of ['m1', 'm2', 'm3', 'm4']) {
      assert.equal((await postSigned(app.url, message({ message_id: id, ts: `2025-01-0${id.slice(1)}T00:00:00Z` }))).status, 200);
    }
    const first = (await getJson(`${app.url}/messages?order=desc&limit=2`)).body as Page;
    assert.deepEqual(ids(first), ['m4', 'm3']);
    // One newer than the page (offset paging would now repeat m3), one older than every row.
    await postSigned(app.url, message({ message_id: 'late', ts: '2025-01-09T00:00:00Z' }));
    await postSigned(app.url, message({ message_id: 'early', ts: '2024-12-31T00:00:00Z' }));
    const second = (await getJson(`${app.url}/messages?order=desc&limit=2&cursor=${first.next_cursor}`)).body as Page;
    assert.deepEqual([ids(second), second.total], [['m2', 'm1'], 6]);
    const third = (await getJson(`${app.url}/messages?order=desc&limit=2&cursor=${second.next_cursor}`)).body as Page;
    assert.deepEqual([ids(third), third.next_cursor], [['early'], null]);
  });
});
