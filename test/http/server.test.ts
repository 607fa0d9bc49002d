import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { sign } from '../../src/domain/signature.ts';
import { rawRequest } from '../raw-http.ts';
import { getJson, message, postSigned, SECRET, startApp, STREAM_LIMIT, streamUntilAnswered, useApp, waitFor } from '../helpers.ts';

/** Sends raw bytes and resolves with everything the server wrote before closing. */
function rawExchange(url: string, bytes: string, opts: { end?: boolean; timeoutMs?: number } = {}): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d.toString()));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(opts.timeoutMs ?? 10_000, () => {
      socket.destroy();
      reject(new Error(`no close within ${opts.timeoutMs ?? 10_000} ms; got ${JSON.stringify(out)}`));
    });
    socket.write(bytes);
    if (opts.end) socket.end();
  });
}

describe('HTTP layer', () => {
  const app = useApp();

  test('unknown paths get a JSON 404', async () => {
    for (const path of ['/nope', '/messages/', '/webhook/x', '/%00', '/..%2f..%2fetc/passwd']) {
      const res = await fetch(`${app().url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.deepEqual(await res.json(), { detail: 'not found' });
    }
  });

  test('a wrong method gets a JSON 405 with Allow', async () => {
    const get = await fetch(`${app().url}/webhook`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.deepEqual(await get.json(), { detail: 'method not allowed' });
    const post = await fetch(`${app().url}/messages`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, DELETE, HEAD');
  });

  test('a large body sent to a route that takes none is not read to the end', async () => {
    const result = await streamUntilAnswered(app().url, '/messages');
    assert.equal(result.status, 405);
    assert.ok(result.sent < STREAM_LIMIT, `server read ${result.sent} bytes`);
    const unknown = await streamUntilAnswered(app().url, '/no-such-path');
    assert.equal(unknown.status, 404);
    assert.ok(unknown.sent < STREAM_LIMIT);
  });

  test('HEAD is answered like GET without a body', async () => {
    const res = await fetch(`${app().url}/stats`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
    const got = await fetch(`${app().url}/stats`);
    assert.equal(res.headers.get('content-length'), String((await got.arrayBuffer()).byteLength));
    // A streamed answer's length is not known ahead: HEAD gives its type and no length.
    for (const path of ['/messages/export', '/messages/export?format=csv']) {
      const head = await fetch(`${app().url}${path}`, { method: 'HEAD' });
      const get = await fetch(`${app().url}${path}`);
      assert.equal(head.status, 200, path);
      assert.equal(head.headers.get('content-type'), get.headers.get('content-type'), path);
      assert.equal(head.headers.get('content-length'), null, path);
      assert.equal(await head.text(), '');
      await get.text();
    }
  });

  test('a well-formed X-Request-ID is echoed and logged; a malformed one is replaced', async () => {
    const good = await fetch(`${app().url}/health/live`, { headers: { 'x-request-id': 'trace-123_abc' } });
    assert.equal(good.headers.get('x-request-id'), 'trace-123_abc');
    assert.ok(app().logs.some((l) => l.request_id === 'trace-123_abc' && l.path === '/health/live'));

    for (const bad of ['has space', 'x'.repeat(129), 'tab\there']) {
      const res = await fetch(`${app().url}/health/live`, { headers: { 'x-request-id': bad } });
      const echoed = res.headers.get('x-request-id') ?? '';
      assert.notEqual(echoed, bad);
      assert.match(echoed, /^[0-9a-f-]{36}$/);
      assert.ok(!app().logged(bad.slice(0, 100)), `logged: ${JSON.stringify(bad)}`);
    }
  });

  test('an expectation other than 100-continue is ignored: the request is answered, logged and counted as any other', async () => {
    const before = app().logs.length;
    const res = await rawRequest(Number(new URL(app().url).port), 'GET /messages?limit=1 HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nX-Request-ID: expect-foo\r\nConnection: close\r\n\r\n');
    assert.equal(res?.status, 200);
    assert.deepEqual(res.headers.get('x-request-id'), ['expect-foo']);
    assert.equal(JSON.parse(res.body.toString()).total, 0);
    assert.equal(app().logs.slice(before).filter((l) => l.request_id === 'expect-foo' && l.status === 200).length, 1);
  });

  test('every request gets one access-log line with the contract fields', async () => {
    const before = app().logs.length;
    await fetch(`${app().url}/messages?limit=1`, { headers: { 'x-request-id': 'one-line' } });
    const lines = app().logs.slice(before).filter((l) => l.request_id === 'one-line');
    assert.equal(lines.length, 1);
    const line = lines[0] ?? {};
    for (const key of ['ts', 'level', 'request_id', 'method', 'path', 'status', 'latency_ms']) assert.ok(key in line, key);
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/messages');
    assert.equal(line.status, 200);
    assert.equal(typeof line.latency_ms, 'number');
    assert.match(String(line.ts), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test('malformed HTTP gets a JSON 400 and the connection is closed; its log line has every request field', async () => {
    const out = await rawExchange(app().url, 'GARBAGE\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 400 /);
    assert.match(out, /\{"detail":"bad request"\}$/);
    const id = /x-request-id: (\S+)/i.exec(out)?.[1];
    const line = app().logs.find((l) => l.request_id === id);
    assert.deepEqual(line && [line.method, line.path, line.status, line.latency_ms], [null, null, 400, 0]);
  });

  test('a client that resets an idle keep-alive connection is no request: no log line, no count', async (t) => {
    const app = await startApp(t);
    const socket = connect(Number(new URL(app.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    socket.resetAndDestroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(app.logs.filter((l) => l.msg === 'client error'), []);
    assert.doesNotMatch(await (await fetch(`${app.url}/metrics`)).text(), /^http_requests_total\{path="unmatched"/m);
  });

  test('oversized headers get 431', async () => {
    const out = await rawExchange(app().url, `GET /stats HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 431 /);
  });

  test('a client that half-closes once its request is sent still gets the answer, and the row its 200 stands for', async () => {
    const body = JSON.stringify(message({ message_id: 'half-closed' }));
    const raw = `POST /webhook HTTP/1.1\r\nHost: x\r\nX-Signature: ${sign(body, SECRET)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const res = await rawRequest(Number(new URL(app().url).port), raw, { halfClose: true });
    assert.equal(res?.status, 200);
    assert.deepEqual(JSON.parse(res?.body.toString() ?? ''), { status: 'ok' });
    const listed = (await getJson(`${app().url}/messages`)).body as { data: { message_id: string }[] };
    assert.ok(listed.data.some((m) => m.message_id === 'half-closed'));
  });

  test('the server keeps answering after every kind of bad request', async (t) => {
    const own = await startApp(t);
    const port = Number(new URL(own.url).port);
    const bad = [
      'GARBAGE\r\n\r\n',
      `GET /stats HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'GET /health/live HTTP/1.1\r\n\r\n',
      'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{"a"',
      'CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    ];
    for (const bytes of bad) await rawExchange(own.url, bytes, { end: true });
    assert.equal((await fetch(`${own.url}/nope`)).status, 404);
    assert.equal((await getJson(`${own.url}/health/live`)).status, 200);
    assert.equal((await postSigned(own.url, message({ message_id: 'after-bad' }))).status, 200);
  });
});

describe('stalled clients', () => {
  test('a client that never finishes its headers is cut off at the headers timeout', async (t) => {
    const app = await startApp(t, { timeouts: { headersMs: 300, requestMs: 600, checkIntervalMs: 100 } });
    const started = Date.now();
    const out = await rawExchange(app.url, 'POST /webhook HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 5_000 });
    assert.ok(Date.now() - started < 3_000);
    assert.match(out, /^HTTP\/1\.1 408 /);
    assert.match(out, /\{"detail":"request timeout"\}$/);
  });

  test('a request cut off mid-body is answered 408 under its own id, logged and counted once, on its route', async (t) => {
    const app = await startApp(t, { timeouts: { headersMs: 300, requestMs: 600, checkIntervalMs: 100 } });
    const out = await rawExchange(app.url, 'POST /webhook HTTP/1.1\r\nHost: x\r\nX-Request-ID: stall-1\r\nContent-Length: 100\r\n\r\n{"mess', {
      timeoutMs: 5_000,
    });
    assert.match(out, /^HTTP\/1\.1 408 /);
    assert.match(out, /\r\nX-Request-ID: stall-1\r\n/i);
    await waitFor(() => app.logs.some((l) => l.request_id === 'stall-1'));
    // Its own line only: no second line for the client's end of the connection, no phantom 400.
    await new Promise((r) => setTimeout(r, 300));
    const lines = app.logs.filter((l) => l.msg === 'request' || l.msg === 'client error');
    assert.deepEqual(
      lines.map((l) => [l.request_id, l.path, l.status, l.result]),
      [['stall-1', '/webhook', 408, 'incomplete_body']],
    );
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    assert.match(metrics, /^http_requests_total\{path="\/webhook",status="408"\} 1$/m);
    assert.doesNotMatch(metrics, /^http_requests_total\{path="(\/webhook|unmatched)",status="400"\}/m);
    assert.match(metrics, /^webhook_requests_total\{result="incomplete_body"\} 1$/m);
  });

  test('headers cut off at the headers timeout make one log line and one count, however the client then closes', async (t) => {
    const app = await startApp(t, { timeouts: { headersMs: 300, requestMs: 600, checkIntervalMs: 100 } });
    const out = await rawExchange(app.url, 'POST /webhook HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 5_000 });
    assert.match(out, /^HTTP\/1\.1 408 /);
    await new Promise((r) => setTimeout(r, 300));
    const errors = app.logs.filter((l) => l.msg === 'client error');
    assert.deepEqual(errors.map((l) => l.status), [408]);
    assert.match(String(errors[0]?.request_id), /^[0-9a-f-]{36}$/);
    assert.match(out, new RegExp(`\r\nX-Request-ID: ${String(errors[0]?.request_id)}\r\n`, 'i'));
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    assert.match(metrics, /^http_requests_total\{path="unmatched",status="408"\} 1$/m);
    assert.doesNotMatch(metrics, /status="400"/);
  });

  test('a request pipelined behind an answer that closes the connection is not run: nothing stored without its 200', async (t) => {
    const app = await startApp(t);
    const body = JSON.stringify(message({ message_id: 'pipelined' }));
    const post = `POST /webhook HTTP/1.1\r\nHost: x\r\nX-Signature: ${sign(body, SECRET)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    // No Host: answered 400 with Connection: close, the POST already sent behind it.
    const first = await rawRequest(Number(new URL(app.url).port), `GET /health/live HTTP/1.1\r\n\r\n${post}`);
    assert.equal(first?.status, 400);
    // A request after it on a fresh connection is answered after anything the POST would have stored.
    assert.equal((await postSigned(app.url, message({ message_id: 'after' }))).status, 200);
    const listed = (await getJson(`${app.url}/messages`)).body as { data: { message_id: string }[] };
    assert.deepEqual(listed.data.map((m) => m.message_id), ['after']);
    assert.ok(!app.logs.some((l) => l.path === '/webhook' && l.message_id === 'pipelined'));
  });

  test('bad bytes after a whole signed POST: the POST still gets its true 200, then the connection closes', async (t) => {
    const app = await startApp(t);
    const body = JSON.stringify(message({ message_id: 'then-garbage' }));
    const head = `POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Signature: ${sign(body, SECRET)}\r\n`;
    const out = await rawExchange(app.url, `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}GARBAGE\r\n\r\n`, {
      timeoutMs: 5_000,
    });
    assert.match(out, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(out, /HTTP\/1\.1 400/);
    const page = (await (await fetch(`${app.url}/messages`)).json()) as { data: { message_id: string }[] };
    assert.deepEqual(page.data.map((m) => m.message_id), ['then-garbage']);
    // The bytes got no answer, so no 400 is counted or logged as one; the line says why the connection closed.
    assert.doesNotMatch(await (await fetch(`${app.url}/metrics`)).text(), /status="400"/);
    assert.ok(app.logs.some((l) => String(l.msg).startsWith('bad bytes after a request') && l.status === undefined));
  });

  test('a client that stalls mid-body is cut off at the request timeout, and others are still served', async (t) => {
    const app = await startApp(t, { timeouts: { headersMs: 300, requestMs: 600, checkIntervalMs: 100 } });
    const stalled = rawExchange(app.url, 'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"mess', {
      timeoutMs: 5_000,
    });
    const res = await postSigned(app.url, message());
    assert.equal(res.status, 200);
    const out = await stalled;
    assert.match(out, /^HTTP\/1\.1 408 /);
  });
});
