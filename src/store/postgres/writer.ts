// Group commit on PostgreSQL (group-commit.ts): a batch is one multi-row INSERT ... ON CONFLICT DO NOTHING
// RETURNING in its own implicit transaction; callers are answered after its COMMIT, from what RETURNING
// and a check of the ids it did not return say, never by default.
import type { Sql } from 'postgres';
import { createGroupCommit, type BatchResult, type GroupCommit } from '../group-commit.ts';
import type { InsertOutcome, Message } from '../store.ts';
import { withDeadline } from './calls.ts';
import { escapeNul, foldedColumns } from './text.ts';

/**
 * An insert not answered within `deadlineMs` is refused (503): dropped unsent while it waits for its batch,
 * or with its outcome unknown once its batch is on the wire (a retry of it is then a duplicate).
 */
export function createInsertQueue(sql: Sql, clock: () => Date, deadlineMs: number, onCommit: (rows: number, seconds: number) => void): GroupCommit {
  return createGroupCommit({ waitLimitMs: deadlineMs, commit });

  async function commit(batch: Message[][]): Promise<BatchResult> {
    // One row per id, the first to arrive; sorted, so two replicas inserting overlapping ids lock them in
    // the same order and cannot deadlock.
    const first = new Map<string, Message>();
    for (const m of batch.flat()) if (!first.has(m.messageId)) first.set(m.messageId, m);
    const createdAt = clock();
    const rows = [...first.values()].sort((a, b) => (a.messageId < b.messageId ? -1 : 1)).map((message) => ({ message, createdAt }));
    const started = performance.now();
    // The next batch must not wait for ever on a reply that never comes (postgres 3.4.9 can drop a write
    // to a connection closing under it).
    const created = await withDeadline(deadlineMs, insertRows(sql, rows), 'PostgreSQL did not commit (outcome unknown)');
    onCommit(rows.length, (performance.now() - started) / 1000);
    // Not inserted means a committed row with that id existed; checked rather than assumed. A fresh
    // statement (READ COMMITTED: a new snapshot) sees a row another replica committed meanwhile.
    const others = rows.map((r) => escapeNul(r.message.messageId)).filter((id) => !created.has(id));
    const stored = new Set<string>();
    if (others.length > 0) {
      const check = sql<{ message_id: string }[]>`SELECT message_id FROM messages WHERE message_id = ANY(${others}::text[])`;
      for (const r of await withDeadline(deadlineMs, check, 'PostgreSQL did not answer (outcome unknown)')) stored.add(r.message_id);
    }
    const answered = new Set<string>();
    return batch.map((messages) => {
      const outcomes: InsertOutcome[] = [];
      for (const m of messages) {
        const id = escapeNul(m.messageId);
        if (created.has(id) && !answered.has(id)) outcomes.push('created');
        else if (created.has(id) || stored.has(id)) outcomes.push('duplicate');
        else return new Error(`insert of ${JSON.stringify(m.messageId)} neither stored it nor found it stored`);
        answered.add(id);
      }
      return outcomes;
    });
  }
}

/** One INSERT of these rows (ids unique among them); resolves with the ids it stored, escaped as stored. */
export async function insertRows(sql: Sql, rows: readonly { message: Message; createdAt: Date }[]): Promise<Set<string>> {
  const folded = rows.map((p) => foldedColumns(p.message.text));
  // Arrays, not one parameter per value: the same prepared statement for every batch size. text_nul goes
  // as hex text: the driver sends a one-element array of a Buffer as a bare bytea.
  const returned = await sql<{ message_id: string }[]>`
    INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at, text_nul, text_folded, type)
    SELECT id, f, t, ts, x, c, decode(n, 'hex'), fx, ty FROM unnest(${rows.map((p) => escapeNul(p.message.messageId))}::text[],
      ${rows.map((p) => p.message.from)}::text[], ${rows.map((p) => p.message.to)}::text[], ${rows.map((p) => p.message.ts)}::text[],
      ${rows.map((p) => (p.message.text === null ? null : escapeNul(p.message.text)))}::text[],
      ${rows.map((p) => p.createdAt.toISOString())}::timestamptz[], ${folded.map((f) => f.nul)}::text[],
      ${folded.map((f) => f.folded)}::text[], ${rows.map((p) => p.message.type ?? null)}::text[]) AS u(id, f, t, ts, x, c, n, fx, ty)
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id`;
  return new Set(returned.map((r) => r.message_id));
}
