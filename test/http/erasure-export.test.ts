// SPEC "Erasure" and "GET /messages/export" through the real server: admin tokens, the audit line, the
// counts afterwards, the export's formats, its backpressure and its end when the client leaves.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createRegistry } from '../../src/observability/metrics.ts';
import { createServiceMetrics } from '../../src/observability/service-metrics.ts';
import { storeUnavailable, type Message, type Store } from '../../src/store/store.ts';
import { envelopeOf } from '../../src/domain/whatsapp-envelope.ts';
import { getJson, message, postSigned, postWhatsApp, SQLITE_ONLY, startApp, waitFor, type TestApp, type WebhookMessage } from '../helpers.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const ADMIN_NEXT = 'admin-token-rotated-9876543210';
const READ = 'read-token-0123456789abcdef';
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function postAll(url: string, messages: WebhookMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 64) {
    const answers = await Promise.all(messages.slice(i, i + 64).map((m) => postSigned(url, m)));
    assert.ok(answers.every((r) => r.status === 200));
  }
}

async function erase(app: TestApp, path: string, token = ADMIN): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${app.url}${path}`, { method: 'DELETE', headers: bearer(token) });
  return { status: res.status, body: await res.json() };
}

const sample = (name: string, text: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

describe('DELETE /messages/{message_id} and DELETE /messages?from=', () => {
  test('while ADMIN_TOKENS is unset both answer 403, whatever token is sent; nothing is erased', async (t) => {
    const app = await startApp(t, { readTokens: [READ] });
    await postSigned(app.url, message());
    for (const path of ['/messages/m1', '/messages?from=%2B919876543210']) {
      for (const headers of [{}, bearer(READ)]) {
        const res = await fetch(`${app.url}${path}`, { method: 'DELETE', headers });
        assert.deepEqual([res.status, await res.json()], [403, { detail: 'erasure disabled: set ADMIN_TOKENS' }]);
      }
    }
    assert.equal(((await (await fetch(`${app.url}/messages`, { headers: bearer(READ) })).json()) as { total: number }).total, 1);
  });

  test('admin and read tokens are apart: each opens only its own endpoints; both admin tokens of a rotation work', async (t) => {
    const app = await startApp(t, { readTokens: [READ], adminTokens: [ADMIN, ADMIN_NEXT] });
    await postAll(app.url, [message({ message_id: 'a' }), message({ message_id: 'b' })]);
    for (const headers of [{}, bearer(READ), bearer(`${ADMIN}x`), { authorization: `Basic ${ADMIN}` }]) {
      const res = await fetch(`${app.url}/messages/a`, { method: 'DELETE', headers });
      assert.deepEqual([res.status, res.headers.get('www-authenticate'), await res.json()], [401, 'Bearer', { detail: 'not authenticated' }]);
    }
    for (const path of ['/messages', '/stats', '/messages/export']) {
      assert.equal((await fetch(`${app.url}${path}`, { headers: bearer(ADMIN) })).status, 401, path);
    }
    assert.deepEqual(await erase(app, '/messages/a', ADMIN), { status: 200, body: { deleted: 1 } });
    assert.deepEqual(await erase(app, '/messages/b', ADMIN_NEXT), { status: 200, body: { deleted: 1 } });
    assert.ok(!app.logged(ADMIN) && !app.logged(ADMIN_NEXT) && !app.logged(READ), 'no token in the logs');
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    assert.match(metrics, /^auth_failures_total\{endpoint="erase"\} 4$/m);
    assert.equal(sample('messages_erased_total', metrics), 2);
  });

  test('one message by its URL-encoded id: 200 {"deleted":1}, then 404; list, total, search and stats agree', async (t) => {
    const app = await startApp(t, { adminTokens: [ADMIN] });
    const id = 'wamid/ä b?#%';
    await postAll(app.url, [
      message({ message_id: id, from: '+911', text: 'secret plan', ts: '2025-01-01T00:00:00Z' }),
      message({ message_id: 'keep', from: '+922', text: 'public plan', ts: '2025-01-02T00:00:00Z' }),
    ]);
    const res = await fetch(`${app.url}/messages/${encodeURIComponent(id)}`, { method: 'DELETE', headers: { ...bearer(ADMIN), 'x-request-id': 'req-erase-1' } });
    assert.deepEqual([res.status, await res.json()], [200, { deleted: 1 }]);
    assert.deepEqual(await erase(app, `/messages/${encodeURIComponent(id)}`), { status: 404, body: { detail: 'message not found' } });
    const list = (await getJson(`${app.url}/messages`)).body as { data: { message_id: string }[]; total: number };
    assert.deepEqual([list.data.map((m) => m.message_id), list.total], [['keep'], 1]);
    assert.equal(((await getJson(`${app.url}/messages?q=secret`)).body as { total: number }).total, 0);
    assert.equal(((await getJson(`${app.url}/messages?q=plan`)).body as { total: number }).total, 1);
    const stats = (await getJson(`${app.url}/stats`)).body as Record<string, unknown>;
    assert.deepEqual(stats, {
      total_messages: 1,
      senders_count: 1,
      messages_per_sender: [{ from: '+922', count: 1 }],
      first_message_ts: '2025-01-02T00:00:00Z',
      last_message_ts: '2025-01-02T00:00:00Z',
    });
    const audit = app.logs.filter((l) => l.msg === 'erasure');
    assert.deepEqual(audit, [
      { ...audit[0], level: 'WARNING', request_id: 'req-erase-1', admin_token: createHash('sha256').update(ADMIN).digest('hex').slice(0, 12), message_id: id, deleted: 1 },
      { ...audit[1], level: 'WARNING', message_id: id, deleted: 0 },
    ]);
    assert.ok(!app.logged('secret plan'), 'the text is never logged');
  });

  test('a message whose id names another endpoint (stream, export) is erased at its plain URL', async (t) => {
    const app = await startApp(t, { adminTokens: [ADMIN] });
    await postAll(app.url, ['stream', 'export', 'keep'].map((id) => message({ message_id: id })));
    for (const id of ['stream', 'export']) assert.deepEqual(await erase(app, `/messages/${id}`), { status: 200, body: { deleted: 1 } }, id);
    const list = (await getJson(`${app.url}/messages`)).body as { data: { message_id: string }[] };
    assert.deepEqual(list.data.map((m) => m.message_id), ['keep']);
    const wrong = await fetch(`${app.url}/messages/export`, { method: 'POST' });
    assert.equal(wrong.status, 405);
    assert.deepEqual(wrong.headers.get('allow')?.split(', ').sort(), ['DELETE', 'GET', 'HEAD']);
  });

  test('a sender by from (an unencoded + included): every message of theirs, the audit line names a fingerprint only', async (t) => {
    const app = await startApp(t, { adminTokens: [ADMIN] });
    const theirs = Array.from({ length: 40 }, (_, i) => message({ message_id: `s${i}`, from: '+919876543210', text: `private note ${i}` }));
    await postAll(app.url, [...theirs, message({ message_id: 'other', from: '+14155550100', text: 'a private matter too' })]);
    assert.deepEqual(await erase(app, '/messages?from=+919876543210'), { status: 200, body: { deleted: 40 } });
    assert.deepEqual(await erase(app, '/messages?from=%2B919876543210'), { status: 200, body: { deleted: 0 } });
    assert.deepEqual(await erase(app, '/messages?from=US.13491208655302741918'), { status: 200, body: { deleted: 0 } });
    const search = (await getJson(`${app.url}/messages?q=private`)).body as { data: { message_id: string }[]; total: number };
    assert.deepEqual([search.data.map((m) => m.message_id), search.total], [['other'], 1]);
    assert.equal(((await getJson(`${app.url}/stats`)).body as { senders_count: number }).senders_count, 1);
    const [line] = app.logs.filter((l) => l.msg === 'erasure');
    assert.equal(line?.sender_fingerprint, createHash('sha256').update('+919876543210').digest('hex').slice(0, 12));
    assert.equal(line?.deleted, 40);
    assert.ok(!app.logged('919876543210') && !app.logged('private note'), 'neither the number nor the text is logged');
  });

  test('from is required: missing, empty, repeated, or too long is a 422 naming it and why; there is no erase-all', async (t) => {
    const app = await startApp(t, { adminTokens: [ADMIN] });
    await postSigned(app.url, message());
    for (const [query, type] of [
      ['', 'missing'],
      ['?from=', 'missing'],
      ['?q=Hello', 'missing'],
      ['?from=%2B1&from=%2B2', 'duplicate_parameter'],
      [`?from=${'9'.repeat(257)}`, 'string_too_long'],
    ]) {
      const { status, body } = await erase(app, `/messages${query}`);
      assert.equal(status, 422, query);
      assert.deepEqual((body as { detail: { loc: string[]; type: string }[] }).detail.map((e) => [e.loc, e.type]), [[['query', 'from'], type]], query);
    }
    assert.equal(((await getJson(`${app.url}/messages`)).body as { total: number }).total, 1);
  });

  test('really gone from the SQLite file and its WAL: the text, and every trigram the search index held', { skip: SQLITE_ONLY }, async (t) => {
    const app = await startApp(t, { adminTokens: [ADMIN] });
    // Runic letters appear in no other text: each trigram of the marker is then a whole term in the
    // search index's pages (FTS5 stores a term in full when it shares no prefix with its neighbour).
    const marker = 'ᚠᚢᚦᚨᚱᚲᚷᚹᚺᚾᛁᛃ';
    const trigrams = [...marker].slice(0, -2).map((_, i) => Buffer.from([...marker].slice(i, i + 3).join('')));
    const fill = Array.from({ length: 600 }, (_, i) => message({ message_id: `fill${i}`, text: `filler text number ${i}` }));
    // Enough rows after it that the search index takes the marker in (it indexes in bulk).
    await postAll(app.url, [message({ message_id: 'marked', text: `before ${marker} after` }), ...fill]);
    assert.equal(((await getJson(`${app.url}/messages?q=${encodeURIComponent([...marker].slice(3, 7).join(''))}`)).body as { total: number }).total, 1);
    const files = (): Buffer => Buffer.concat([app.dbPath, `${app.dbPath}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    const present = (bytes: Buffer): string[] => trigrams.filter((g) => bytes.includes(g)).map((g) => g.toString());
    assert.ok(files().includes(Buffer.from(marker)), 'stored before the erasure');
    assert.ok(present(files()).length > 0, 'indexed before the erasure');

    assert.deepEqual(await erase(app, '/messages/marked'), { status: 200, body: { deleted: 1 } });
    // The search index's copies and the WAL are cleaned up in the background, then the service says so.
    await waitFor(() => app.logs.some((l) => l.msg === 'erased messages scrubbed from the database files'), 60_000);
    const after = files();
    assert.equal(after.includes(Buffer.from(marker)), false, 'the text is in neither file');
    assert.deepEqual(present(after), [], 'no trigram of it stays in the search index');
    assert.equal(((await getJson(`${app.url}/messages?q=filler`)).body as { total: number }).total, 600);
  });
});

