// What the store contract's cases share (test/store/contract.ts and the files beside it).
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { InsertOutcome, ListQuery, ListResult, Message, Store } from '../../src/store/store.ts';
import type { OpenedStore } from './contract.ts';

/** A clock the test moves by hand: what an insert records as the time a message was received. */
export type ManualClock = { now: () => Date; set(iso: string): void };

export function manualClock(start = '2026-01-01T00:00:00.000Z'): ManualClock {
  let at = Date.parse(start);
  return {
    now: () => new Date(at),
    set: (iso) => {
      at = Date.parse(iso);
    },
  };
}

export type Opened = OpenedStore & { clock: ManualClock };
export type Open = (t: TestContext) => Promise<Opened>;

export const msg = (id: string, fields: Partial<Message> = {}): Message => ({
  messageId: id,
  from: '+100',
  to: '+14155550100',
  ts: '2025-01-01T00:00:00Z',
  text: null,
  ...fields,
});

export const ids = (result: ListResult): string[] => result.data.map((m) => m.messageId);

/** One message as a request of its own: its outcome. */
export async function insertOne(store: Pick<Store, 'insertMany'>, message: Message): Promise<InsertOutcome> {
  const [outcome] = await store.insertMany([message]);
  if (outcome === undefined) throw new Error(`no outcome for ${message.messageId}`);
  return outcome;
}

/** Inserts one after another, each a new id. */
export async function insertAll(store: Store, messages: readonly Message[]): Promise<void> {
  for (const m of messages) assert.equal(await insertOne(store, m), 'created', m.messageId);
}

/** The first `limit` (at most 100, the API's cap) matches of `query`. */
export const list = (store: Store, query: Partial<ListQuery> = {}): Promise<ListResult> =>
  store.list({ limit: 100, offset: 0, ...query });

