// `make soak`: crash consistency over many SIGKILL/restart cycles, then the credential timing check.
// Prints a summary table and exits non-zero when a promise was broken. SOAK_SEED replays a run,
// SOAK_CYCLES sets the number of kill/restart cycles (default and minimum for the README figures: 20+).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCrashCycles } from './crash.ts';
import { seedFrom } from './prng.ts';
import { measureTimings } from './timing.ts';

/** Medians of first-byte-wrong and last-byte-wrong checks may differ by at most this fraction. */
export const TIMING_TOLERANCE = 0.03;
const DEFAULT_CYCLES = 25;
const TIMING_TRIALS = 2000;

const seed = seedFrom('SOAK_SEED');
const cycles = Number(process.env.SOAK_CYCLES ?? DEFAULT_CYCLES);
if (!Number.isInteger(cycles) || cycles < 1) throw new Error('SOAK_CYCLES must be a positive integer');
console.log(`soak: seed ${seed} (replay with SOAK_SEED=${seed}), ${cycles} SIGKILL cycles`);

const dir = mkdtempSync(join(tmpdir(), 'lyftr-soak-'));
const started = Date.now();
let s;
try {
  s = await runCrashCycles({ dir, cycles, seed });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);

const row = (cells: (string | number)[]): string => `| ${cells.map(String).join(' | ')} |`;
const head = ['cycles', 'requests', 'acked', 'stored', 'lost', 'duplicated', 'altered', 'let in', '5xx', 'crashes', 'integrity'];
console.log('');
console.log(row(head));
console.log(row(head.map(() => '---')));
console.log(
  row([s.cycles, s.requests, s.acked, s.stored, s.lost, s.duplicated, s.altered, s.letIn, s.serverErrors, s.crashes, s.integrity]),
);
console.log(`\ncrash cycles took ${seconds} s; stored - acked = rows whose answer was cut off by the kill`);

const timing = measureTimings(TIMING_TRIALS);
const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;
console.log(`\ncredential timing (${TIMING_TRIALS} trials x 200 calls, medians; tolerance ${pct(TIMING_TOLERANCE)}):`);
for (const t of [...timing.results, timing.naive]) {
  console.log(`  ${t.name}: first character wrong ${t.firstByteWrong.toFixed(0)} ns, last wrong ${t.lastByteWrong.toFixed(0)} ns, difference ${pct(t.difference)}`);
}
console.log('  (the naive early-exit comparison shows that this harness can see a leak)');

const broken: string[] = [];
if (s.lost > 0) broken.push('acknowledged messages lost');
if (s.duplicated > 0) broken.push('messages stored twice');
if (s.altered > 0) broken.push('stored content differs from the first acknowledged');
if (s.letIn > 0) broken.push('refused messages stored');
if (s.serverErrors > 0) broken.push('5xx answers');
if (s.crashes > 0) broken.push('the server died or failed to start on its own');
if (s.integrity !== 'ok') broken.push(`integrity: ${s.integrity}`);
for (const t of timing.results) if (t.difference > TIMING_TOLERANCE) broken.push(`${t.name} check timing depends on the matching prefix`);
console.log(broken.length === 0 ? '\nsoak: PASS' : `\nsoak: FAIL: ${broken.join('; ')}`);
process.exitCode = broken.length === 0 ? 0 : 1;
