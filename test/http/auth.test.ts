// Read access with READ_TOKENS and METRICS_TOKEN, through the real server.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isLoopback } from '../../src/http/auth.ts';
import { message, postSigned, startApp, useApp } from '../helpers.ts';
import { rawRequest } from '../raw-http.ts';

const CURRENT = 'read-token-current-7f3a';
const ROTATED = 'read-token-previous-91bc';
const SCRAPE = 'metrics-token-2d4e';

async function get(url: string, authorization?: string, method = 'GET'): Promise<{ status: number; body: string; challenge: string | null }> {
  const res = await fetch(url, { method, headers: authorization === undefined ? {} : { authorization } });
  return { status: res.status, body: await res.text(), challenge: res.headers.get('www-authenticate') };
}

const DENIED = { status: 401, body: '{"detail":"not authenticated"}', challenge: 'Bearer' };

describe('READ_TOKENS guards GET /messages and GET /stats', () => {
  const app = useApp({ readTokens: [CURRENT, ROTATED] });

  test('no, wrong, malformed or other-scheme credentials: 401 with WWW-Authenticate: Bearer', async () => {
    for (const path of ['/messages', '/stats']) {
      const refused = [
        undefined,
        '',
        'Bearer',
        'Bearer ',
        `Bearer ${CURRENT}x`,
        `Bearer ${CURRENT.slice(0, -1)}`,
        `Basic ${CURRENT}`,
        CURRENT,
        `Bearer ${CURRENT} ${ROTATED}`,
      ];
      for (const authorization of refused) {
        assert.deepEqual(await get(`${app().url}${path}`, authorization), DENIED, `${path} ${authorization}`);
      }
      const head = await get(`${app().url}${path}`, undefined, 'HEAD');
      assert.deepEqual([head.status, head.challenge], [401, 'Bearer']);
    }
  });

  test('two Authorization headers -> 400 on every endpoint, whichever comes first (a proxy may read the other)', async () => {
    const port = Number(new URL(app().url).port);
    for (const [method, path] of [['GET', '/messages'], ['GET', '/stats'], ['GET', '/metrics'], ['GET', '/health/live'], ['POST', '/webhook']]) {
      for (const [first, second] of [[`Bearer ${CURRENT}`, 'Bearer wrong'], ['Bearer wrong', `Bearer ${CURRENT}`], [`Bearer ${CURRENT}`, `Bearer ${CURRENT}`]]) {
        const res = await rawRequest(
          port,
          `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${first}\r\nauthorization: ${second}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
        );
        assert.equal(res?.status, 400, `${method} ${path}`);
        assert.deepEqual(JSON.parse(res.body.toString()), { detail: 'more than one Authorization header' });
      }
    }
    const one = await rawRequest(port, `GET /stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${CURRENT}\r\nConnection: close\r\n\r\n`);
    assert.equal(one?.status, 200);
  });

  test('the current and the rotated token both open them; the scheme name is case-insensitive', async () => {
    assert.equal((await postSigned(app().url, message())).status, 200);
    for (const authorization of [`Bearer ${CURRENT}`, `Bearer ${ROTATED}`, `bearer ${CURRENT}`]) {
      const messages = await get(`${app().url}/messages`, authorization);
      assert.equal(messages.status, 200, authorization);
      assert.equal((JSON.parse(messages.body) as { total: number }).total, 1);
      assert.equal((await get(`${app().url}/stats`, authorization)).status, 200);
    }
  });

  test('health probes, /metrics (no METRICS_TOKEN), / and /openapi.json stay open', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics', '/', '/openapi.json']) {
      assert.equal((await get(`${app().url}${path}`)).status, 200, path);
    }
  });

  test('failures are counted per endpoint; tokens never reach the logs', async () => {
    const before = await metricsText(app().url);
    await get(`${app().url}/stats`, 'Bearer wrong-token-5150');
    await get(`${app().url}/stats`);
    await get(`${app().url}/messages`, `Bearer ${CURRENT}`);
    const after = await metricsText(app().url);
    assert.equal(counter(after, 'stats') - counter(before, 'stats'), 2);
    assert.equal(counter(after, 'messages') - counter(before, 'messages'), 0);
    assert.match(after, /^auth_failures_total\{endpoint="metrics"\} 0$/m);
    for (const token of [CURRENT, ROTATED, 'wrong-token-5150']) assert.ok(!app().logged(token), token);
    const refused = app().logs.filter((l) => l.path === '/stats' && l.status === 401).map((l) => [l.level, l.auth]);
    assert.deepEqual(refused.slice(-2), [
      ['WARNING', 'invalid_token'],
      ['WARNING', 'missing_token'],
    ]);
  });
});

describe('METRICS_TOKEN guards GET /metrics', () => {
  const app = useApp({ metricsTokens: [SCRAPE] });

  test('401 without the token, 200 with it; the read endpoints stay open without READ_TOKENS', async () => {
    assert.deepEqual(await get(`${app().url}/metrics`), DENIED);
    assert.deepEqual(await get(`${app().url}/metrics`, `Bearer ${CURRENT}`), DENIED);
    const ok = await get(`${app().url}/metrics`, `Bearer ${SCRAPE}`);
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^auth_failures_total\{endpoint="metrics"\} 2$/m);
    assert.equal((await get(`${app().url}/messages`)).status, 200);
    assert.equal((await get(`${app().url}/stats`)).status, 200);
  });
});

describe('the open-reads warning at start', () => {
  const warnings = (logs: Record<string, unknown>[]): unknown[] =>
    logs.filter((l) => l.level === 'WARNING' && String(l.msg).includes('READ_TOKENS')).map((l) => l.msg);

  test('a non-loopback address with open reads logs one WARNING; with READ_TOKENS or on loopback, none', async (t) => {
    const open = await startApp(t, { host: '0.0.0.0' });
    assert.deepEqual(warnings(open.logs), ['GET /messages (with its stream and export) and /stats are open to anyone who can reach this address: set READ_TOKENS']);
    const closed = await startApp(t, { host: '0.0.0.0', readTokens: [CURRENT] });
    assert.deepEqual(warnings(closed.logs), []);
    const local = await startApp(t, { host: '127.0.0.1' });
    assert.deepEqual(warnings(local.logs), []);
  });

  test('loopback means 127.0.0.0/8, ::1 and localhost', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) assert.equal(isLoopback(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '127.example.com', '192.168.1.127', 'example.com']) assert.equal(isLoopback(host), false, host);
  });
});

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

function counter(text: string, endpoint: string): number {
  const m = new RegExp(`^auth_failures_total\\{endpoint="${endpoint}"\\} (\\d+)$`, 'm').exec(text);
  assert.ok(m, endpoint);
  return Number(m[1]);
}
