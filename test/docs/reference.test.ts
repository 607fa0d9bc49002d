// The parts of README.md and docs/ that people copy, kept true of the code: the make targets, the
// known-answer signatures, the metric names, the endpoints table's examples, the files they name.
import assert from 'node:assert/strict';
import { existsSync, globSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { sign } from '../../src/domain/signature.ts';
import { parseSigningKey, signStandard } from '../../src/domain/standard-webhooks.ts';
import { startApp } from '../helpers.ts';
import { blocksOf } from './markdown.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

/** The text of `file` from a `## title` heading to the next `## ` heading. */
function section(file: string, title: string): string {
  const text = read(file);
  const start = text.indexOf(`\n## ${title}\n`);
  assert.ok(start !== -1, `${file} has no "## ${title}"`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end === -1 ? undefined : end);
}

describe('README.md', () => {
  test('is at most 200 lines', () => {
    assert.ok(read('README.md').split('\n').length <= 201, 'README.md is the front door: move details to docs/');
  });

  test('"Make targets" documents exactly the targets `make help` lists', () => {
    const helped = [...read('Makefile').matchAll(/^([a-z-]+):.*## /gm)].map((m) => m[1]).sort();
    const documented = [...new Set([...section('README.md', 'Make targets').matchAll(/`make ([a-z-]+)`/g)].map((m) => m[1]))].sort();
    assert.deepEqual(
      { undocumented: helped.filter((t) => !documented.includes(t)), missing: documented.filter((t) => !helped.includes(t)) },
      { undocumented: [], missing: [] },
      'add a row per undocumented target to the README\'s "Make targets" table; drop rows of targets that are gone',
    );
  });

  test('"Configuration" lists every variable the service reads; "(coming)" marks exactly those it does not read yet', () => {
    // Whatever loadConfig asks of the environment, recorded as it asks.
    const read = new Set<string>();
    const env = new Proxy({} as Record<string, string | undefined>, {
      get: (_, name) => (typeof name === 'string' && read.add(name), undefined),
      has: (_, name) => (typeof name === 'string' && read.add(name), false),
    });
    loadConfig(env, () => '');
    const rows = section('README.md', 'Configuration').split('\n').filter((l) => l.startsWith('| `'));
    const documented = new Map(rows.flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`([A-Z_]+)`/g)].map((m) => [m[1] ?? '', l.includes('(coming)')] as const)));
    const coming = [...documented].filter(([, c]) => c).map(([n]) => n);
    assert.deepEqual(
      { undocumented: [...read].filter((n) => !documented.has(n)).sort(), readButComing: coming.filter((n) => read.has(n)).sort() },
      { undocumented: [], readButComing: [] },
      'a row per variable in the README\'s configuration table; drop "(coming)" once the service reads it',
    );
    assert.deepEqual([...documented.keys()].filter((n) => !read.has(n) && !coming.includes(n)), [], 'rows of variables nothing reads');
  });

  test('every example in the endpoints table is a line of a block the examples test runs', () => {
    const rows = section('README.md', 'Endpoints').split('\n').filter((l) => l.startsWith('| `'));
    const examples = rows.map((l) => /`([^`]+)` \|$/.exec(l)?.[1] ?? `(no example in: ${l})`);
    const run = blocksOf('README.md', read('README.md'))
      .filter((b) => b.skip === null && b.language === 'sh')
      .flatMap((b) => b.code.split('\n'));
    assert.ok(examples.length >= 8);
    assert.deepEqual(examples.filter((e) => !run.includes(e)), []);
  });
});

describe('docs/api.md', () => {
  test('the known-answer signature is the HMAC of the example BODY under "change-me"', () => {
    const text = read('docs/api.md');
    const body = /^BODY='([^']+)'$/m.exec(text)?.[1];
    assert.ok(body, 'the X-Signature example sets BODY');
    const answer = /under the secret `change-me` signs to\s+`([0-9a-f]{64})`/.exec(text)?.[1];
    assert.equal(answer, sign(body, 'change-me'));
  });

  test('the Standard Webhooks request shown is signed by its body under the named test secret', () => {
    const example = /```text\nPOST \/webhook\n([\s\S]*?)\n\n(\{[^\n]+\})\n```/.exec(section('docs/api.md', 'Standard Webhooks'));
    assert.ok(example, 'the section shows a request with headers and a body');
    const headers = Object.fromEntries((example[1] ?? '').split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
    const key = parseSigningKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    assert.ok(key.ok);
    assert.equal(headers['webhook-signature'], signStandard(key.key, headers['webhook-id'] ?? '', headers['webhook-timestamp'] ?? '', example[2] ?? ''));
  });
});

describe('docs/operations.md', () => {
  test('the table in "Metrics" names exactly the metric families /metrics exports', async (t) => {
    const app = await startApp(t);
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const exported = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? '').sort();
    // The first cell of each table row: one or more `names`.
    const rows = section('docs/operations.md', 'Metrics').split('\n').filter((l) => l.startsWith('| `'));
    const documented = rows.flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1] ?? '')).sort();
    assert.deepEqual(documented, exported);
  });

  test('the alerts table names exactly the alerts of ops/prometheus/alerts.yml', () => {
    const defined = [...read('ops/prometheus/alerts.yml').matchAll(/^\s*- alert: (\S+)/gm)].map((m) => m[1]).sort();
    const documented = [...section('docs/operations.md', 'Alerts and dashboard').matchAll(/^\| `(Lyftr\w+)`/gm)].map((m) => m[1]).sort();
    assert.deepEqual(documented, defined);
  });
});

describe('the docs', () => {
  // Files the project writes (bench/results.json, ops/prometheus/metrics_token): git-ignored, absent from a clone.
  const GENERATED = new Set(read('.gitignore').split('\n'));
  test('every file of the project they name in `code` exists (a glob matches one at least)', () => {
    const docs = ['README.md', 'bench/README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));
    const missing = docs.flatMap((doc) =>
      [...read(doc).matchAll(/`((?:src|scripts|bin|test|bench|ops|tools|docs)\/[^`\s]+)`/g)]
        .map((m) => m[1] ?? '')
        .filter((path) => !GENERATED.has(path) && !existsSync(join(ROOT, path)) && globSync(path, { cwd: ROOT }).length === 0)
        .map((path) => `${doc}: ${path}`),
    );
    assert.deepEqual(missing, []);
  });
});
