// The group-commit queue both engines use (src/store/group-commit.ts), driven by a hand-held commit: one
// batch in flight, what waits goes in the next batch, an outcome the engine does not report is an error,
// a request past its wait limit is refused and never sent, and drain answers everything accepted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGroupCommit, type BatchResult } from '../../src/store/group-commit.ts';
import { isStoreUnavailable, type Message } from '../../src/store/store.ts';

const msg = (id: string): Message => ({ messageId: id, from: '+1', to: '+2', ts: '2025-01-01T00:00:00Z', text: 'hi' });

/** A commit that records each batch and answers only when the test says so. */
function heldCommit(): { commit(batch: Message[][]): Promise<BatchResult>; batches: string[][][]; answer(result: BatchResult | Error): void } {
  const batches: string[][][] = [];
  const waiting: ((result: BatchResult | Error) => void)[] = [];
  return {
    batches,
    commit(batch) {
      batches.push(batch.map((messages) => messages.map((m) => m.messageId)));
      return new Promise((resolve, reject) => waiting.push((r) => (r instanceof Error ? reject(r) : resolve(r))));
    },
    answer(result) {
      const next = waiting.shift();
      assert.ok(next, 'no batch is waiting for an answer');
      next(result);
    },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
// A broken queue leaves a promise pending for ever: each test then fails at this bound instead of hanging.
const bounded = { timeout: 10_000 };

test('one batch in flight: what arrives meanwhile waits and goes in the next batch, in arrival order', bounded, async () => {
  const held = heldCommit();
  const queue = createGroupCommit({ commit: held.commit });
  const first = queue.add([msg('a')]);
  await tick();
  const second = queue.add([msg('b'), msg('c')]);
  const third = queue.add([msg('d')]);
  await tick();
  assert.deepEqual(held.batches, [[['a']]], 'nothing else is sent while a batch commits');
  assert.equal(queue.pending(), 4);
  held.answer([['created']]);
  assert.deepEqual(await first, ['created']);
  await tick();
  assert.deepEqual(held.batches, [[['a']], [['b', 'c'], ['d']]]);
  held.answer([['created', 'duplicate'], ['created']]);
  assert.deepEqual(await Promise.all([second, third]), [['created', 'duplicate'], ['created']]);
  assert.equal(queue.pending(), 0);
});

test('fail closed: a request the engine reports no outcome for, or too few, is an error, never a default', bounded, async () => {
  const held = heldCommit();
  const queue = createGroupCommit({ commit: held.commit });
  const requests = [queue.add([msg('a')]), queue.add([msg('b'), msg('c')]), queue.add([msg('d')])];
  await tick();
  held.answer([['created'], ['created']]);
  const [a, bc, d] = await Promise.allSettled(requests);
  assert.deepEqual(a, { status: 'fulfilled', value: ['created'] });
  assert.equal(bc?.status, 'rejected');
  assert.equal(d?.status, 'rejected');
  const failed = queue.add([msg('e')]);
  await tick();
  held.answer(new Error('the transaction failed'));
  await assert.rejects(failed, /the transaction failed/);
});

test('a request still waiting for its batch at the wait limit is refused (503) and never sent', bounded, async () => {
  const held = heldCommit();
  const queue = createGroupCommit({ commit: held.commit, waitLimitMs: 20 });
  const first = queue.add([msg('a')]);
  await tick();
  const late = queue.add([msg('b')]);
  await assert.rejects(late, (err) => isStoreUnavailable(err) && /within 20 ms/.test(String(err)));
  const drained = queue.drain();
  held.answer([['created']]);
  assert.deepEqual(await first, ['created']);
  await drained;
  assert.deepEqual(held.batches, [[['a']]], 'the refused request was never committed');
});

test('drain answers every accepted request, then refuses new ones', bounded, async () => {
  const held = heldCommit();
  const queue = createGroupCommit({ commit: held.commit });
  const accepted = queue.add([msg('a')]);
  let drained = false;
  const draining = queue.drain().then(() => (drained = true));
  await assert.rejects(queue.add([msg('b')]), (err) => isStoreUnavailable(err));
  await tick();
  assert.equal(drained, false, 'drain waits for the batch in flight');
  held.answer([['created']]);
  await draining;
  assert.deepEqual(await accepted, ['created']);
  await queue.drain();
});