/** A minimal RFC 4180 reader: records of fields, quotes doubled inside quoted fields. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  while (i < text.length) {
    assert.equal(text[i], '"', `field at ${i} is quoted`);
    let field = '';
    for (i += 1; ; i += 1) {
      if (text[i] === '"' && text[i + 1] === '"') (field += '"'), (i += 1);
      else if (text[i] === '"') break;
      else field += text[i];
    }
    record.push(field);
    i += 1;
    if (text[i] === ',') i += 1;
    else {
      assert.equal(text.slice(i, i + 2), '\r\n', `record ends with CRLF at ${i}`);
      records.push(record);
      record = [];
      i += 2;
    }
  }
  return records;
}

describe('GET /messages/export', () => {
  const texts = ['plain', 'a, b, c', 'she said "hi"', 'line one\nline two\r\nline three', 'nul\u0000here', 'Ünïcödé ёлка 日本 😀', null, '=SUM(A1)', '+1 and -2 and @x'];
  const seed = texts.map((text, i) => message({ message_id: `m${i}`, from: i % 2 === 0 ? '+911' : '+922', ts: `2025-01-0${1 + (i % 3)}T00:00:0${i}Z`, text }));
  const listed = async (app: TestApp, query = ''): Promise<Record<string, unknown>[]> =>
    ((await getJson(`${app.url}/messages?limit=100${query}`)).body as { data: Record<string, unknown>[] }).data;

  test('NDJSON (the default): every match in listing order, one object a line as in /messages, filters as /messages', async (t) => {
    const app = await startApp(t);
    await postAll(app.url, seed);
    for (const query of ['', '&from=%2B911', '&since=2025-01-02T00:00:00Z', '&q=LINE', '&from=+922&q=a']) {
      const res = await fetch(`${app.url}/messages/export?format=ndjson${query}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="messages-[0-9T-]+Z\.ndjson"$/);
      const text = await res.text();
      assert.ok(text === '' || text.endsWith('\n'));
      const rows = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(rows, await listed(app, query), query);
    }
    const plain = await fetch(`${app.url}/messages/export`);
    assert.equal((await plain.text()).split('\n').length, texts.length + 1);
  });

  test('CSV: RFC 4180, the header, every field quoted, type text, a null text empty; commas, quotes, newlines, NUL and non-ASCII kept', async (t) => {
    const app = await startApp(t);
    await postAll(app.url, seed);
    const res = await fetch(`${app.url}/messages/export?format=csv`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8; header=present');
    assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="messages-[0-9T-]+Z\.csv"$/);
    const body = await res.text();
    assert.ok(body.startsWith('message_id,from,to,ts,text,type\r\n'));
    const records = parseCsv(body.slice(body.indexOf('\r\n') + 2));
    const expected = (await listed(app)).map((m) => [m.message_id, m.from, m.to, m.ts, m.text ?? '', 'text']);
    assert.deepEqual(records, expected);
    assert.ok(body.includes('"m0","+911","+14155550100","2025-01-01T00:00:00Z","plain","text"\r\n'), 'every field quoted, as stored');
    assert.ok(body.includes('"she said ""hi"""'));
  });

  test('WhatsApp messages: their type in both formats, a business-scoped sender exported and erased like a number', async (t) => {
    const app = await startApp(t, { adminTokens: [ADMIN] });
    const user = 'US.13491208655302741918';
    const envelope = envelopeOf('+15550783881', [
      { from_user_id: user, id: 'wamid.a', timestamp: '1739321024', type: 'text', text: { body: 'hi' } },
      { from_user_id: user, id: 'wamid.b', timestamp: '1739321025', type: 'image', image: { id: 'media-1', caption: 'a photo' } },
      { from_user_id: user, id: 'wamid.c', timestamp: '1739321026', type: 'reaction', reaction: { message_id: 'wamid.a', emoji: '👍' } },
    ], [{ profile: { name: 'Kim' }, user_id: user }]);
    assert.equal((await postWhatsApp(app.url, envelope)).status, 200);
    const ndjson = (await (await fetch(`${app.url}/messages/export?from=${user}`)).text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(ndjson, await listed(app, `&from=${user}`));
    assert.deepEqual(ndjson.map((m) => [m.message_id, m.type, m.text]), [['wamid.a', undefined, 'hi'], ['wamid.b', 'image', 'a photo'], ['wamid.c', 'reaction', null]]);
    const csv = parseCsv((await (await fetch(`${app.url}/messages/export?format=csv&from=${user}`)).text()).split('\r\n').slice(1).join('\r\n'));
    assert.deepEqual(csv.map((r) => [r[0], r[1], r[4], r[5]]), [['wamid.a', user, 'hi', 'text'], ['wamid.b', user, 'a photo', 'image'], ['wamid.c', user, '', 'reaction']]);
    assert.deepEqual(await erase(app, `/messages?from=${user}`), { status: 200, body: { deleted: 3 } });
    assert.equal(((await getJson(`${app.url}/stats`)).body as { total_messages: number }).total_messages, 0);
  });

  test('limit, offset, cursor, order, an unknown format or a bad filter: 422 naming each; read tokens apply', async (t) => {
    const app = await startApp(t, { readTokens: [READ] });
    const { status, body } = await getJson(`${app.url}/messages/export?limit=5&offset=1&cursor=x&order=desc&format=xml&since=yesterday&from=a&from=b`);
    assert.equal(status, 401);
    assert.deepEqual(body, { detail: 'not authenticated' });
    const res = await fetch(`${app.url}/messages/export?limit=5&offset=1&cursor=x&order=desc&format=xml&since=yesterday&from=a&from=b`, { headers: bearer(READ) });
    assert.equal(res.status, 422);
    const locs = ((await res.json()) as { detail: { loc: string[] }[] }).detail.map((e) => e.loc[1]);
    assert.deepEqual(locs.sort(), ['cursor', 'format', 'from', 'limit', 'offset', 'order', 'since']);
    assert.equal((await fetch(`${app.url}/messages/export?format=csv`, { headers: bearer(READ) })).status, 200);
  });

  test('a reader that stops reading holds the export back; one that leaves, or stalls for good, stops it', async (t) => {
    // Cut by the server after 2 s without progress (60 s in service): a reader that stalls for good.
    const app = await startApp(t, { timeouts: { stalledStreamMs: 2_000 } });
    // About 24 MB of export, more than the socket buffers of both ends can hold: texts of 4,000 emoji (16 KB).
    const big = '😀'.repeat(4000);
    await postAll(app.url, Array.from({ length: 1500 }, (_, i) => message({ message_id: `big${String(i).padStart(5, '0')}`, text: big })));
    const metrics = async (): Promise<string> => (await fetch(`${app.url}/metrics`)).text();
    const ended = async (end: string, n: number): Promise<void> => {
      const line = `exports_finished_total{format="ndjson",end="${end}"} ${n}`;
      await waitFor(async () => (await metrics()).split('\n').includes(line), 10_000);
    };
    // Reads the first chunk of an export, then stops reading.
    const pausedReader = (): Promise<ReturnType<typeof request>> => {
      const req = request({ host: '127.0.0.1', port: new URL(app.url).port, path: '/messages/export' });
      return new Promise((resolve, reject) => {
        req.on('error', () => {});
        req.on('response', (res) => res.once('data', () => (res.pause(), resolve(req))));
        req.on('close', () => reject(new Error('closed before the first chunk')));
        req.end();
      });
    };

    const leaving = await pausedReader();
    await new Promise((r) => setTimeout(r, 1_000));
    let text = await metrics();
    assert.match(text, /^exports_started_total\{format="ndjson"\} 1$/m);
    assert.match(text, /^exports_finished_total\{format="ndjson",end="complete"\} 0$/m, 'held back, not written to the end');
    leaving.destroy();
    await ended('disconnected', 1);
    assert.deepEqual(app.logs.filter((l) => l.path === '/messages/export').map((l) => [l.status, l.stream]), [[200, 'disconnected']]);

    const stalled = await pausedReader();
    t.after(() => stalled.destroy());
    await ended('disconnected', 2);
    text = await metrics();
    assert.match(text, /^exports_finished_total\{format="ndjson",end="complete"\} 0$/m);
    assert.match(text, /^exports_started_total\{format="ndjson"\} 2$/m);
  });
});

/** The app over a store whose scan fails as `scan` says: storage trouble cannot be staged on a real engine mid-read. */
async function appOver(t: TestContext, scan: Store['scan']): Promise<{ url: string; logs: Record<string, unknown>[]; metrics(): Promise<string> }> {
  const logs: Record<string, unknown>[] = [];
  const registry = createRegistry();
  const app = createApp({
    config: { secrets: ['s'], maxBodyBytes: 1024, standardKeys: [], toleranceSeconds: 300, readTokens: [], metricsTokens: [], adminTokens: [], whatsapp: { appSecrets: [], verifyToken: null } },
    store: { scan, load: () => ({ pendingInserts: 0 }), ping: async () => {}, stats: async () => ({ totalMessages: 0 }) } as unknown as Store,
    logger: createLogger({ level: 'DEBUG', sink: (chunk) => chunk.split('\n').filter(Boolean).forEach((l) => logs.push(JSON.parse(l) as Record<string, unknown>)) }),
    registry,
    metrics: createServiceMetrics(registry),
    about: { name: 'x', version: '0' },
  });
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => (app.server.closeAllConnections(), app.server.close(() => resolve()))));
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return { url, logs, metrics: async () => (await fetch(`${url}/metrics`)).text() };
}

