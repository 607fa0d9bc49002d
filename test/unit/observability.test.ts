import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { LogLevel } from '../../src/config.ts';
import type { Req } from '../../src/http/request.ts';
import type { Reply } from '../../src/http/response.ts';
import { createRouter, type Route } from '../../src/http/router.ts';
import { createLogger, type Logger } from '../../src/observability/logger.ts';
import { createRegistry, escapeLabelValue, formatLabels } from '../../src/observability/metrics.ts';
import { registerProcessMetrics } from '../../src/observability/process-metrics.ts';

/** The lines of an exposition, without the final empty string after the trailing newline. */
function lines(text: string): string[] {
  assert.equal(text.endsWith('\n'), true, 'exposition ends with a newline');
  return text.slice(0, -1).split('\n');
}

describe('metrics registry', () => {
  test('an unlabelled counter starts at 0 and renders HELP, TYPE and one sample', () => {
    const registry = createRegistry();
    const c = registry.counter('jobs_total', 'Jobs done.');
    assert.deepEqual(lines(registry.render()), ['# HELP jobs_total Jobs done.', '# TYPE jobs_total counter', 'jobs_total 0']);
    c.inc();
    c.inc(undefined, 2.5);
    assert.equal(c.value(), 3.5);
    assert.deepEqual(lines(registry.render()), ['# HELP jobs_total Jobs done.', '# TYPE jobs_total counter', 'jobs_total 3.5']);
  });

  test('a labelled counter keeps one series per label set, labels in declared order', () => {
    const registry = createRegistry();
    const c = registry.counter('http_requests_total', 'HTTP requests.', ['path', 'status']);
    // No series until the first increment.
    assert.deepEqual(lines(registry.render()), [
      '# HELP http_requests_total HTTP requests.',
      '# TYPE http_requests_total counter',
    ]);
    c.inc({ status: '200', path: '/webhook' });
    c.inc({ path: '/webhook', status: '200' });
    c.inc({ path: '/messages', status: '422' });
    assert.equal(c.value({ path: '/webhook', status: '200' }), 2);
    assert.equal(c.value({ path: '/messages', status: '422' }), 1);
    assert.equal(c.value({ path: '/stats', status: '200' }), 0);
    assert.deepEqual(lines(registry.render()), [
      '# HELP http_requests_total HTTP requests.',
      '# TYPE http_requests_total counter',
      'http_requests_total{path="/webhook",status="200"} 2',
      'http_requests_total{path="/messages",status="422"} 1',
    ]);
  });

  test('labels not declared are dropped; declared labels left out are left out of the line (absent = empty)', () => {
    const registry = createRegistry();
    const c = registry.counter('webhook_requests_total', 'Webhook outcomes.', ['result']);
    c.inc({ result: 'created', raw_url: '/webhook?x=1' });
    c.inc({});
    assert.deepEqual(lines(registry.render()).slice(2), [
      'webhook_requests_total{result="created"} 1',
      'webhook_requests_total 1',
    ]);
  });

  test('label values escape backslash, double quote and newline', () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    // A backslash followed by n is two characters, not a newline: it must stay distinguishable.
    assert.equal(escapeLabelValue('\\n'), '\\\\n');
    assert.equal(formatLabels({ path: 'C:\\x', q: 'say "hi"\n' }), '{path="C:\\\\x",q="say \\"hi\\"\\n"}');
    assert.equal(formatLabels({}), '');

    const registry = createRegistry();
    const c = registry.counter('weird_total', 'Weird labels.', ['v']);
    c.inc({ v: 'back\\slash "quoted"\nnext' });
    assert.deepEqual(lines(registry.render()), [
      '# HELP weird_total Weird labels.',
      '# TYPE weird_total counter',
      'weird_total{v="back\\\\slash \\"quoted\\"\\nnext"} 1',
    ]);
  });

  test('HELP text escapes backslash and newline', () => {
    const registry = createRegistry();
    registry.counter('odd_total', 'Line one\nline two with \\ and "quotes".');
    assert.deepEqual(lines(registry.render()).slice(0, 2), [
      '# HELP odd_total Line one\\nline two with \\\\ and "quotes".',
      '# TYPE odd_total counter',
    ]);
  });

  test('histogram buckets are cumulative, +Inf equals _count, _sum adds the observations', () => {
    const registry = createRegistry();
    // Buckets given out of order: exposition must still list them ascending.
    const h = registry.histogram('http_request_duration_seconds', 'Latency.', [1, 0.1, 0.5]);
    for (const v of [0.05, 0.1, 0.25, 0.5, 0.75, 2, 4]) h.observe({}, v);
    assert.deepEqual(lines(registry.render()), [
      '# HELP http_request_duration_seconds Latency.',
      '# TYPE http_request_duration_seconds histogram',
      'http_request_duration_seconds_bucket{le="0.1"} 2', // 0.05, 0.1 (le is inclusive)
      'http_request_duration_seconds_bucket{le="0.5"} 4', // + 0.25, 0.5
      'http_request_duration_seconds_bucket{le="1"} 5', // + 0.75
      'http_request_duration_seconds_bucket{le="+Inf"} 7', // + 2, 4
      'http_request_duration_seconds_sum 7.65',
      'http_request_duration_seconds_count 7',
    ]);
  });

  test('histogram sum is exact for values representable in binary', () => {
    const registry = createRegistry();
    const h = registry.histogram('size_bytes', 'Sizes.', [10, 100]);
    for (const v of [0.25, 0.5, 64, 1024]) h.observe({}, v);
    const out = lines(registry.render());
    assert.equal(out.find((l) => l.startsWith('size_bytes_sum')), 'size_bytes_sum 1088.75');
    assert.equal(out.find((l) => l.startsWith('size_bytes_count')), 'size_bytes_count 4');
  });

  test('labelled histogram series are kept apart, le comes after the labels', () => {
    const registry = createRegistry();
    const h = registry.histogram('latency_seconds', 'Latency.', [0.25, 1], ['path']);
    h.observe({ path: '/webhook' }, 0.125);
    h.observe({ path: '/messages' }, 0.5);
    h.observe({ path: '/webhook' }, 3);
    assert.deepEqual(lines(registry.render()).slice(2), [
      'latency_seconds_bucket{path="/webhook",le="0.25"} 1',
      'latency_seconds_bucket{path="/webhook",le="1"} 1',
      'latency_seconds_bucket{path="/webhook",le="+Inf"} 2',
      'latency_seconds_sum{path="/webhook"} 3.125',
      'latency_seconds_count{path="/webhook"} 2',
      'latency_seconds_bucket{path="/messages",le="0.25"} 0',
      'latency_seconds_bucket{path="/messages",le="1"} 1',
      'latency_seconds_bucket{path="/messages",le="+Inf"} 1',
      'latency_seconds_sum{path="/messages"} 0.5',
      'latency_seconds_count{path="/messages"} 1',
    ]);
  });

  test('a histogram never observed renders HELP and TYPE only', () => {
    const registry = createRegistry();
    registry.histogram('idle_seconds', 'Never used.', [1]);
    assert.deepEqual(lines(registry.render()), ['# HELP idle_seconds Never used.', '# TYPE idle_seconds histogram']);
  });

  test('gauges and collected counters are read at render time', () => {
    const registry = createRegistry();
    let rss = 100;
    registry.gauge('process_resident_memory_bytes', 'RSS.', () => rss);
    registry.counterFrom('process_cpu_seconds_total', 'CPU.', () => [
      { labels: { mode: 'user' }, value: 1.5 },
      { labels: { mode: 'system' }, value: 0.25 },
    ]);
    registry.gauge('lag_seconds', 'Lag.', () => Number.NaN);
    const first = lines(registry.render());
    rss = 200;
    const second = lines(registry.render());
    assert.deepEqual(first, [
      '# HELP process_resident_memory_bytes RSS.',
      '# TYPE process_resident_memory_bytes gauge',
      'process_resident_memory_bytes 100',
      '# HELP process_cpu_seconds_total CPU.',
      '# TYPE process_cpu_seconds_total counter',
      'process_cpu_seconds_total{mode="user"} 1.5',
      'process_cpu_seconds_total{mode="system"} 0.25',
      '# HELP lag_seconds Lag.',
      '# TYPE lag_seconds gauge',
      'lag_seconds NaN',
    ]);
    assert.equal(second[2], 'process_resident_memory_bytes 200');
  });

  test('a metric name registered twice is refused', () => {
    const registry = createRegistry();
    registry.counter('dup_total', 'One.');
    assert.throws(() => registry.gauge('dup_total', 'Two.', () => 1), /metric dup_total registered twice/);
  });

  test('registries are independent (no module-level state)', () => {
    const a = createRegistry();
    const b = createRegistry();
    a.counter('only_in_a_total', 'A.').inc();
    assert.equal(b.render(), '\n');
    assert.match(a.render(), /^only_in_a_total 1$/m);
  });
});

