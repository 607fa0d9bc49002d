// CI's operator checks with the real tool, promtool (Debian's `prometheus` package):
//   1. `promtool check metrics` on live /metrics of a server that has answered every kind of request;
//   2. `promtool check config` and `check rules` on ops/prometheus; 3. `promtool test rules`.
// The server guards /metrics with METRICS_TOKEN, scraped with the bearer token as Prometheus sends it.
// Any error or lint warning fails. Run: PROMTOOL=/path/to/promtool node tools/ops-check.ts
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign } from '../src/domain/signature.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startService } from '../src/service.ts';

const PROMTOOL = process.env.PROMTOOL || 'promtool';
const ROOT = join(import.meta.dirname, '..');
const SECRET = 'ops-check-secret';
const MAX_BODY_BYTES = 4096;
const METRICS_TOKEN = 'ops-check-metrics-token';

/** Runs promtool; any output besides the expected success lines counts as a problem. */
function promtool(args: string[], input?: string): boolean {
  const r = spawnSync(PROMTOOL, args, { cwd: ROOT, input, encoding: 'utf8' });
  if (r.error) {
    process.stderr.write(`cannot run ${PROMTOOL}: ${r.error.message}\n`);
    return false;
  }
  const output = `${r.stdout}${r.stderr}`.trim();
  const noise = output
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^\s*(SUCCESS|Checking |Unit Testing: )/.test(l));
  const ok = r.status === 0 && noise.length === 0;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} promtool ${args.join(' ')}\n`);
  if (output !== '') process.stdout.write(`${output.replace(/^/gm, '     ')}\n`);
  return ok;
}

/** A server that has answered created, duplicate, 401, 413, 422, 404 and 405, then its /metrics text. */
async function liveMetrics(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'lyftr-ops-'));
  const service = await startService(
    {
      secrets: [SECRET],
      database: { kind: 'sqlite', path: join(dir, 'app.db') },
      retentionDays: null,
      logLevel: 'ERROR',
      port: 0,
      host: '127.0.0.1',
      maxBodyBytes: MAX_BODY_BYTES,
      standardKeys: [],
      toleranceSeconds: 300,
      readTokens: [],
      metricsTokens: [METRICS_TOKEN],
      adminTokens: [],
      whatsapp: { appSecrets: [], verifyToken: null },
    },
    { logger: createLogger({ level: 'ERROR', sink: () => {} }) },
  );
  try {
    const post = (body: string, signature = sign(body, SECRET)): Promise<Response> =>
      fetch(`${service.url}/webhook`, { method: 'POST', headers: { 'x-signature': signature }, body });
    const valid = JSON.stringify({ message_id: 'm1', from: '+919876543210', to: '+14155550100', ts: '2025-01-15T10:00:00Z' });
    const expected: [Promise<Response>, number][] = [
      [post(valid), 200],
      [post(valid), 200],
      [post(valid, '0'.repeat(64)), 401],
      [post('x'.repeat(MAX_BODY_BYTES + 1)), 413],
      [post('{"message_id":""}'), 422],
      [fetch(`${service.url}/nope`), 404],
      [fetch(`${service.url}/webhook`), 405],
      [fetch(`${service.url}/metrics`), 401],
    ];
    for (const path of ['/', '/openapi.json', '/messages', '/stats', '/health/live', '/health/ready']) {
      expected.push([fetch(`${service.url}${path}`), 200]);
    }
    for (const [pending, status] of expected) {
      const res = await pending;
      await res.arrayBuffer();
      if (res.status !== status) throw new Error(`${res.url}: expected ${status}, got ${res.status}`);
    }
    return await (await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  } finally {
    await service.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `check config` wants the scrape's credentials_file to exist; the real one is an operator's secret that
 * git ignores, so the shipped config is checked in a copy of ops/prometheus with a stand-in token file.
 */
function checkConfig(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'lyftr-prometheus-'));
  try {
    cpSync(join(ROOT, 'ops', 'prometheus'), dir, { recursive: true });
    writeFileSync(join(dir, 'metrics_token'), METRICS_TOKEN);
    return promtool(['check', 'config', join(dir, 'prometheus.yml')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const metrics = await liveMetrics();
const results = [
  promtool(['check', 'metrics'], metrics),
  checkConfig(),
  promtool(['check', 'rules', 'ops/prometheus/alerts.yml']),
  promtool(['test', 'rules', 'ops/prometheus/alerts.test.yml']),
];
process.exitCode = results.every(Boolean) ? 0 : 1;
