// GET /messages on SQLite: planList decides, from the query and two counts, which statements answer it
// (a pure function, table-tested in test/store/sqlite-plan.test.ts); createListReader runs them in one
// read transaction, so `total` and the page come from the same snapshot.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { fold } from '../fold.ts';
import type { ListPosition, ListQuery, ListResult, Message, MessageFilter } from '../store.ts';
import { OFFSIDE, sortKey } from './schema.ts';

export type Params = Record<string, SQLInputValue>;
export type Statement = { sql: string; params: Params };

export type ListThresholds = {
  /**
   * Matches of q up to which `since` + q is counted through the search index (a row lookup each, about
   * 1 us); past it a walk of the time range (about 0.25 us a row) is cheaper.
   */
  indexCountLimit: number;
  /** How many walked rows of the time-and-text index one sorted hit of the search index costs. */
  sortCost: number;
};
export const LIST_THRESHOLDS: ListThresholds = { indexCountLimit: 50_000, sortCost: 10 };

/**
 * What planList needs to know: rows stored, the search index's matches of q (when it asked), and whether
 * some text waits to be folded again (an operator's edit), which a row-by-row match must then fold.
 */
export type Counts = { messages: number; hits: number | null; unfolded: boolean };

/** The total (a number when known without a query) and the page's statement. */
export type ListPlan = { total: number | Statement; page: Statement };

// SPEC: q is a substring of the text after both are folded (fold.ts). search_text holds fold(text);
// where it is NULL (an operator's edit not folded again yet) the row is folded as it is read.
const MATCH = 'instr(search_text, :folded) > 0';
export const MATCH_ANY = 'instr(coalesce(search_text, fold(text)), :folded) > 0';
/** Rows whose folded copy an operator's edit cleared (schema.ts): one probe of a partial index. */
export const UNFOLDED = `SELECT rowid FROM messages INDEXED BY idx_messages_offside WHERE ${OFFSIDE} AND search_text IS NULL`;
/** q matched row by row; rows not folded yet are folded as they are read. */
const SCAN = (unfolded: boolean): string => (unfolded ? `(${MATCH} OR rowid IN (${UNFOLDED} AND ${MATCH_ANY}))` : MATCH);
// Rows past search_state.upto wait for the trigram index (schema.ts); rows it cannot hold are offside.
const WAITING = 'rowid > (SELECT upto FROM search_state)';
const HITS = [
  'SELECT rowid FROM messages_search WHERE messages_search MATCH :phrase',
  `SELECT rowid FROM messages WHERE ${WAITING} AND ${MATCH_ANY}`,
  `SELECT rowid FROM messages INDEXED BY idx_messages_offside WHERE ${OFFSIDE} AND NOT ${WAITING} AND ${MATCH_ANY}`,
];
/** q matched through the trigram index (and row by row where it cannot answer). */
const INDEXED = `rowid IN (${HITS.join(' UNION ALL ')})`;
// Without `from`, a walk in time order that matches q row by row: the index holding the folded text.
const BY_TIME_WITH_TEXT = 'messages INDEXED BY idx_messages_ts_text';
const SINCE = `ts_key >= ${sortKey(':since')}`;
const AFTER = (direction: string): string => `(ts_key, message_id) ${direction === 'DESC' ? '<' : '>'} (${sortKey(':after_ts')}, :after_id)`;

/** The trigram index answers a q of three characters or more without a NUL (FTS5 stops at one). */
function indexable(folded: string): boolean {
  return [...folded].length >= 3 && !folded.includes('\0');
}

/** The statement counting the search index's matches of q, when planList will want them. */
export function planHits(query: ListQuery): Statement | null {
  if (query.q === undefined || query.from !== undefined) return null;
  const folded = fold(query.q);
  if (!indexable(folded)) return null;
  const counts = HITS.map((h) => `(SELECT count(*) FROM (${h}))`).join(' + ');
  return { sql: `SELECT ${counts} AS n`, params: { folded, phrase: `"${folded.replaceAll('"', '""')}"` } };
}