describe('logger', () => {
  const FIXED = new Date('2025-01-15T10:00:00.123Z');

  function capture(level: LogLevel, buffered = false): { logger: Logger; chunks: string[] } {
    const chunks: string[] = [];
    const logger = createLogger({ level, buffered, sink: (c) => chunks.push(c), clock: () => FIXED });
    return { logger, chunks };
  }

  test('each entry is one JSON line with ts from the clock, level, msg and the fields', () => {
    const { logger, chunks } = capture('DEBUG');
    logger.info('request', { request_id: 'abc', status: 200, dup: false });
    assert.deepEqual(chunks, [
      '{"ts":"2025-01-15T10:00:00.123Z","level":"INFO","msg":"request","request_id":"abc","status":200,"dup":false}\n',
    ]);
  });

  test('control and direction characters JSON leaves raw are escaped, in fields, keys and the message', () => {
    const { logger, chunks } = capture('DEBUG');
    const unsafe = ['\u007f', '\u0085', '\u009b', '\u009f', '\u200e', '\u200f', '\u2028', '\u2029', '\u202a', '\u202e', '\u2066', '\u2069'];
    const value = `id${unsafe.join('')}\u0007\u001b[31m`;
    logger.info(`msg\u202e`, { message_id: value, [`k\u2028`]: 1 });
    const [line = ''] = chunks;
    assert.deepEqual([...line.slice(0, -1)].filter((c) => c.charCodeAt(0) < 0x20 || unsafe.includes(c)), [], JSON.stringify(line));
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(parsed.message_id, value, 'the value reads back exactly');
    assert.equal(parsed.msg, 'msg\u202e');
    assert.equal(parsed['k\u2028'], 1);
    assert.ok(line.includes('\\u009b') && line.includes('\\u202e'), line);
    // Characters around them, such as an accented letter or an emoji, are kept as they are.
    logger.info('plain', { text: 'caf\u00e9 \u{1f600} \u200d' });
    assert.ok(chunks[1]?.includes('caf\u00e9 \u{1f600} \u200d'));
  });

  test('a message or field containing newlines still yields exactly one line', () => {
    const { logger, chunks } = capture('DEBUG');
    logger.error('bad\nthing', { detail: 'a\r\nb' });
    assert.equal(chunks.length, 1);
    const chunk = chunks[0] ?? '';
    assert.equal(chunk.split('\n').length, 2);
    assert.deepEqual(JSON.parse(chunk), {
      ts: '2025-01-15T10:00:00.123Z',
      level: 'ERROR',
      msg: 'bad\nthing',
      detail: 'a\r\nb',
    });
  });

  test('each level method writes its own level name', () => {
    const { logger, chunks } = capture('DEBUG');
    logger.debug('d');
    logger.info('i');
    logger.warning('w');
    logger.error('e');
    logger.log('WARNING', 'l');
    assert.deepEqual(
      chunks.map((c) => JSON.parse(c) as { level: string; msg: string }).map((e) => [e.level, e.msg]),
      [
        ['DEBUG', 'd'],
        ['INFO', 'i'],
        ['WARNING', 'w'],
        ['ERROR', 'e'],
        ['WARNING', 'l'],
      ],
    );
  });

  const expectedByThreshold: [LogLevel, string[]][] = [
    ['DEBUG', ['DEBUG', 'INFO', 'WARNING', 'ERROR']],
    ['INFO', ['INFO', 'WARNING', 'ERROR']],
    ['WARNING', ['WARNING', 'ERROR']],
    ['ERROR', ['ERROR']],
  ];
  for (const [threshold, written] of expectedByThreshold) {
    test(`level ${threshold} writes ${written.join(', ')}`, () => {
      const { logger, chunks } = capture(threshold);
      logger.debug('x');
      logger.info('x');
      logger.warning('x');
      logger.error('x');
      assert.deepEqual(
        chunks.map((c) => (JSON.parse(c) as { level: string }).level),
        written,
      );
    });
  }

  test('a filtered entry does not even read the clock', () => {
    let reads = 0;
    const chunks: string[] = [];
    const logger = createLogger({
      level: 'ERROR',
      sink: (c) => chunks.push(c),
      clock: () => {
        reads += 1;
        return FIXED;
      },
    });
    logger.info('dropped');
    assert.equal(reads, 0);
    assert.deepEqual(chunks, []);
  });

  test('buffered mode holds lines until flush(), then writes them in one chunk', () => {
    const { logger, chunks } = capture('INFO', true);
    logger.info('one');
    logger.debug('filtered');
    logger.error('two');
    assert.deepEqual(chunks, []);
    logger.flush();
    assert.deepEqual(chunks, [
      '{"ts":"2025-01-15T10:00:00.123Z","level":"INFO","msg":"one"}\n' +
        '{"ts":"2025-01-15T10:00:00.123Z","level":"ERROR","msg":"two"}\n',
    ]);
    logger.flush();
    assert.equal(chunks.length, 1, 'a second flush writes nothing');
  });

  test('buffered mode flushes by itself on the next event-loop turn, once', async () => {
    const { logger, chunks } = capture('INFO', true);
    logger.info('a');
    logger.info('b');
    assert.deepEqual(chunks, []);
    await nextTurn();
    await nextTurn();
    assert.equal(chunks.length, 1);
    assert.deepEqual(
      (chunks[0] ?? '').trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['a', 'b'],
    );
    logger.info('c');
    await nextTurn();
    await nextTurn();
    assert.equal(chunks.length, 2);
    assert.equal(JSON.parse(chunks[1] ?? '').msg, 'c');
  });

  test('unbuffered mode writes each line at once', () => {
    const { logger, chunks } = capture('INFO', false);
    logger.info('a');
    assert.equal(chunks.length, 1);
    logger.info('b');
    assert.equal(chunks.length, 2);
  });
});

