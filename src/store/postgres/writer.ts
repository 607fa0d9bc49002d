// Group commit on PostgreSQL: inserts that arrive while a commit is under way wait, then go to the server
// together as one multi-row INSERT ... ON CONFLICT (message_id) DO NOTHING RETURNING, in its own
// implicit transaction. Each caller is answered only once the server has reported that statement's
// COMMIT, and from what RETURNING (and, for the ids it did not return, a check) says: never by default.
import type { Sql } from 'postgres';
import { storeUnavailable, type InsertOutcome, type Message } from '../store.ts';
import { translate } from './errors.ts';
import { escapeNul, nulBytes } from './text.ts';

/** The most rows in one INSERT: a few hundred kilobytes of parameters, a few milliseconds on the server. */
export const MAX_BATCH = 500;

type Pending = { message: Message; createdAt: Date; resolve(o: InsertOutcome): void; reject(e: unknown): void; sent: boolean };

export type Writer = {
  insert(message: Message, createdAt: Date): Promise<InsertOutcome>;
  /** Inserts accepted and not yet answered. */
  pending(): number;
  /** Resolves once everything accepted so far is answered. */
  drain(): Promise<void>;
};

export type WriterOptions = {
  sql: Sql;
  /**
   * An insert not answered by then is refused (503): dropped unsent when it still waits for its batch, or
   * with its outcome unknown when its batch is on the wire (a retry of it is then a duplicate).
   */
  deadlineMs: number;
  /** After each committed batch: its rows and seconds from sending to the server's answer. */
  onCommit?: (rows: number, seconds: number) => void;
};

export function createWriter({ sql, onCommit, deadlineMs }: WriterOptions): Writer {
  let queue: Pending[] = [];
  let inFlight = 0;
  let idle: (() => void)[] = [];

  const flush = (): void => {
    if (inFlight > 0 || queue.length === 0) return;
    const batch = queue.slice(0, MAX_BATCH);
    queue = queue.slice(MAX_BATCH);
    for (const p of batch) p.sent = true;
    inFlight = batch.length;
    void commit(sql, batch, onCommit, deadlineMs).finally(() => {
      inFlight = 0;
      if (queue.length > 0) flush();
      else for (const done of idle.splice(0)) done();
    });
  };

  return {
    insert(message, createdAt) {
      return new Promise<InsertOutcome>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (!pending.sent) {
            queue = queue.filter((p) => p !== pending);
            if (queue.length === 0 && inFlight === 0) for (const done of idle.splice(0)) done();
          }
          reject(storeUnavailable(`PostgreSQL did not commit within ${deadlineMs} ms${pending.sent ? ' (outcome unknown)' : ''}`));
        }, deadlineMs);
        const pending: Pending = {
          message,
          createdAt,
          sent: false,
          resolve: (o) => (clearTimeout(timer), resolve(o)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        };
        queue.push(pending);
        // Whatever arrives within this turn of the event loop joins the same batch.
        if (queue.length === 1 && inFlight === 0) queueMicrotask(flush);
      });
    },
    pending: () => queue.length + inFlight,
    drain() {
      if (queue.length === 0 && inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
  };
}

async function commit(sql: Sql, batch: Pending[], onCommit: WriterOptions['onCommit'], deadlineMs: number): Promise<void> {
  // One row per id, the first to arrive; later copies of it in the batch are duplicates of that row.
  const first = new Map<string, Pending>();
  for (const p of batch) if (!first.has(p.message.messageId)) first.set(p.message.messageId, p);
  // Sorted, so two replicas inserting overlapping ids lock them in the same order and cannot deadlock.
  const rows = [...first.values()].sort((a, b) => (a.message.messageId < b.message.messageId ? -1 : 1));
  const ids = rows.map((p) => escapeNul(p.message.messageId));
  const started = performance.now();
  let created: Set<string>;
  let stored: Set<string>;
  try {
    created = await withDeadline(deadlineMs, insertRows(sql, rows));
    onCommit?.(rows.length, (performance.now() - started) / 1000);
    // Not inserted means a committed row with that id existed; checked rather than assumed. A fresh
    // statement (READ COMMITTED: a new snapshot) sees a row another replica committed meanwhile.
    const others = ids.filter((id) => !created.has(id));
    stored = new Set(others.length === 0 ? [] : (await withDeadline(deadlineMs, sql<{ message_id: string }[]>`
      SELECT message_id FROM messages WHERE message_id = ANY(${others}::text[])`)).map((r) => r.message_id));
  } catch (err) {
    const failure = translate(err);
    for (const p of batch) p.reject(failure);
    return;
  }
  const answered = new Set<string>();
  for (const p of batch) {
    const id = escapeNul(p.message.messageId);
    if (created.has(id) && !answered.has(id)) p.resolve('created');
    else if (created.has(id) || stored.has(id)) p.resolve('duplicate');
    else p.reject(new Error(`insert of ${JSON.stringify(p.message.messageId)} neither stored it nor found it stored`));
    answered.add(id);
  }
}

/** One INSERT of these rows (ids unique among them); resolves with the ids it stored, escaped as stored. */
export async function insertRows(sql: Sql, rows: readonly { message: Message; createdAt: Date }[]): Promise<Set<string>> {
  // Arrays, not one parameter per value: the same prepared statement for every batch size. text_nul goes
  // as hex text: the driver sends a one-element array of a Buffer as a bare bytea.
  const returned = await sql<{ message_id: string }[]>`
    INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at, text_nul)
    SELECT id, f, t, ts, x, c, decode(n, 'hex') FROM unnest(${rows.map((p) => escapeNul(p.message.messageId))}::text[],
      ${rows.map((p) => p.message.from)}::text[], ${rows.map((p) => p.message.to)}::text[], ${rows.map((p) => p.message.ts)}::text[],
      ${rows.map((p) => (p.message.text === null ? null : escapeNul(p.message.text)))}::text[],
      ${rows.map((p) => p.createdAt.toISOString())}::timestamptz[],
      ${rows.map((p) => nulBytes(p.message.text)?.toString('hex') ?? null)}::text[]) AS u(id, f, t, ts, x, c, n)
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id`;
  return new Set(returned.map((r) => r.message_id));
}

/**
 * The batch's statement, or a 503 once the deadline passes: the next batch must not wait for ever on a
 * reply that never comes (postgres 3.4.9 can drop a write to a connection closing under it).
 */
function withDeadline<T>(ms: number, query: PromiseLike<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(storeUnavailable(`PostgreSQL did not answer within ${ms} ms (outcome unknown)`)), ms);
  });
  return Promise.race([Promise.resolve(query), late]).finally(() => clearTimeout(timer));
}
