// `make soak`: crash consistency over many SIGKILL/restart cycles, then the credential timing check.
// Prints a summary table and exits non-zero when a promise was broken. SOAK_SEED replays a run,
// SOAK_CYCLES sets the number of kill/restart cycles (default 25; bench/README.md keeps the figures).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCrashCycles } from './crash.ts';
import { seedFrom } from './prng.ts';
import { leaks, measureTimings, TIMING_TOLERANCE, TIMING_Z } from './timing.ts';
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
  s = await runCrashCycles({ dir, cycles, seed, minAckedPerCycle: 20 });
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
console.log(
  `\ncredential timing (${TIMING_TRIALS} paired trials x 200 calls, medians; a leak: over ${pct(TIMING_TOLERANCE)} apart and |z| > ${TIMING_Z} in a sign test):`,
);
for (const t of [...timing.results, timing.naive]) {
  console.log(
    `  ${t.name}: first character wrong ${t.firstByteWrong.toFixed(0)} ns, last wrong ${t.lastByteWrong.toFixed(0)} ns, difference ${pct(t.difference)}, z ${t.z.toFixed(1)}`,
  );
}
console.log(`  (the naive early-exit comparison shows that this harness can see a leak: ${leaks(timing.naive) ? 'it does' : 'NOT SEEN'})`);

const broken: string[] = [];
if (s.lost > 0) broken.push('acknowledged messages lost');
if (s.duplicated > 0) broken.push('messages stored twice');
if (s.altered > 0) broken.push('stored content differs from the first acknowledged');
if (s.letIn > 0) broken.push('refused messages stored');
if (s.serverErrors > 0) broken.push('5xx answers');
if (s.crashes > 0) broken.push('the server died or failed to start on its own');
if (s.integrity !== 'ok') broken.push(`integrity: ${s.integrity}`);
if (s.starved > 0) broken.push('cycles without acknowledged messages');
if (!leaks(timing.naive)) broken.push('the timing harness did not see the naive comparison leak');
for (const t of timing.results) if (leaks(t)) broken.push(`${t.name} check timing depends on the matching prefix`);
console.log(broken.length === 0 ? '\nsoak: PASS' : `\nsoak: FAIL: ${broken.join('; ')}`);
process.exitCode = broken.length === 0 ? 0 : 1;