describe('router', () => {
  const reply = (name: string) => (): Reply => ({ status: 200, body: { name } });
  const routes: Route[] = [
    { method: 'POST', path: '/webhook', handler: reply('webhook') },
    { method: 'GET', path: '/messages', handler: reply('messages') },
    { method: 'GET', path: '/stats', handler: reply('stats') },
    { method: 'GET', path: '/health/live', handler: reply('live') },
  ];
  const find = createRouter(routes);
  const fakeReq = {} as Req;

  async function handlerName(method: string, path: string): Promise<unknown> {
    const match = find(method, path);
    if (match?.kind !== 'found') return assert.fail(`expected a route for ${method} ${path}`);
    return (await match.route.handler(fakeReq)).body;
  }

  test('a known method and path finds its route', async () => {
    assert.equal(find('POST', '/webhook')?.kind, 'found');
    assert.deepEqual(find('GET', '/messages'), { kind: 'found', route: routes[1], params: {} });
    assert.deepEqual(await handlerName('GET', '/stats'), { name: 'stats' });
    assert.deepEqual(await handlerName('POST', '/webhook'), { name: 'webhook' });
  });

  test('HEAD is served by the GET route', async () => {
    assert.deepEqual(find('HEAD', '/messages'), { kind: 'found', route: routes[1], params: {} });
    assert.deepEqual(await handlerName('HEAD', '/health/live'), { name: 'live' });
  });

  test('a wrong method on a GET path is 405 with GET and HEAD allowed', () => {
    assert.deepEqual(find('POST', '/messages'), { kind: 'method', allowed: ['GET', 'HEAD'], pattern: '/messages' });
    assert.deepEqual(find('DELETE', '/stats'), { kind: 'method', allowed: ['GET', 'HEAD'], pattern: '/stats' });
  });

  test('a wrong method on a POST-only path is 405 allowing POST only, also for HEAD', () => {
    assert.deepEqual(find('GET', '/webhook'), { kind: 'method', allowed: ['POST'], pattern: '/webhook' });
    assert.deepEqual(find('HEAD', '/webhook'), { kind: 'method', allowed: ['POST'], pattern: '/webhook' });
    assert.deepEqual(find('PUT', '/webhook'), { kind: 'method', allowed: ['POST'], pattern: '/webhook' });
  });

  test('a path with several methods lists them all', () => {
    const both = createRouter([
      { method: 'GET', path: '/x', handler: reply('get') },
      { method: 'DELETE', path: '/x', handler: reply('delete') },
    ]);
    assert.deepEqual(both('POST', '/x'), { kind: 'method', allowed: ['GET', 'DELETE', 'HEAD'], pattern: '/x' });
    assert.equal(both('DELETE', '/x')?.kind, 'found');
  });

  test('a {name} segment matches one non-empty, percent-decoded segment, after every exact path', () => {
    const table: Route[] = [
      { method: 'GET', path: '/messages/export', handler: reply('export') },
      { method: 'DELETE', path: '/messages/{message_id}', handler: reply('erase') },
    ];
    const match = createRouter(table);
    assert.deepEqual(match('DELETE', '/messages/a%2Fb%20c'), { kind: 'found', route: table[1], params: { message_id: 'a/b c' } });
    assert.deepEqual(match('GET', '/messages/export'), { kind: 'found', route: table[0], params: {} });
    assert.deepEqual(match('GET', '/messages/m1'), { kind: 'method', allowed: ['DELETE'], pattern: '/messages/{message_id}' });
    // An exact path's name is a message id too, for a method the exact path does not serve.
    assert.deepEqual(match('DELETE', '/messages/export'), { kind: 'found', route: table[1], params: { message_id: 'export' } });
    assert.deepEqual(match('POST', '/messages/export'), { kind: 'method', allowed: ['GET', 'DELETE', 'HEAD'], pattern: '/messages/export' });
    for (const path of ['/messages/', '/messages/a/b', '/messages/%E0%A4%A', '/messagesx']) assert.equal(match('DELETE', path), null, path);
  });

  test('methods are matched exactly (Node upper-cases them before routing)', () => {
    assert.deepEqual(find('get', '/messages'), { kind: 'method', allowed: ['GET', 'HEAD'], pattern: '/messages' });
  });

  test('an unknown path is null, whatever the method', () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/'],
      ['GET', ''],
      ['GET', '/messages/'],
      ['GET', '/Messages'],
      ['GET', '/messages/1'],
      ['GET', '/health'],
      ['GET', '/stats?x=1'],
      ['GET', '//messages'],
      ['GET', 'constructor'],
      ['GET', '__proto__'],
    ] as const) {
      assert.equal(find(method, path), null, `${method} ${path}`);
    }
  });

  test('the allowed list of one lookup cannot corrupt the next', () => {
    const first = find('POST', '/stats');
    if (first?.kind !== 'method') return assert.fail('expected 405');
    first.allowed.push('BREW');
    assert.deepEqual(find('POST', '/stats'), { kind: 'method', allowed: ['GET', 'HEAD'], pattern: '/stats' });
    assert.deepEqual(find('GET', '/stats'), { kind: 'found', route: routes[2], params: {} });
  });
});

