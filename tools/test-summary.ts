// The last lines of `make test`: counts, time and the coverage total, with where the full reports are.
// Reads the spec reporter's log (the totals node:test prints at its end) and c8's json-summary.
import { readFileSync } from 'node:fs';

const [log = 'coverage/tests.txt', summary = 'coverage/coverage-summary.json', table = 'coverage/coverage.txt', startedAt] = process.argv.slice(2);

function count(text: string, name: string): number {
  const all = [...text.matchAll(new RegExp(`^ℹ ${name} (\\d+(?:\\.\\d+)?)$`, 'gm'))];
  return Number(all.at(-1)?.[1] ?? NaN);
}

const text = readFileSync(log, 'utf8');
const coverage: unknown = JSON.parse(readFileSync(summary, 'utf8'));
const lines = (coverage as { total?: { lines?: { pct?: number } } }).total?.lines?.pct;
const seconds = startedAt === undefined ? count(text, 'duration_ms') / 1000 : (Date.now() - Number(startedAt) * 1000) / 1000;
const [tests, pass, fail, skipped, cancelled] = ['tests', 'pass', 'fail', 'skipped', 'cancelled'].map((n) => count(text, n));
console.log(
  `\ntests ${tests}: ${pass} passed, ${fail} failed, ${skipped} skipped, ${cancelled} cancelled; ${seconds.toFixed(0)} s; ` +
    `coverage ${lines ?? '?'} % of lines in src/`,
);
console.log(`full reports: ${log} (every test), ${table} (coverage per file)`);
