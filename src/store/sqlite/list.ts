// GET /messages on SQLite: planList decides, from the query and two counts, which statements answer it
// (a pure function, table-tested in test/store/sqlite-plan.test.ts); createListReader runs them in one
// read transaction, so `total` and the page come from the same snapshot.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { fold } from '../fold.ts';
import type { ListQuery, ListResult, Message } from '../store.ts';
import { OFFSIDE, sortKey } from './schema.ts';

type Params = Record<string, SQLInputValue>;
export type Statement = { sql: string; params: Params };

export const LIST_THRESHOLDS = {
  /**
   * Matches of q up to which `since` + q is counted through the search index (a row lookup each, which
   * costs about `sortCost` walked rows); past it a walk of the time range is cheaper.
   */
  indexCountLimit: 50_000,
  /** How many walked rows of the time-and-text index one sorted hit of the search index costs. */
  sortCost: 10,
};
export type ListThresholds = typeof LIST_THRESHOLDS;

/**
 * Rows stored, the search index's matches of q (when planHits asked), whether an operator's edit waits to
 * be folded, and for `since` alone the oldest and newest ts stored.
 */
type Counts = { messages: number; hits: number | null; unfolded: boolean; span?: [string, string] };

// SPEC: q is a substring of the folded text. search_text is NULL where an operator's edit waits to be folded (schema.ts).
const MATCH = 'instr(search_text, :folded) > 0';
export const MATCH_ANY = 'instr(coalesce(search_text, fold(text)), :folded) > 0';
/** The rows whose folded text an operator's edit cleared (schema.ts, messages_text). */
export const UNFOLDED = `SELECT rowid FROM messages INDEXED BY idx_messages_offside WHERE ${OFFSIDE} AND search_text IS NULL`;
/** q matched row by row. */
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
// Without `from`, q is matched along the time order in the index that holds the folded text beside it.
const BY_TIME_WITH_TEXT = 'messages INDEXED BY idx_messages_ts_text';

/**
 * The statement counting the trigram index's matches of q, when planList will want them: for a q of
 * three characters or more without a NUL (FTS5 stops at one), and without `from`.
 */
export function planHits(query: ListQuery): Statement | null {
  const folded = query.q === undefined || query.from !== undefined ? '' : fold(query.q);
  if ([...folded].length < 3 || folded.includes('\0')) return null;
  const counts = HITS.map((h) => `(SELECT count(*) FROM (${h}))`).join(' + ');
  return { sql: `SELECT ${counts} AS n`, params: { folded, phrase: `"${folded.replaceAll('"', '""')}"` } };
}

/** The total (a number when known without a query), and the page, one row longer to tell whether rows follow. */
export function planList(query: ListQuery, counts: Counts, thresholds = LIST_THRESHOLDS): { total: number | Statement; page: Statement } {
  const conditions: string[] = [];
  const params: Params = { limit: query.limit + 1, offset: query.offset };
  if (query.from !== undefined) {
    conditions.push('from_msisdn = :from');
    params.from = query.from;
  }
  if (query.since !== undefined) {
    conditions.push(`ts_key >= ${sortKey(':since')}`);
    params.since = query.since;
  }
  let total: number | Statement = conditions.length === 0 ? counts.messages : countOf('messages', conditions, params);
  if (query.since !== undefined && query.from === undefined && counts.span && mostlyAfter(query.since, counts.span)) {
    // Counting the rows before `since` is the shorter walk: the total is the rest of the stored count.
    total = { sql: `SELECT :messages - count(*) AS n FROM messages WHERE ts_key < ${sortKey(':since')}`, params: { ...params, messages: counts.messages } };
  }
  let table = 'messages';
  if (query.q !== undefined) {
    Object.assign(params, planHits(query)?.params ?? { folded: fold(query.q) });
    const { hits } = counts;
    const walk = query.from === undefined ? BY_TIME_WITH_TEXT : 'messages';
    const scan = SCAN(counts.unfolded);
    if (hits !== null && query.since === undefined) total = hits;
    else if (hits !== null && hits <= thresholds.indexCountLimit) total = countOf('messages', [...conditions, INDEXED], params);
    else total = countOf(walk, [...conditions, scan], params);
    // A walk visits the rows up to the page's end, fewer the denser the matches; sorting the index's
    // hits costs `sortCost` walked rows each.
    const sortHits = hits !== null && thresholds.sortCost * hits * hits < (query.offset + query.limit) * counts.messages;
    conditions.push(sortHits ? INDEXED : scan);
    if (!sortHits) table = walk;
  }
  const direction = query.descending === true ? 'DESC' : 'ASC';
  if (query.after !== undefined) {
    conditions.push(`(ts_key, message_id) ${direction === 'DESC' ? '<' : '>'} (${sortKey(':after_ts')}, :after_id)`);
    params.after_ts = query.after.ts;
    params.after_id = query.after.messageId;
  }
  const sql = `SELECT message_id, from_msisdn, to_msisdn, ts, text, type FROM ${table}${where(conditions)}
    ORDER BY ts_key ${direction}, message_id ${direction} LIMIT :limit OFFSET :offset`;
  return { total, page: { sql, params } };
}