describe('GET /messages/export when storage fails', () => {
  const row: Message = { messageId: 'm1', from: '+1', to: '+2', ts: '2025-01-01T00:00:00Z', text: 'x' };

  test('before the first page: the 503 of any read, nothing streamed', async (t) => {
    const app = await appOver(t, async function* () {
      yield* [];
      throw storeUnavailable('database is locked');
    });
    const res = await fetch(`${app.url}/messages/export`);
    assert.deepEqual([res.status, res.headers.get('retry-after'), await res.json()], [503, '1', { detail: 'storage temporarily unavailable, retry later' }]);
    assert.match(await app.metrics(), /^exports_started_total\{format="ndjson"\} 0$/m);
  });

  test('part-way: the connection is cut (the client sees an incomplete body, never a clean end), counted and logged as failed', async (t) => {
    const app = await appOver(t, async function* () {
      yield [row];
      throw new Error('disk I/O error');
    });
    // Cut after the first chunk: the client may have the status line by then, or not; never a whole body.
    const outcome = await fetch(`${app.url}/messages/export?format=csv`).then(
      async (res) => `${res.status} ${await res.text().then(() => 'complete', () => 'cut')}`,
      () => 'cut',
    );
    assert.match(outcome, /^(200 )?cut$/);
    await waitFor(() => app.logs.some((l) => l.path === '/messages/export'));
    const line = app.logs.find((l) => l.path === '/messages/export');
    assert.deepEqual([line?.level, line?.status, line?.stream, line?.error], ['ERROR', 200, 'failed', 'Error: disk I/O error']);
    assert.match(await app.metrics(), /^exports_finished_total\{format="csv",end="failed"\} 1$/m);
  });
});
