// Erasure on SQLite (SPEC, Erasure). The rows go a small transaction at a time, paced, so ingest goes on
// meanwhile; then, in the background, the search index is merged and the WAL truncated, so the text is in
// neither file (secure_delete zeroes it in the pages).
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { eraseInBatches, type EraseTarget, type OnEvent } from '../store.ts';
import { AUTOMERGE } from './schema.ts';
import type { Transaction } from './writer.ts';

/** Leaf pages of the search index one merge step rewrites: a short step, and inserts go on between steps. */
const MERGE_PAGES = 64;
/** Rows an erasure deletes per transaction: a short step, which is the longest an insert waits for it. */
const ERASE_BATCH = 50;
/**
 * After each step the connection is left to inserts for this many times as long as the step took, so ingest
 * keeps most of its rate while a sender's messages are erased.
 */
const PAUSE_FACTOR = 3;
/** A checkpoint that a reader keeps from truncating the WAL is tried again this often, this many times. */
const CHECKPOINT_RETRY_MS = 100;
const CHECKPOINT_TRIES = 50;
/** Bounded, in case inserts kept adding segments as fast as the merge folds them in. */
const MAX_MERGE_STEPS = 100_000;

type Eraser = {
  /** Erases the target's rows, resolving with how many went; the clean-up follows in the background. */
  erase(target: EraseTarget): Promise<number>;
  /** Settles once no clean-up is running. */
  idle(): Promise<void>;
};

/**
 * `run` runs one step on the store's connection (refusing once the store closes, reporting trouble);
 * once `closing()`, clean-ups stop early.
 */
export function createEraser(db: DatabaseSync, transaction: Transaction, run: <T>(step: () => T) => Promise<T>, onEvent: OnEvent, closing: () => boolean): Eraser {
  const byId = db.prepare('DELETE FROM messages WHERE message_id = ?');
  const bySender = db.prepare('DELETE FROM messages WHERE rowid IN (SELECT rowid FROM messages WHERE from_msisdn = ? LIMIT ?)');
  // FTS5 keeps a deleted row's trigrams (with their positions: the text could be pieced together) until
  // the segments holding them are merged; a merge of every segment (negative N) drops them. Its
  // 'secure-delete' option would drop them at once, but makes the index unwritable for SQLite before
  // 3.42 (Debian 12's sqlite3 CLI, which SPEC lets an operator use on the file).
  const mergeStep = db.prepare(`INSERT INTO messages_search (messages_search, rank) VALUES ('merge', -${MERGE_PAGES})`);
  const changes = db.prepare('SELECT total_changes() AS n');
  const totalChanges = (): number => Number((changes.get() as { n: number }).n);
  const checkpoint = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)');
  const step = <T>(work: () => T): Promise<T> => paced(() => run(work));
  const deleteBatch = (target: EraseTarget): number =>
    Number(transaction(() => ('messageId' in target ? byId.run(target.messageId) : bySender.run(target.from, ERASE_BATCH))).changes);
  const merged = (): boolean => {
    const before = totalChanges();
    transaction(() => mergeStep.run());
    // SQLite's FTS5 documentation: fewer than two rows changed means the merge had no work left.
    return totalChanges() - before < 2;
  };
  const truncated = (): boolean => Number((checkpoint.get() as { busy: number }).busy) === 0;
  // FTS5's automatic merges, run after the deletes of some batches, made those steps a hundred times
  // longer than the others (bench/README.md); the scrub merges everything anyway. So they are off from an
  // erasure's first batch to the end of its scrub, and back on at the next start should the process end
  // in between.
  const automerge = (n: number): StatementSync => db.prepare(`INSERT INTO messages_search (messages_search, rank) VALUES ('automerge', ${n})`);
  const [mergesOff, mergesOn] = [automerge(0), automerge(AUTOMERGE)];
  if (db.prepare("SELECT 1 FROM messages_search_config WHERE k = 'automerge' AND v = 0").get()) mergesOn.run();

  // The search index merged (dropping the erased rows' trigrams), then the WAL truncated. Another
  // process's reader can keep the checkpoint from finishing: tried again shortly; the next erasure, or
  // SQLite's own checkpoints, finish it otherwise.
  const scrub = async (): Promise<void> => {
    for (let steps = 0; steps < MAX_MERGE_STEPS && !closing() && !(await step(merged)); steps += 1);
    await step(() => transaction(() => mergesOn.run()));
    for (let tries = 1; !closing() && !(await step(truncated)) && tries < CHECKPOINT_TRIES; tries += 1) {
      await new Promise((r) => setTimeout(r, CHECKPOINT_RETRY_MS));
    }
  };
  let scrubbing = Promise.resolve();
  const scrubLater = (): void => {
    const started = performance.now();
    scrubbing = scrubbing
      .then(async () => {
        await scrub();
        if (!closing()) onEvent('erased messages scrubbed from the database files', { seconds: Math.round(performance.now() - started) / 1000 });
      })
      .catch((err: unknown) => {
        if (!closing()) onEvent('scrubbing after an erasure failed; the next erasure tries again', { error: String(err) }, 'ERROR');
      });
  };
  return {
    async erase(target) {
      await step(() => transaction(() => mergesOff.run()));
      try {
        // A repeat after a crash part-way also runs the clean-up again.
        return await eraseInBatches(ERASE_BATCH, () => step(() => deleteBatch(target)));
      } finally {
        // The rows are gone (counts, search and reads are right), or some are and the erasure failed: the
        // search index's copies and the WAL follow either way, and the automatic merges come back on.
        scrubLater();
      }
    },
    idle: () => scrubbing,
  };
}

async function paced<T>(work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  await new Promise((r) => setTimeout(r, PAUSE_FACTOR * (performance.now() - started)));
  return result;
}