export function planList(query: ListQuery, counts: Counts, thresholds: ListThresholds = LIST_THRESHOLDS): ListPlan {
  const filters: string[] = [];
  const params: Params = {};
  if (query.from !== undefined) {
    filters.push('from_msisdn = :from');
    params.from = query.from;
  }
  if (query.since !== undefined) {
    filters.push(SINCE);
    params.since = query.since;
  }
  let total: number | Statement;
  let text: string | null = null;
  let table = 'messages';
  if (query.q === undefined) {
    total = filters.length === 0 ? counts.messages : countOf(table, filters, params);
  } else {
    Object.assign(params, planHits(query)?.params ?? { folded: fold(query.q) });
    const walk = query.from === undefined ? BY_TIME_WITH_TEXT : 'messages';
    const { hits } = counts;
    const scan = SCAN(counts.unfolded);
    if (hits === null) {
      total = countOf(walk, [...filters, scan], params);
    } else if (query.since === undefined) total = hits;
    else if (hits <= thresholds.indexCountLimit) total = countOf('messages', [...filters, INDEXED], params);
    else total = countOf(walk, [...filters, scan], params);
    // A walk visits the rows up to the page's end, fewer the denser the matches; sorting the index's
    // hits costs `sortCost` walked rows each.
    const depth = query.offset + query.limit;
    const sortHits = hits !== null && thresholds.sortCost * hits * hits < depth * counts.messages;
    text = sortHits ? INDEXED : scan;
    if (!sortHits) table = walk;
  }
  const conditions = [...filters, ...(text === null ? [] : [text])];
  const direction = query.descending === true ? 'DESC' : 'ASC';
  if (query.after !== undefined) {
    conditions.push(AFTER(direction));
    params.after_ts = query.after.ts;
    params.after_id = query.after.messageId;
  }
  // One row more than the page, to know whether rows follow it.
  const page = {
    sql: `SELECT message_id, from_msisdn, to_msisdn, ts, text, type FROM ${table}${where(conditions)}
      ORDER BY ts_key ${direction}, message_id ${direction} LIMIT :limit OFFSET :offset`,
    params: { ...params, limit: query.limit + 1, offset: query.offset },
  };
  return { total, page };
}

function countOf(table: string, conditions: string[], params: Params): Statement {
  return { sql: `SELECT count(*) AS n FROM ${table}${where(conditions)}`, params };
}

function where(conditions: string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

/** Statements prepared once per SQL text; one parameter object serves every shape, each taking the names it uses. */
export function statementCache(db: DatabaseSync): (sql: string) => StatementSync {
  const statements = new Map<string, StatementSync>();
  return (sql) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statement.setAllowUnknownNamedParameters(true);
      statements.set(sql, statement);
    }
    return statement;
  };
}

type Row = Record<string, SQLInputValue>;

/** Runs the plan on `db` (inside the caller's read transaction); `messages`: rows stored, from the totals. */
export function createListReader(db: DatabaseSync, thresholds: ListThresholds): (query: ListQuery, messages: number) => ListResult {
  const prepare = statementCache(db);
  const run = ({ sql, params }: Statement): number => Number((prepare(sql).get(params) as Row).n);
  const unfolded = prepare(`${UNFOLDED} LIMIT 1`);
  return (query, messages) => {
    const hits = planHits(query);
    const counts = { messages, hits: hits === null ? null : run(hits), unfolded: query.q !== undefined && unfolded.get() !== undefined };
    const { total: count, page } = planList(query, counts, thresholds);
    const total = typeof count === 'number' ? count : run(count);
    if (total === 0 || (query.after === undefined && query.offset >= total)) return { data: [], total, more: false };
    const rows = prepare(page.sql).all(page.params) as Row[];
    return { data: rows.slice(0, query.limit).map(toMessage), total, more: rows.length > query.limit };
  };
}

/**
 * The export's pages: the list's page statement from a position in the sort order, q matched row by row
 * (the walk reads the whole range anyway), never counted. `more`: rows follow the page.
 */
export function createScanner(db: DatabaseSync): (filter: MessageFilter, limit: number, after?: ListPosition) => { data: Message[]; more: boolean } {
  const prepare = statementCache(db);
  const unfolded = prepare(`${UNFOLDED} LIMIT 1`);
  return (filter, limit, after) => {
    const query: ListQuery = { ...filter, limit, offset: 0, ...(after !== undefined && { after }) };
    const { page } = planList(query, { messages: 0, hits: null, unfolded: filter.q !== undefined && unfolded.get() !== undefined });
    const rows = prepare(page.sql).all(page.params) as Row[];
    return { data: rows.slice(0, limit).map(toMessage), more: rows.length > limit };
  };
}

export function toMessage(r: Row): Message {
  const message: Message = {
    messageId: String(r.message_id),
    from: String(r.from_msisdn),
    to: String(r.to_msisdn),
    ts: String(r.ts),
    text: r.text === null ? null : String(r.text),
  };
  if (r.type !== null && r.type !== undefined) message.type = String(r.type);
  return message;
}
