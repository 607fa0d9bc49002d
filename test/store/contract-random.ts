// The store contract's seeded random run: thousands of operations on an engine and on the in-memory
// model (test/store/model.ts) in step, every answer compared. STORE_SEED replays a run; STORE_OPS sets
// its length.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { createRandom, seedFrom, type Random } from '../../tools/prng.ts';
import type { ListPosition, ListQuery, Message, Store } from '../../src/store/store.ts';
import { insertOne, type Open } from './contract-helpers.ts';
import { createModelStore } from './model.ts';

export const DEFAULT_OPS = 3_000;
export type RandomOptions = { ops: number };

// Few of each, so that duplicates, ties, shared senders and matches are common.
const SENDERS = Array.from({ length: 12 }, (_, i) => `+${i + 1}`);
// Upper and lower case, LIKE's wildcards, a NUL, a space, and beyond ASCII: letters whose folding changes
// their length or differs from lower-casing (ß ẞ ς İ ı), Cyrillic, a combining accent beside its
// precomposed form, Devanagari and an astral emoji.
const ALPHABET = ['a', 'b', 'A', 'B', '%', '_', '\u0000', ' ', 'é', 'e', '\u0301', '👋', 'ß', 'S', 's', 'ẞ', 'Σ', 'σ', 'ς', 'İ', 'i', 'ı', 'Ё', 'ё', 'न'];
const TYPES = [undefined, undefined, 'image', 'reaction'];
const FRACTIONS = ['', '05', '49', '5', '999'];
const LIMITS = [1, 2, 3, 5, 10, 50, 100];
const TOP = [1, 3, 10];

/** A contract timestamp among few instants, its fraction spelled with 0 to 2 trailing zeros. */
function randomTs(r: Random): string {
  const fraction = r.pick(FRACTIONS) + '0'.repeat(r.int(3));
  return `2025-01-0${1 + r.int(2)}T00:00:0${r.int(4)}${fraction === '' ? '' : '.' + fraction}Z`;
}

function randomChars(r: Random, length: number): string {
  return Array.from({ length }, () => r.pick(ALPHABET)).join('');
}

function randomText(r: Random): string | null {
  return r.chance(0.1) ? null : randomChars(r, r.int(7));
}

type State = { r: Random; used: string[]; texts: string[]; next: number };

function randomMessage(s: State): Message {
  const duplicate = s.used.length > 0 && s.r.chance(0.25);
  const messageId = duplicate ? s.r.pick(s.used) : `r${s.next++}`;
  if (!duplicate) s.used.push(messageId);
  const text = randomText(s.r);
  if (text) s.texts.push(text);
  const type = s.r.pick(TYPES);
  return { messageId, from: s.r.pick(SENDERS), to: '+999', ts: randomTs(s.r), text, ...(type !== undefined && { type }) };
}

function randomQuery(s: State): ListQuery {
  const { r } = s;
  const query: ListQuery = { limit: r.pick(LIMITS), offset: r.chance(0.6) ? 0 : r.int(20) };
  if (r.chance(0.4)) query.from = r.chance(0.9) ? r.pick(SENDERS) : '+404';
  if (r.chance(0.4)) query.since = randomTs(r);
  if (r.chance(0.4)) {
    // A piece of a stored text (a sure match), or 1 to 3 random characters.
    const text = s.texts.length > 0 && r.chance(0.3) ? Array.from(r.pick(s.texts)) : [];
    const start = r.int(text.length);
    const piece = text.slice(start, start + 1 + r.int(3)).join('');
    query.q = piece === '' ? randomChars(r, 1 + r.int(3)) : piece;
  }
  if (r.chance(0.4)) query.descending = true;
  if (r.chance(0.3)) {
    const after: ListPosition = { ts: randomTs(r), messageId: s.used.length > 0 ? r.pick(s.used) : 'r0' };
    query.after = after;
  }
  return query;
}

type Step = { label: string; run(): Promise<void> };

function insertStep(s: State, store: Store, model: Store): Step {
  // Concurrent inserts, one id at most once among them: which copy wins a race is no rule of the contract.
  const batch = new Map<string, Message>();
  for (let n = 1 + s.r.int(4); n > 0; n -= 1) {
    const m = randomMessage(s);
    if (!batch.has(m.messageId)) batch.set(m.messageId, m);
  }
  const messages = [...batch.values()];
  // Some as one request (insertMany, which may repeat an id), the rest one insert each.
  const many = s.r.chance(0.3) ? [...messages.slice(0, 1 + s.r.int(messages.length)), ...(s.r.chance(0.3) ? messages.slice(0, 1) : [])] : [];
  const single = messages.filter((m) => !many.includes(m));
  return {
    label: `insertMany ${JSON.stringify(many)} with insert ${JSON.stringify(single)}`,
    async run() {
      const want = [];
      want.push(many.length === 0 ? [] : await model.insertMany(many));
      for (const m of single) want.push(await insertOne(model, m));
      assert.deepEqual(await Promise.all([store.insertMany(many), ...single.map((m) => insertOne(store, m))]), want);
    },
  };
}

function pruneStep(s: State, store: Store, model: Store, span: { start: number; now: number }): Step {
  const before = new Date(span.start + s.r.int(span.now - span.start + 1));
  const limit = 1 + s.r.int(20);
  return {
    label: `prune(${before.toISOString()}, ${limit}) until 0`,
    async run() {
      const want = await model.prune(before, Number.MAX_SAFE_INTEGER);
      let pruned = 0;
      for (let n = -1; n !== 0; pruned += n) {
        n = await store.prune(before, limit);
        assert.ok(n >= 0 && n <= limit, `prune returned ${n}`);
        assert.ok(pruned + n <= want, `pruned ${pruned + n} of ${want}`);
      }
      assert.equal(pruned, want);
    },
  };
}

function readStep(s: State, store: Store, model: Store): Step {
  if (s.r.chance(0.8)) {
    const query = randomQuery(s);
    return {
      label: `list ${JSON.stringify(query)}`,
      run: async () => assert.deepEqual(await store.list(query), await model.list(query)),
    };
  }
  const top = s.r.pick(TOP);
  return {
    label: `stats(${top})`,
    async run() {
      assert.deepEqual(await store.stats(top), await model.stats(top));
      assert.equal(store.load().pendingInserts, 0);
    },
  };
}

export async function runRandomOps(t: TestContext, open: Open, options: RandomOptions): Promise<void> {
  const seed = seedFrom('STORE_SEED');
  const ops = process.env.STORE_OPS ? Number(process.env.STORE_OPS) : options.ops;
  if (!Number.isSafeInteger(ops) || ops < 0) throw new Error('STORE_OPS must be a whole number');
  t.diagnostic(`STORE_SEED=${seed} STORE_OPS=${ops}`);
  const { store, clock } = await open(t);
  const model = createModelStore(clock.now);
  const s: State = { r: createRandom(seed), used: [], texts: [], next: 0 };
  const span = { start: clock.now().getTime(), now: clock.now().getTime() };
  for (let i = 0; i < ops; i += 1) {
    const roll = s.r.next();
    let step: Step;
    if (roll < 0.4) {
      span.now += s.r.int(1000);
      clock.set(new Date(span.now).toISOString());
      step = insertStep(s, store, model);
    } else if (roll < 0.43) step = pruneStep(s, store, model, span);
    else step = readStep(s, store, model);
    try {
      await step.run();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`STORE_SEED=${seed}, op ${i}: ${step.label}\n${why}`, { cause: err });
    }
  }
}