/**
 * Whether `since` falls in the oldest third of the stored time span (time stands in for rows). A third, not
 * half: a walk that must check where it ends costs more a row than one that runs to the end of the index.
 */
function mostlyAfter(since: string, [oldest, newest]: [string, string]): boolean {
  const [at, from, to] = [since, oldest, newest].map(Date.parse) as [number, number, number];
  return at - from < (to - from) / 3;
}

function countOf(table: string, conditions: string[], params: Params): Statement {
  return { sql: `SELECT count(*) AS n FROM ${table}${where(conditions)}`, params };
}

function where(conditions: string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

/**
 * Statements prepared once per SQL text, each set up by `configure` once; by default one parameter
 * object serves every shape, each statement taking the names it uses.
 */
export function statementCache(db: DatabaseSync, configure = (s: StatementSync): void => s.setAllowUnknownNamedParameters(true)): (sql: string) => StatementSync {
  const statements = new Map<string, StatementSync>();
  return (sql) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      configure(statement);
      statements.set(sql, statement);
    }
    return statement;
  };
}

type Row = Record<string, SQLInputValue>;

/**
 * Runs the plan on `db` (inside the caller's read transaction); `messages`: rows stored, from the totals;
 * `span`: timeSpan's. Without `count` (the export's pages) nothing is counted, and q is matched along the
 * walk, which reads the whole range anyway.
 */
export function createListReader(db: DatabaseSync, thresholds: ListThresholds, span: () => [string, string] | undefined): (query: ListQuery, messages: number, count?: boolean) => ListResult {
  const prepare = statementCache(db);
  const run = ({ sql, params }: Statement): number => Number((prepare(sql).get(params) as Row).n);
  const unfolded = prepare(`${UNFOLDED} LIMIT 1`);
  return (query, messages, count = true) => {
    const hits = count ? planHits(query) : null;
    const sinceAlone = count && query.since !== undefined && query.from === undefined && query.q === undefined;
    const plan = planList(
      query,
      { messages, hits: hits && run(hits), unfolded: query.q !== undefined && unfolded.get() !== undefined, ...(sinceAlone && { span: span() }) },
      thresholds,
    );
    const total = !count ? 0 : typeof plan.total === 'number' ? plan.total : run(plan.total);
    if (count && (total === 0 || (query.after === undefined && query.offset >= total))) return { data: [], total, more: false };
    const rows = prepare(plan.page.sql).all(plan.page.params) as Row[];
    return { data: rows.slice(0, query.limit).map(toMessage), total, more: rows.length > query.limit };
  };
}

/** The ts of the first and the last message in the sort order; undefined while none is stored. */
export function timeSpan(db: DatabaseSync): () => [string, string] | undefined {
  const end = (d: 'ASC' | 'DESC'): StatementSync => db.prepare(`SELECT ts FROM messages ORDER BY ts_key ${d}, message_id ${d} LIMIT 1`);
  const [first, last] = [end('ASC'), end('DESC')];
  return () => {
    const [oldest, newest] = [first.get(), last.get()] as (Row | undefined)[];
    return oldest && newest ? [String(oldest.ts), String(newest.ts)] : undefined;
  };
}

export function toMessage(r: Row): Message {
  return {
    messageId: String(r.message_id),
    from: String(r.from_msisdn),
    to: String(r.to_msisdn),
    ts: String(r.ts),
    text: r.text === null ? null : String(r.text),
    ...(r.type !== null && r.type !== undefined && { type: String(r.type) }),
  };
}
