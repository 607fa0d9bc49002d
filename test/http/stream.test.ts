// GET /messages/stream through the real server on port 0 (SPEC: live tail): new messages as events in
// arrival order, filters, resume without gap or repeat, bad ids, tokens, the cap, a client that stops
// reading, heartbeats, shutdown. Runs on PostgreSQL too (TEST_ENGINE=postgres, make test-postgres).
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { getJson, message, metric, postSigned, startApp, waitFor } from '../helpers.ts';
import { openStream, type SseClient, type SseEvent } from '../sse.ts';

const messageOf = (e: SseEvent): Record<string, unknown> => JSON.parse(e.data) as Record<string, unknown>;
const idsOf = (events: SseEvent[]): unknown[] => events.map((e) => messageOf(e).message_id);

async function post(url: string, id: string, fields: Record<string, unknown> = {}): Promise<void> {
  const res = await postSigned(url, message({ message_id: id, ...fields }));
  assert.equal(res.status, 200, await res.text());
}

describe('GET /messages/stream', () => {
  test('new messages only, in arrival order (not ts order), each as /messages shows it; heartbeats; listed by GET /', async (t) => {
    const app = await startApp(t, { stream: { heartbeatMs: 100 } });
    await post(app.url, 'before');
    const stream = await openStream(`${app.url}/messages/stream`);
    t.after(() => stream.close());
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(stream.headers.get('cache-control'), 'no-store');
    await post(app.url, 'late', { ts: '2025-06-01T00:00:00Z', text: '<b>hi</b>' });
    await post(app.url, 'early', { ts: '2020-01-01T00:00:00Z', text: null });
    const events = await stream.waitForEvents(2);
    assert.deepEqual(events.map(messageOf), [
      { message_id: 'late', from: '+919876543210', to: '+14155550100', ts: '2025-06-01T00:00:00Z', text: '<b>hi</b>' },
      { message_id: 'early', from: '+919876543210', to: '+14155550100', ts: '2020-01-01T00:00:00Z', text: null },
    ]);
    assert.notEqual(events[0]?.id, events[1]?.id);
    await post(app.url, 'late', { text: 'redelivered' }); // a duplicate is no new message
    await post(app.url, 'third');
    assert.deepEqual(idsOf(await stream.waitForEvents(3)), ['late', 'early', 'third']);
    await waitFor(() => stream.comments.includes('keep-alive'));
    const index = await getJson(`${app.url}/`);
    assert.ok((index.body as { endpoints: { path: string }[] }).endpoints.some((e) => e.path === '/messages/stream'));
    assert.equal(await metric(app.url, 'streams_open'), 1);
    assert.equal(await metric(app.url, 'stream_events_sent_total'), 3);
  });

  test('from and q filter as /messages does (Unicode fold); bad filters are 422 the same way', async (t) => {
    const app = await startApp(t);
    const stream = await openStream(`${app.url}/messages/stream?from=%2B111&q=STRASSE`);
    t.after(() => stream.close());
    await post(app.url, 'other-sender', { from: '+222', text: 'Straße' });
    await post(app.url, 'other-text', { from: '+111', text: 'road' });
    await post(app.url, 'match', { from: '+111', text: 'Hauptstraße 5' });
    assert.deepEqual(idsOf(await stream.waitForEvents(1)), ['match']);
    for (const query of ['from=a&from=b', `q=${'x'.repeat(5000)}`]) {
      const list = await getJson(`${app.url}/messages?${query}`);
      const live = await getJson(`${app.url}/messages/stream?${query}`);
      assert.equal(live.status, 422);
      assert.deepEqual(live.body, list.body);
    }
    assert.equal(stream.events.length, 1);
  });

  test('Last-Event-ID (or ?after=) resumes with no gap and no repeat while messages keep arriving', async (t) => {
    const app = await startApp(t);
    const first = await openStream(`${app.url}/messages/stream`);
    const total = 60;
    const posting = (async () => {
      for (let i = 0; i < total; i += 1) await post(app.url, `m${String(i).padStart(3, '0')}`);
    })();
    const seen: SseEvent[] = [...(await first.waitForEvents(10, 10_000))];
    first.close();
    // Twice more, by header and by query, each cut off part-way while messages arrive.
    const second = await openStream(`${app.url}/messages/stream`, { 'last-event-id': seen.at(-1)?.id ?? '' });
    seen.push(...(await second.waitForEvents(10, 10_000)));
    second.close();
    const third = await openStream(`${app.url}/messages/stream?after=${encodeURIComponent(seen.at(-1)?.id ?? '')}`);
    t.after(() => third.close());
    await posting;
    seen.push(...(await third.waitForEvents(total - 20, 10_000)));
    assert.deepEqual(idsOf(seen), Array.from({ length: total }, (_, i) => `m${String(i).padStart(3, '0')}`));
  });

  test('streams resuming from older ids catch up while messages arrive, then follow with the others: no gap, no repeat', async (t) => {
    const app = await startApp(t);
    const watcher = await openStream(`${app.url}/messages/stream`);
    t.after(() => watcher.close());
    const total = 400;
    const ids = Array.from({ length: total }, (_, i) => `r${String(i).padStart(3, '0')}`);
    const posting = (async () => {
      // Four at a time: rows keep arriving while the late streams read their way back.
      for (let i = 0; i < total; i += 4) await Promise.all(ids.slice(i, i + 4).map((id) => post(app.url, id)));
    })();
    const seen = await watcher.waitForEvents(180, 20_000);
    // One more than a read behind, and a few behind: both reach the shared position while it moves.
    const late = await Promise.all([0, 170].map((i) => openStream(`${app.url}/messages/stream`, { 'last-event-id': seen[i]?.id ?? '' })));
    for (const s of late) t.after(() => s.close());
    await posting;
    await watcher.waitForEvents(total, 20_000);
    assert.deepEqual(idsOf(watcher.events), ids);
    const [far, near] = late as [typeof watcher, typeof watcher];
    await far.waitForEvents(total - 1, 20_000);
    await near.waitForEvents(total - 171, 20_000);
    assert.deepEqual(idsOf(far.events), ids.slice(1));
    assert.deepEqual(idsOf(near.events), ids.slice(171));
    assert.deepEqual(far.events.map((e) => e.id), watcher.events.slice(1).map((e) => e.id));
    // Nothing more comes (no repeat at the end either).
    const counts = [watcher, far, near].map((s) => s.events.length);
    await post(app.url, 'last');
    for (const [i, s] of [watcher, far, near].entries()) {
      await s.waitForEvents((counts[i] ?? 0) + 1);
      assert.deepEqual(idsOf(s.events.slice(counts[i])), ['last']);
    }
  });

  test('a client that pauses while many messages arrive gets every one in order once it reads again', async (t) => {
    const app = await startApp(t, { stream: { drainMs: 10_000 } });
    const { port } = new URL(app.url);
    let text = '';
    const paused = await new Promise<IncomingMessage>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/messages/stream' }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        resolve(res);
      });
      req.end();
    });
    t.after(() => paused.destroy());
    await waitFor(() => text.includes('stream open'));
    paused.pause();
    const watcher = await openStream(`${app.url}/messages/stream`);
    t.after(() => watcher.close());
    // 8 MB: more than the socket buffers and what a stream holds for a client that does not read, so
    // the stream leaves the follower and has to read its way back.
    const big = 'x'.repeat(4000);
    const ids = Array.from({ length: 2000 }, (_, i) => `p${String(i).padStart(4, '0')}`);
    for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => post(app.url, id, { text: big })));
    await watcher.waitForEvents(ids.length, 20_000);
    paused.resume();
    const received = (): string[] => [...text.matchAll(/^data: (.*)\n/gm)].map((m) => String((JSON.parse(m[1] ?? '') as { message_id: string }).message_id));
    await waitFor(() => received().length >= ids.length, 20_000);
    assert.deepEqual(received(), ids);
    assert.equal(await metric(app.url, 'stream_clients_dropped_total{reason="too_slow"}'), 0);
  });

  test('an event id the service did not issue is 422, by header or by query', async (t) => {
    const app = await startApp(t);
    await post(app.url, 'one');
    for (const [headers, query] of [
      [{ 'last-event-id': 'nonsense' }, ''],
      [{}, '?after=99999999999'],
      [{}, '?after=-1'],
      [{}, '?after=1&after=2'],
    ] as const) {
      const res = await fetch(`${app.url}/messages/stream${query}`, { headers });
      assert.equal(res.status, 422, `${JSON.stringify(headers)} ${query}`);
      const body = (await res.json()) as { detail: { loc: string[]; type: string }[] };
      assert.ok(['event_id_invalid', 'duplicate_parameter'].includes(body.detail[0]?.type ?? ''), JSON.stringify(body));
    }
  });

  test('read tokens apply as for /messages', async (t) => {
    const app = await startApp(t, { readTokens: ['reader-token-0123456789'] });
    assert.equal((await fetch(`${app.url}/messages/stream`)).status, 401);
    assert.equal((await fetch(`${app.url}/messages/stream`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
    const stream = await openStream(`${app.url}/messages/stream`, { authorization: 'Bearer reader-token-0123456789' });
    t.after(() => stream.close());
    assert.equal(stream.status, 200);
    await post(app.url, 'secret');
    assert.deepEqual(idsOf(await stream.waitForEvents(1)), ['secret']);
  });

  test('above the cap new streams get 503 (counted); a closed stream frees its place', async (t) => {
    const app = await startApp(t, { stream: { maxStreams: 2 } });
    const a = await openStream(`${app.url}/messages/stream`);
    const b = await openStream(`${app.url}/messages/stream`);
    t.after(() => (a.close(), b.close()));
    await waitFor(async () => (await metric(app.url, 'streams_open')) === 2);
    const refused = await fetch(`${app.url}/messages/stream`);
    assert.equal(refused.status, 503);
    assert.ok(refused.headers.get('retry-after'));
    assert.equal(await metric(app.url, 'stream_clients_dropped_total{reason="over_capacity"}'), 1);
    a.close();
    await waitFor(async () => (await metric(app.url, 'streams_open')) === 1);
    const c = await openStream(`${app.url}/messages/stream`);
    t.after(() => c.close());
    assert.equal(c.status, 200);
  });

  test('streams asked for at once never pass the cap together', async (t) => {
    const app = await startApp(t, { stream: { maxStreams: 2 } });
    const streams = await Promise.all(Array.from({ length: 6 }, () => openStream(`${app.url}/messages/stream`)));
    t.after(() => streams.forEach((s) => s.close()));
    assert.deepEqual(streams.map((s) => s.status).sort(), [200, 200, 503, 503, 503, 503]);
  });

  test('a client that leaves before the stream has answered does not hold a stream open until its next heartbeat', async (t) => {
    const app = await startApp(t, { stream: { heartbeatMs: 60_000 } });
    // The request and the client's end of the connection in one go: the service reads both before it
    // has answered, as when a page calls its stream off at once.
    const socket = connect(Number(new URL(app.url).port), '127.0.0.1', () => socket.end('GET /messages/stream HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => {});
    socket.resume();
    t.after(() => socket.destroy());
    await waitFor(async () => (await metric(app.url, 'http_requests_total{path="/messages/stream",status="200"}')) === 1, 5_000, 'the stream was never answered');
    await waitFor(async () => (await metric(app.url, 'streams_open')) === 0, 5_000, 'the stream stayed open after its client left');
  });

  test('a client that never reads is disconnected once its socket stays full (counted); others go on', async (t) => {
    const app = await startApp(t, { stream: { drainMs: 200 } });
    const { port } = new URL(app.url);
    const stuck = connect(Number(port), '127.0.0.1');
    t.after(() => stuck.destroy());
    stuck.write(`GET /messages/stream HTTP/1.1\r\nHost: x\r\n\r\n`);
    stuck.pause(); // never reads: the kernel's buffers fill, then the server's
    const reader = await openStream(`${app.url}/messages/stream`);
    t.after(() => reader.close());
    await waitFor(async () => (await metric(app.url, 'streams_open')) === 2);
    const text = 'x'.repeat(4000);
    let sent = 0;
    while ((await metric(app.url, 'stream_clients_dropped_total{reason="too_slow"}')) === 0) {
      assert.ok(sent < 20_000, 'the stuck client was never dropped');
      await Promise.all(Array.from({ length: 50 }, (_, i) => post(app.url, `bulk-${sent + i}`, { text })));
      sent += 50;
    }
    await waitFor(async () => (await metric(app.url, 'streams_open')) === 1);
    await reader.waitForEvents(sent, 20_000);
    assert.equal(new Set(idsOf(reader.events)).size, sent);
  });

  test('shutdown ends every stream at once; the service stops well inside the grace', async (t) => {
    const app = await startApp(t, { graceMs: 8_000 });
    const stream = await openStream(`${app.url}/messages/stream`);
    await post(app.url, 'one');
    await stream.waitForEvents(1);
    const started = Date.now();
    await app.shutdown();
    await stream.ended;
    assert.ok(Date.now() - started < 3_000, `shutdown took ${Date.now() - started} ms`);
  });
});

// The filters against GET /messages': the events a filtered stream sends are exactly the messages
// /messages lists for the same filter, for texts where case folding, normalisation and NUL make the rule
// easy to get wrong. Both ways a stream reads: following new rows (matched by the service as they pass)
// and catching up after an older id (matched by the store).
const TEXTS = [
  'Hauptstraße 5',
  'STRASSE',
  'Ϊ́ decomposed',
  'ΐ composed',
  'ﬃ ligature',
  'İstanbul',
  'ıslak',
  'ΣΊΣΥΦΟΣ',
  'ᏣᎳᎩ',
  'ꮳꮃꭹ',
  'a\u0000b',
  'NUL\u0000CASE',
  '\u0001x',
  'café',
  'cafe\u0301',
  '👍 ok',
  '100% _done_',
  null,
];
const QUERIES = ['STRASSE', 'ss', 'ΐ', 'FFI', 'İ', 'ı', 'i', 'σ', 'ς', 'Ꮳ', 'ꮳ', '\u0000', 'l\u0000c', '\u0001', 'CAFÉ', 'e\u0301', '👍', '%', '_d', 'x'];
const SENDERS = ['+911', '+922'];

describe('GET /messages/stream filters agree with GET /messages', () => {
  test('for every q (non-ASCII, NUL, wildcards) and from, following new rows and catching up alike', async (t) => {
    const app = await startApp(t);
    const filters: { q?: string; from?: string }[] = [...QUERIES.map((q) => ({ q })), { from: SENDERS[1] as string }, { from: SENDERS[0] as string, q: 'ss' }];
    const query = (f: { q?: string; from?: string }): string => new URLSearchParams(f).toString();
    const all = await openStream(`${app.url}/messages/stream`);
    t.after(() => all.close());
    // Matches no filter; the streams that catch up resume after it.
    assert.equal((await postSigned(app.url, message({ message_id: 'zero', from: SENDERS[0], text: 'zero' }))).status, 200);
    const start = (await all.waitForEvents(1))[0]?.id ?? '';
    const live = await Promise.all(filters.map((f) => openStream(`${app.url}/messages/stream?${query(f)}`)));
    for (const s of live) t.after(() => s.close());
    // Every message in the order of its ts too, so the listing's order is the stream's.
    const posted = TEXTS.flatMap((text, i) => SENDERS.map((from, j) => ({ message_id: `m${i}-${j}`, from, text, ts: `2025-01-01T00:${String(i).padStart(2, '0')}:0${j}Z` })));
    // Last, a text holding every q: each stream's last event, so none is still waiting for one.
    posted.push({ message_id: 'sentinel', from: SENDERS[0] as string, text: QUERIES.join(' | '), ts: '2025-01-02T00:00:00Z' });
    for (const m of posted) assert.equal((await postSigned(app.url, message(m))).status, 200);
    await all.waitForEvents(posted.length + 1);

    const resumed = await Promise.all(filters.map((f) => openStream(`${app.url}/messages/stream?${query(f)}&after=${encodeURIComponent(start)}`)));
    for (const s of resumed) t.after(() => s.close());
    const listed = async (f: { q?: string; from?: string }): Promise<string[]> => {
      const { status, body } = await getJson(`${app.url}/messages?limit=100&${query(f)}`);
      assert.equal(status, 200);
      return (body as { data: { message_id: string }[] }).data.map((m) => m.message_id);
    };
    for (const [i, f] of filters.entries()) {
      const expected = await listed(f);
      if (f.from === undefined || f.q !== undefined) assert.equal(expected.at(-1), 'sentinel', JSON.stringify(f));
      for (const [how, stream] of [['following', live[i]], ['catching up', resumed[i]]] as const) {
        await waitFor(() => idsOf((stream as SseClient).events).includes(expected.at(-1) ?? ''), 10_000).catch(() => {});
        assert.deepEqual(idsOf((stream as SseClient).events), expected, `${how} ${JSON.stringify(f)}`);
      }
    }
    // Not a vacuous agreement: the folding cases match what they should.
    assert.ok((await listed({ q: 'STRASSE' })).includes('m0-0'), 'ß folds to ss');
    assert.ok((await listed({ q: 'ΐ' })).includes('m2-0'), 'a decomposed text matches its composed q');
    assert.ok((await listed({ q: 'l\u0000c' })).includes('m11-1'), 'a NUL matches inside a text');
  });
});
