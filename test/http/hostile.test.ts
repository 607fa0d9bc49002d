import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { message, postSigned, startApp, useApp } from '../helpers.ts';
import { rawRequest } from '../raw-http.ts';

const portOf = (url: string): number => Number(new URL(url).port);

/** Series (name and labels, without the value) of a /metrics page. */
async function series(url: string): Promise<Set<string>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return new Set(
    text
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.slice(0, l.lastIndexOf(' ')))
      // Process gauges come and go with the runtime, not with requests.
      .filter((l) => l.startsWith('http_') || l.startsWith('webhook_')),
  );
}

describe('hostile clients', () => {
  const app = useApp({ logLevel: 'INFO' });

  test('1,000 requests to random paths add no metrics series', async () => {
    // The one shared `unmatched` series and the /metrics series itself exist from here on. A label taken
    // from the raw URL would add a series with the first request already; 1,000 make the point.
    await fetch(`${app().url}/no-such-path`);
    await series(app().url);
    const before = await series(app().url);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < 1_000) {
        const i = next++;
        const path = `/${i.toString(36)}/${Math.random().toString(36).slice(2)}?x=${i}`;
        const res = await fetch(`${app().url}${path}`, { headers: { 'x-request-id': `scan-${i}` } });
        assert.equal(res.status, 404);
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    assert.deepEqual([...(await series(app().url))].sort(), [...before].sort());
  });

  test('a malicious X-Request-ID (10 KB, control or non-ASCII bytes) is replaced, never echoed or logged', async () => {
    const values = ['z'.repeat(10_240), 'evil\tid', 'caf\u00e9-id', 'a\u007fb', 'nul\u0000id', 'cr\rid'];
    for (const value of values) {
      const res = await rawRequest(
        portOf(app().url),
        Buffer.from(`GET /health/live HTTP/1.1\r\nHost: x\r\nX-Request-ID: ${value}\r\nConnection: close\r\n\r\n`, 'latin1'),
      );
      assert.ok(res, JSON.stringify(value));
      const echoed = res.headers.get('x-request-id')?.[0] ?? '';
      if (res.status === 200) assert.match(echoed, /^[0-9a-f-]{36}$/, JSON.stringify(value));
      else assert.equal(res.status, 400); // bytes HTTP itself forbids never reach the service
      assert.ok(!app().logged(value.slice(0, 40)), `logged: ${JSON.stringify(value)}`);
    }
  });

  test('an HTTP/1.1 request without Host gets a JSON 400, not an empty one', async () => {
    const res = await rawRequest(portOf(app().url), 'GET /health/live HTTP/1.1\r\n\r\n');
    assert.equal(res?.status, 400);
    assert.equal(res.headers.get('content-type')?.[0], 'application/json');
    assert.deepEqual(JSON.parse(res.body.toString()), { detail: 'missing Host header' });
    assert.equal((await rawRequest(portOf(app().url), 'GET /health/live HTTP/1.0\r\n\r\n'))?.status, 200);
  });

  test('CONNECT gets a JSON 405 instead of a dropped connection', async () => {
    const res = await rawRequest(portOf(app().url), 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.ok(res, 'the connection was dropped without an answer');
    assert.equal(res.status, 405);
    assert.deepEqual(JSON.parse(res.body.toString()), { detail: 'method not allowed' });
    // As every 405: the methods the server does serve, and a request id that its log line carries.
    assert.equal(res.headers.get('allow')?.[0], 'DELETE, GET, HEAD, POST');
    const id = res.headers.get('x-request-id')?.[0] ?? '';
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.ok(app().logs.some((l) => l.request_id === id && l.status === 405 && l.method === 'CONNECT'));
  });

  test('a request target in absolute form (as sent through a proxy) is routed by its path', async () => {
    const live = await rawRequest(portOf(app().url), 'GET http://127.0.0.1/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal(live?.status, 200);
    const page = await rawRequest(portOf(app().url), 'GET HTTP://example.com:80/messages?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(page?.status, 200);
    assert.equal((JSON.parse(page.body.toString()) as { limit: number }).limit, 1);
    const root = await rawRequest(portOf(app().url), 'GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(root?.status, (await fetch(`${app().url}/`)).status);
  });

  test('a lone surrogate in message_id or text is a 422, not stored as U+FFFD', async () => {
    // SQLite would store "\ud800" and "\udfff" both as U+FFFD: altered, and colliding as duplicates.
    for (const fields of [{ message_id: '\ud800' }, { message_id: 'ok-id', text: 'a\udfffb' }]) {
      const res = await postSigned(app().url, JSON.stringify(message(fields)));
      assert.equal(res.status, 422);
      const body = (await res.json()) as { detail: { type: string }[] };
      assert.deepEqual(body.detail.map((d) => d.type), ['string_unicode']);
    }
  });
});

test('refused sockets kept open by their client do not hold up shutdown', async (t) => {
  const app = await startApp(t, { graceMs: 200 });
  // Read the answer but never close: the server must still let go of these sockets.
  const held = ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 'GARBAGE\r\n\r\n'].map(
    (bytes) =>
      new Promise<Socket>((resolve) => {
        const s = connect(portOf(app.url), '127.0.0.1', () => s.write(bytes));
        s.on('error', () => {});
        s.allowHalfOpen = true;
        s.once('data', () => resolve(s));
      }),
  );
  const sockets = await Promise.all(held);
  t.after(() => sockets.forEach((s) => s.destroy()));
  const started = Date.now();
  const outcome = await Promise.race([app.shutdown().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), 5_000))]);
  assert.equal(outcome, 'stopped');
  assert.ok(Date.now() - started < 3_000);
});

