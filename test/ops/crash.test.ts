import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCrashCycles } from '../../tools/crash.ts';
import { seedFrom } from '../../tools/prng.ts';
import { tempDir } from '../helpers.ts';

// The quick version of `make soak`: a few SIGKILL/restart cycles of the real process under signed load.
test('SIGKILL at random moments loses no 200, stores no refusal, keeps the first content and a sound file', async (t) => {
  const seed = seedFrom('SOAK_SEED');
  t.diagnostic(`seed ${seed} (replay with SOAK_SEED=${seed})`);
  // Each kill waits for 20 acknowledged messages in its cycle: a slow machine takes longer, never fails.
  const s = await runCrashCycles({ dir: tempDir(t), cycles: 3, seed, concurrency: 8, killAfterMs: [100, 400], minAckedPerCycle: 20 });
  t.diagnostic(JSON.stringify(s));
  assert.deepEqual(
    { lost: s.lost, duplicated: s.duplicated, altered: s.altered, letIn: s.letIn, serverErrors: s.serverErrors, crashes: s.crashes, starved: s.starved, integrity: s.integrity },
    { lost: 0, duplicated: 0, altered: 0, letIn: 0, serverErrors: 0, crashes: 0, starved: 0, integrity: 'ok' },
    `seed ${seed}`,
  );
});
