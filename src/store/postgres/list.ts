// How GET /messages is answered from PostgreSQL: one statement (one snapshot) returns the page and the
// exact total. The total of no filter, or of `from` alone, comes from the /stats counters rather than a
// count of every row; any other filter is counted through the index that serves it. Statements are built
// from fixed fragments; values are parameters.
import type { Sql } from 'postgres';
import { fold } from '../fold.ts';
import type { ListPosition, ListQuery, ListResult, Message, MessageFilter } from '../store.ts';
import { sortKey, UNFOLDED } from './schema.ts';
import { ESCAPED, escapeNul, likePattern, plainQuery, unescapeNul, withFoldedTexts } from './text.ts';

export type Stored = { message_id: string; from_msisdn: string; to_msisdn: string; ts: string; text: string | null; type: string | null };
/** A page's row, or the total alone (message_id null) when the page is empty. */
type Row = Omit<Stored, 'message_id'> & { message_id: string | null; total: string; unfolded: boolean };
export type Param = string | number | Buffer;

/** The conditions of a query's filters (without the cursor), with parameters numbered from 1. */
export function filters(query: MessageFilter, params: Param[]): { where: string[]; sender: string | null } {
  const where: string[] = [];
  const param = (v: Param, cast: string): string => `$${params.push(v)}::${cast}`;
  const sender = query.from === undefined ? null : param(query.from, 'text');
  if (sender !== null) where.push(`from_msisdn = ${sender}`);
  if (query.since !== undefined) where.push(`ts_key >= ${sortKey(param(query.since, 'text'))} COLLATE "C"`);
  if (query.q !== undefined) {
    const folded = fold(query.q);
    const like = (): string => `text_folded LIKE ${param(likePattern(folded), 'text')} ESCAPE '\\'`;
    if (plainQuery(folded)) {
      where.push(like());
    } else {
      // q holds a character of the escape (text.ts): an escaped text is matched on its real bytes, any
      // other text holds no U+0000 or U+0001, so a q with either cannot match it.
      const bytes = param(Buffer.from(folded, 'utf8'), 'bytea');
      const other = ESCAPED.test(folded) ? 'false' : like();
      where.push(`CASE WHEN text_nul IS NULL THEN ${other} ELSE position(${bytes} IN text_nul) > 0 END`);
    }
  }
  return { where, sender };
}

/** The count of all matches; `counted` unless it comes from the stats counters. */
function totalSql(query: ListQuery, { where, sender }: ReturnType<typeof filters>): { sql: string; counted: boolean } {
  if (query.since !== undefined || query.q !== undefined) return { sql: `(SELECT count(*) FROM messages WHERE ${where.join(' AND ')})`, counted: true };
  const deltas = `(SELECT coalesce(sum(n), 0) FROM sender_deltas${sender === null ? '' : ` WHERE from_msisdn = ${sender}`})`;
  if (sender === null) return { sql: `(SELECT messages FROM message_totals) + ${deltas}`, counted: false };
  return { sql: `coalesce((SELECT n FROM sender_counts WHERE from_msisdn = ${sender}), 0) + ${deltas}`, counted: false };
}

/** The statement of a page, its total (0 without `count`) and whether the snapshot holds an unfolded text. */
function listStatement(query: ListQuery, count: boolean): { text: string; params: Param[] } {
  const params: Param[] = [];
  const found = filters(query, params);
  const total = count ? totalSql(query, found) : { sql: '0', counted: false };
  const page = [...found.where];
  const direction = query.descending === true ? 'DESC' : 'ASC';
  if (query.after !== undefined) {
    const ts = `$${params.push(query.after.ts)}::text`;
    const id = `$${params.push(escapeNul(query.after.messageId))}::text`;
    page.push(`(ts_key, message_id) ${direction === 'DESC' ? '<' : '>'} (${sortKey(ts)} COLLATE "C", ${id} COLLATE "C")`);
  }
  // One row more than the page, to know whether rows follow it.
  const limit = `$${params.push(query.limit + 1)}::int`;
  const offset = `$${params.push(query.offset)}::bigint`;
  // A counted total at or below the offset leaves no page: the planner then skips the page's scan (a
  // one-time filter), which for a q matching nothing would read the whole table a second time.
  if (total.counted) page.push(`(SELECT total FROM t) > ${offset}`);
  const text = `
    WITH t AS MATERIALIZED (SELECT ${total.sql} AS total,
      ${query.q === undefined ? 'false' : `EXISTS (SELECT FROM messages WHERE ${UNFOLDED})`} AS unfolded)
    SELECT t.total, t.unfolded, p.message_id, p.from_msisdn, p.to_msisdn, p.ts, p.text, p.type
    FROM t LEFT JOIN (
      SELECT message_id, from_msisdn, to_msisdn, ts, text, type, ts_key FROM messages
      ${page.length > 0 ? `WHERE ${page.join(' AND ')}` : ''}
      ORDER BY ts_key ${direction}, message_id ${direction} LIMIT ${limit} OFFSET ${offset}
    ) p ON true
    ORDER BY p.ts_key ${direction}, p.message_id ${direction}`;
  return { text, params };
}

/** `count: false`: no total (0), for the export's pages, which would otherwise count every match a page. */
export function createLister(sql: Sql, { count = true } = {}): (query: ListQuery) => Promise<ListResult> {
  return (query) => {
    const { text, params } = listStatement(query, count);
    return withFoldedTexts(sql, async () => {
      const rows = await sql.unsafe<Row[]>(text, params as never[], { prepare: true });
      if (rows[0] === undefined) throw new Error('list statement returned no row');
      const data = rows.flatMap(({ message_id, ...row }) => (message_id === null ? [] : [toMessage({ ...row, message_id })]));
      return { unfolded: rows[0].unfolded, answer: { data: data.slice(0, query.limit), total: Number(rows[0].total), more: data.length > query.limit } };
    });
  };
}

/**
 * The export's pages: every match of the filter from a position in the sort order, one transaction a
 * page, with the planner held to walking an index in that order (no sequential or bitmap scan). It
 * guesses a q to match a few rows, and would otherwise scan the table (or fetch every match of the
 * trigram index) and sort for every page.
 */
export function createScanner(sql: Sql): (filter: MessageFilter, limit: number, after?: ListPosition) => Promise<ListResult> {
  return (filter, limit, after) =>
    sql.begin(async (tx) => {
      await tx`SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)`;
      const list = createLister(tx as unknown as Sql, { count: false });
      return list({ ...filter, limit, offset: 0, ...(after !== undefined && { after }) });
    }) as Promise<ListResult>;
}

/** A stored row as the contract's message: escaped texts restored, `type` only when set. */
export function toMessage(row: Stored): Message {
  return {
    messageId: unescapeNul(row.message_id),
    from: row.from_msisdn,
    to: row.to_msisdn,
    ts: row.ts,
    text: row.text === null ? null : unescapeNul(row.text),
    ...(row.type !== null && { type: row.type }),
  };
}