describe('createLogger robustness', () => {
  test('fields cannot overwrite ts, level or msg, and unserialisable fields still give a line', () => {
    const chunks: string[] = [];
    const logger = createLogger({ level: 'DEBUG', sink: (c) => chunks.push(c), clock: () => new Date(0) });
    logger.info('hello', { level: 'ERROR', msg: 'spoofed', ts: 'never', extra: 1 });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    logger.warning('odd', { circular, big: 1n });
    const [first, second] = chunks.map((c) => JSON.parse(c) as Record<string, unknown>);
    assert.deepEqual(first, { ts: '1970-01-01T00:00:00.000Z', level: 'INFO', msg: 'hello', extra: 1 });
    assert.deepEqual(second, {
      ts: '1970-01-01T00:00:00.000Z',
      level: 'WARNING',
      msg: 'odd',
      log_error: 'fields could not be serialised',
    });
  });
});

describe('process metrics', () => {
  test('the event-loop lag gauges describe the last whole window: reading them twice gives the same answer', async (t) => {
    const registry = createRegistry();
    const stop = registerProcessMetrics(registry, new Date(), 1_000);
    t.after(stop);
    const lag = (text: string): number => Number(/^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1]);
    assert.equal(lag(registry.render()), 0, 'no whole window yet');
    // Block the loop five times for ~60 ms in the first window, then read in the second, once the first has ended.
    for (let i = 0; i < 5; i += 1) {
      const until = Date.now() + 60;
      while (Date.now() < until) {}
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 900));
    const first = lag(registry.render());
    assert.equal(lag(registry.render()), first);
    assert.ok(first > 0.05, `p99 ${first}`);
  });
});
