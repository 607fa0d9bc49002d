// The README is what operators and senders read first; these tests keep the parts they copy from true.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sign } from '../../src/domain/signature.ts';
import { parseSigningKey, signStandard } from '../../src/domain/standard-webhooks.ts';
import { startApp } from '../helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The README text from a `## title` heading to the next `## ` heading. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  assert.ok(start !== -1, `README has no "## ${title}"`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end === -1 ? undefined : end);
}

describe('README', () => {
  test('"Make targets" documents exactly the targets `make help` lists', () => {
    const makefile = readFileSync(join(ROOT, 'Makefile'), 'utf8');
    const helped = [...makefile.matchAll(/^([a-z-]+):.*## /gm)].map((m) => m[1]).sort();
    const documented = [...new Set([...section('Make targets').matchAll(/`make ([a-z-]+)`/g)].map((m) => m[1]))].sort();
    const undocumented = helped.filter((t) => !documented.includes(t));
    const missing = documented.filter((t) => !helped.includes(t));
    assert.deepEqual(
      { undocumented, missing },
      { undocumented: [], missing: [] },
      'add a row per undocumented target to the README\'s "Make targets" table; drop rows of targets that are gone',
    );
  });

  test('the known-answer signature is the HMAC of the example BODY under "change-me"', () => {
    const body = /^BODY='([^']+)'$/m.exec(README)?.[1];
    assert.ok(body, 'the POST /webhook example sets BODY');
    const answer = /under the secret `change-me` signs to\s+`([0-9a-f]{64})`/.exec(README)?.[1];
    assert.equal(answer, sign(body, 'change-me'));
  });

  test('the Standard Webhooks header example is the signature of its body under the named test secret', () => {
    const example = /```\nPOST \/webhook\n([\s\S]*?)\n\n(\{[^\n]+\})\n```/.exec(section('Standard Webhooks'));
    assert.ok(example, 'the section shows a request with headers and a body');
    const headers = Object.fromEntries((example[1] ?? '').split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
    const key = parseSigningKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    assert.ok(key.ok);
    const id = headers['webhook-id'] ?? '';
    assert.equal(headers['webhook-signature'], signStandard(key.key, id, headers['webhook-timestamp'] ?? '', example[2] ?? ''));
  });

  test('the table in "Metrics" names exactly the metric families /metrics exports', async (t) => {
    const app = await startApp(t);
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const exported = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? '').sort();
    // The first cell of each table row: one or more `names`.
    const rows = section('Metrics').split('\n').filter((l) => l.startsWith('| `'));
    const documented = rows.flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1] ?? '')).sort();
    assert.deepEqual(documented, exported);
  });
});
