// Texts on PostgreSQL, whose text type cannot hold U+0000 (the contract allows it in a message_id or a
// text): such strings are stored escaped (U+0000 -> U+0001 U+0001, U+0001 -> U+0001 U+0002), a
// prefix-free code that keeps order, so message_id order and equality are unchanged; strings without
// either character (all real traffic) are stored as they are. A q is matched against fold(text)
// (fold.ts), which the service writes beside the text; for an escaped text, on its real bytes (text_nul).
import type { Sql, TransactionSql } from 'postgres';
import { fold } from '../fold.ts';
import { storeUnavailable } from '../store.ts';
import { UNFOLDED } from './schema.ts';

/** How many times a q's answer is asked again while operators' edits keep arriving unfolded. */
const REFOLD_ROUNDS = 5;

/**
 * The answer of `ask`, read in a snapshot with no unfolded text (`unfolded` false: where q is not asked,
 * it may always be). One read in a snapshot that holds one could miss or invent a match: such texts are
 * folded, and the question asked again.
 */
export async function withFoldedTexts<T>(sql: Sql, ask: () => Promise<{ unfolded: boolean; answer: T }>): Promise<T> {
  for (let round = 0; round < REFOLD_ROUNDS; round += 1) {
    const { unfolded, answer } = await ask();
    if (!unfolded) return answer;
    await refold(sql, 1_000);
  }
  throw storeUnavailable('texts are being edited faster than the service can fold them; retry');
}

/** The characters the escape rewrites. */
export const ESCAPED = /[\u0000\u0001]/;

export function escapeNul(s: string): string {
  return ESCAPED.test(s) ? s.replace(/[\u0000\u0001]/g, (c) => (c === '\u0000' ? '\u0001\u0001' : '\u0001\u0002')) : s;
}

export function unescapeNul(s: string): string {
  return s.includes('\u0001') ? s.replace(/\u0001[\u0001\u0002]/g, (c) => (c === '\u0001\u0001' ? '\u0000' : '\u0001')) : s;
}

/** The folded copies of a text as stored: text_folded (escaped), and text_nul's hex for an escaped text. */
export function foldedColumns(text: string | null): { folded: string | null; nul: string | null } {
  if (text === null) return { folded: null, nul: null };
  const folded = fold(text);
  return { folded: escapeNul(folded), nul: ESCAPED.test(folded) ? Buffer.from(folded, 'utf8').toString('hex') : null };
}

/** Whether LIKE on the escaped folded text matches fold(q) exactly: unless q holds a character of the escape. */
export function plainQuery(folded: string): boolean {
  return !/[\u0000-\u0002]/.test(folded);
}

/** `%q%` for LIKE ... ESCAPE '\', with `%`, `_` and `\` literal; `folded` is fold(q). */
export function likePattern(folded: string): string {
  return `%${folded.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Folds every text that has no folded copy (an operator's INSERT or UPDATE through psql, or an upgrade),
 * `batch` rows a statement; `onBatch` hears how many so far. A text changed meanwhile is folded again.
 */
export async function refold(sql: Sql | TransactionSql, batch: number, onBatch?: (done: number) => void): Promise<void> {
  for (let done = 0; ; ) {
    const rows = await sql<{ message_id: string; text: string }[]>`
      SELECT message_id, text FROM messages WHERE ${sql.unsafe(UNFOLDED)} LIMIT ${batch}`;
    if (rows.length === 0) return;
    const columns = rows.map((r) => foldedColumns(unescapeNul(r.text)));
    await sql`
      UPDATE messages m SET text_folded = u.f, text_nul = decode(u.n, 'hex')
      FROM unnest(${rows.map((r) => r.message_id)}::text[], ${rows.map((r) => r.text)}::text[],
        ${columns.map((c) => c.folded)}::text[], ${columns.map((c) => c.nul)}::text[]) AS u(id, x, f, n)
      WHERE m.message_id = u.id AND m.text = u.x`;
    onBatch?.((done += rows.length));
  }
}
