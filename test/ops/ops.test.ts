import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { message, postSigned, useApp } from '../helpers.ts';

const OPS = join(import.meta.dirname, '..', '..', 'ops');

// PromQL words that are not metric names; `up` is a real series, written by Prometheus itself.
const PROMQL_WORDS = new Set([
  'sum', 'rate', 'increase', 'histogram_quantile', 'and', 'or', 'unless', 'time', 'max', 'min', 'avg', 'count',
]);
const SYNTHETIC = new Set(['up']);

/** The metric names an expression reads: label matchers, ranges, grouping labels and functions removed. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b\d+(\.\d+)?(e-?\d+)?\b/g, ' ');
  const words = bare.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(words.filter((w) => !PROMQL_WORDS.has(w)))];
}

/** `expr:` values of a rules file: one-line values and `|` blocks (the indented lines that follow). */
function ruleExpressions(yaml: string): string[] {
  const lines = yaml.split('\n');
  const out: string[] = [];
  lines.forEach((line, i) => {
    const m = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (!m) return;
    if (m[2] !== '|') {
      out.push(m[2] ?? '');
      return;
    }
    const indent = (m[1] ?? '').length;
    const block: string[] = [];
    for (let j = i + 1; j < lines.length; j++) {
      const next = lines[j] ?? '';
      if (next.trim() !== '' && next.length - next.trimStart().length <= indent) break;
      block.push(next);
    }
    out.push(block.join('\n'));
  });
  return out;
}

type Panel = { id: number; type: string; title: string; gridPos?: unknown; targets?: { expr: string }[]; datasource?: { uid: string } };

describe('ops artefacts read metrics the service really exports', () => {
  const app = useApp();
  let exported = new Set<string>();
  // Sample names of a live scrape, after a stored message so the commit histograms have series.
  before(async () => {
    await postSigned(app().url, message());
    const text = await (await fetch(`${app().url}/metrics`)).text();
    exported = new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0] ?? ''));
  });

  test('the metric-name extractor skips labels, ranges, groupings and functions', () => {
    assert.deepEqual(
      metricNames('histogram_quantile(0.99, sum by (path, le) (rate(http_request_duration_seconds_bucket{path!="x"}[5m]))) > 0.5'),
      ['http_request_duration_seconds_bucket'],
    );
    assert.deepEqual(metricNames('time() - max(process_start_time_seconds{job="a"}) and on (job) up == 1'), ['process_start_time_seconds', 'up']);
  });

  test('every alert expression reads only exported metrics (or up)', () => {
    const exprs = ruleExpressions(readFileSync(join(OPS, 'prometheus', 'alerts.yml'), 'utf8'));
    assert.equal(exprs.length, 8);
    for (const expr of exprs) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, expr);
      for (const name of names) assert.ok(exported.has(name) || SYNTHETIC.has(name), `${name} in ${expr}`);
    }
  });

  test('the Grafana dashboard is valid JSON; every panel query reads exported metrics', () => {
    const dashboard = JSON.parse(readFileSync(join(OPS, 'grafana', 'dashboard.json'), 'utf8')) as { uid: string; panels: Panel[] };
    assert.equal(dashboard.uid, 'lyftr-webhook-api');
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const queried = new Set<string>();
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      assert.ok(panel.gridPos, panel.title);
      assert.equal(panel.datasource?.uid, '${datasource}', panel.title);
      assert.ok((panel.targets ?? []).length > 0, panel.title);
      for (const { expr } of panel.targets ?? []) {
        for (const name of metricNames(expr)) {
          assert.ok(exported.has(name) || SYNTHETIC.has(name), `${name} in panel "${panel.title}"`);
          queried.add(name.replace(/_(bucket|sum|count)$/, ''));
        }
      }
    }
    // The service's own families all have a panel.
    for (const name of ['messages_stored', 'store_pending_inserts', 'messages_pruned_total', 'database_size_bytes', 'service_ready', 'store_commit_batch_size', 'store_commit_duration_seconds', 'webhook_requests_total', 'http_requests_total', 'http_request_duration_seconds']) {
      assert.ok(queried.has(name), `no panel for ${name}`);
    }
  });
});