describe('slow clients', () => {
  test('hundreds of trickling connections do not slow normal requests, and are closed at the timeouts', async (t) => {
    const timeouts = { headersMs: 1_000, requestMs: 2_000, checkIntervalMs: 200 };
    const app = await startApp(t, { timeouts, logLevel: 'ERROR' });
    const port = portOf(app.url);

    const latency = async (n: number): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        assert.equal((await postSigned(app.url, message({ message_id: `normal-${Math.random()}` }))).status, 200);
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[Math.floor(n * 0.95)] ?? Infinity;
    };
    const baseline = await latency(30);

    // Half trickle their headers, half declare a body and trickle it: one byte every 100 ms.
    const closedAt: number[] = [];
    const started = Date.now();
    const sockets: Socket[] = Array.from({ length: 300 }, (_, i) => {
      const s = connect(port, '127.0.0.1');
      const head =
        i % 2 === 0 ? 'GET /stats HTTP/1.1\r\nHost: x\r\nX-Slow: ' : 'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n{';
      s.on('connect', () => s.write(head));
      s.on('error', () => {});
      s.resume(); // read the server's answer and FIN, or 'close' never comes
      s.on('close', () => closedAt.push(Date.now() - started));
      const timer = setInterval(() => s.writable && s.write('a'), 100);
      s.on('close', () => clearInterval(timer));
      return s;
    });
    t.after(() => sockets.forEach((s) => s.destroy()));
    await new Promise((r) => setTimeout(r, 300));
    const during = await latency(30);
    t.diagnostic(`p95 latency: ${baseline.toFixed(1)} ms alone, ${during.toFixed(1)} ms beside 300 trickling connections`);
    // Generous: this machine is shared; a blocked server would take seconds, not tens of milliseconds.
    assert.ok(during < Math.max(250, baseline * 10), `p95 ${during} ms beside slow clients, ${baseline} ms alone`);

    const deadline = timeouts.requestMs + 4 * timeouts.checkIntervalMs + 2_000;
    while (closedAt.length < sockets.length && Date.now() - started < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(closedAt.length, sockets.length, `the server closed only ${closedAt.length} of ${sockets.length}`);
    t.diagnostic(`all ${sockets.length} closed by ${Math.max(...closedAt)} ms (headers timeout ${timeouts.headersMs}, request ${timeouts.requestMs})`);
  });

  test('a header flood is refused at the header limit, before it is all sent', async (t) => {
    const app = await startApp(t);
    const res = await rawRequest(portOf(app.url), `GET /stats HTTP/1.1\r\n${'X-Pad: p\r\n'.repeat(200_000)}\r\n`);
    assert.equal(res?.status, 431);
  });
});
