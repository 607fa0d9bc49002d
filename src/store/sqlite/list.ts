// GET /messages on SQLite: which index each filter goes through, and how `total` is counted exactly.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { ListQuery, ListResult, Message } from '../store.ts';
import { statementCache, type Counter } from './counter.ts';
import { sortKey } from './schema.ts';

/**
 * Matches of a text query up to which `since` and q are counted through the search index (each match a
 * row lookup, ~1 us); past it a walk of the time range with LIKE is cheaper (~0.25 us a row). At 1M rows:
 * a year and a word in 1 text in 5 (195,000 matches), 215 ms through the index, 113 ms by the walk.
 */
export const INDEX_COUNT_LIMIT = 50_000;

/**
 * Rows from which a count that walks the time order is split between two cores (counter.ts): at 1M rows
 * q=ok took 170 / 195 ms (p50 / p99) so, 292 / 323 on one; below this many a walk takes under 15 ms.
 */
export const SPLIT_ROWS = 50_000;

type Params = Record<string, SQLInputValue>;
type Row = Record<string, SQLInputValue>;

/** How a q is matched: through the trigram index (3 characters or more), or row by row. */
type TextMatch = { indexed: boolean; params: Params; scan: string; index: string; nulTexts: boolean };

// Rows past search_state.upto wait for the index (schema.ts): a scan of their rowid range finds them.
const WAITING = 'rowid > (SELECT upto FROM search_state)';
const MATCHED = 'SELECT rowid FROM messages_search WHERE messages_search MATCH :phrase';
const SINCE = `ts_key >= ${sortKey(':since')}`;
// Matching q row by row in time order without `from`: through the index that holds the text (schema.ts).
const BY_TIME_WITH_TEXT = 'messages INDEXED BY idx_messages_ts_text';
// LIKE folds ASCII case as lower() does, and stops at a NUL: texts holding one are checked by instr.
const LIKE = "text LIKE :pattern ESCAPE '\\'";
const NUL_TEXT = 'instr(text, char(0)) > 0';
const FOLDED = 'instr(lower(text), :folded) > 0';

/** `nulTexts`: some stored text holds a NUL, which LIKE would not read past. */
function textMatch(q: string, nulTexts: boolean): TextMatch {
  // SPEC: case-insensitive, with `%` and `_` literal; ASCII folding, as SQLite's lower() and LIKE do.
  const folded = q.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  if (q.includes('\0')) return { indexed: false, params: { folded }, scan: FOLDED, index: FOLDED, nulTexts };
  const scan = nulTexts ? `(${LIKE} OR (${NUL_TEXT} AND ${FOLDED}))` : LIKE;
  const indexed = `rowid IN (${MATCHED} UNION ALL SELECT rowid FROM messages WHERE ${WAITING} AND ${scan})`;
  return {
    // The trigram index needs three characters; FTS5 reads a query up to its first NUL only.
    indexed: [...q].length >= 3,
    params: { folded, pattern: `%${q.replace(/[\\%_]/g, '\\$&')}%`, phrase: `"${folded.replaceAll('"', '""')}"` },
    scan,
    // The trigram index reads a NUL as if it were not there (`xin` matches `x` NUL `in`): such hits are
    // checked with instr.
    index: nulTexts ? `(${indexed} AND (NOT ${NUL_TEXT} OR ${FOLDED}))` : indexed,
    nulTexts,
  };
}

/** What the reader reads of message_totals, in its transaction's snapshot. */
export type Totals = { messages(): number; revision(): number };

type Counts = {
  prepare(sql: string): StatementSync;
  count(conditions: string[], params: Params, table?: string): number;
  walkCount(conditions: string[], params: Params, table: string, byTime: boolean): number;
  scanCount(filters: string[], text: TextMatch, params: Params, table: string): number;
  /** Whether some stored text holds a NUL, which LIKE would not read past. */
  nulTexts(): boolean;
};

/** The statements of a reader, and the ways it counts. */
function counts(db: DatabaseSync, { messages, revision }: Totals, counter: Counter | null): Counts {
  const prepare = statementCache(db);
  const countSql = (conditions: string[], table: string): string => `SELECT count(*) AS n FROM ${table}${where(conditions)}`;
  const count = (conditions: string[], params: Params, table = 'messages'): number =>
    Number((prepare(countSql(conditions, table)).get(params) as Row).n);

  // A long walk in time order (`byTime`: no sender to narrow it) is cut at the middle of its time range;
  // the helper counts the later part.
  const bounds = `SELECT (SELECT ts_key FROM messages WHERE ts_key >= coalesce(${sortKey(':since')}, '') ORDER BY ts_key LIMIT 1) AS lo,
    (SELECT ts_key FROM messages ORDER BY ts_key DESC LIMIT 1) AS hi`;
  const walkCount = (conditions: string[], params: Params, table: string, byTime: boolean): number => {
    const middle = counter && byTime && messages() >= SPLIT_ROWS ? middleOf(prepare(bounds).get(params) as Row) : null;
    if (counter === null || middle === null) return count(conditions, params, table);
    const split = { ...params, middle };
    // The middle lies past the first row at or after `since`: the later part needs only it as a bound
    // (given two, SQLite would seek by the first and filter by the other).
    const later = [...conditions.filter((c) => c !== SINCE), 'ts_key >= :middle'];
    const parts = counter.count(countSql(later, table), split, revision(), () => count([...conditions, 'ts_key < :middle'], split, table));
    return parts.own + (parts.other ?? count(later, split, table));
  };

  // One probe of a partial index: the usual database has no NUL in any text, and pays nothing for them.
  const nulProbe = db.prepare(`SELECT 1 FROM messages INDEXED BY idx_messages_text_nul WHERE ${NUL_TEXT} LIMIT 1`);
  // Row by row: LIKE over the rows the other filters leave, plus the NUL-holding texts LIKE cut short.
  const scanCount = (filters: string[], text: TextMatch, params: Params, table: string): number => {
    const byTime = table === BY_TIME_WITH_TEXT;
    if (text.params.pattern === undefined || !text.nulTexts) return walkCount([...filters, text.scan], params, table, byTime);
    return (
      walkCount([...filters, LIKE], params, table, byTime) +
      count([NUL_TEXT, ...filters, `NOT (${LIKE})`, FOLDED], params, 'messages INDEXED BY idx_messages_text_nul')
    );
  };

  return { prepare, count, walkCount, scanCount, nulTexts: () => nulProbe.get() !== undefined };
}

export function createListReader(db: DatabaseSync, totals: Totals, counter: Counter | null): (q: ListQuery) => ListResult {
  const { prepare, count, walkCount, scanCount, nulTexts } = counts(db, totals, counter);
  const { messages } = totals;
  return (q) => {
    const filters: string[] = [];
    const params: Params = {};
    if (q.from !== undefined) {
      filters.push('from_msisdn = :from');
      params.from = q.from;
    }
    if (q.since !== undefined) {
      filters.push(SINCE);
      params.since = q.since;
    }
    const text = q.q === undefined ? null : textMatch(q.q, nulTexts());
    if (text) Object.assign(params, text.params);
    // Through the index only without `from`: a sender's rows, walked with LIKE, are always fewer.
    const viaIndex = text !== null && text.indexed && q.from === undefined;
    const scanned = q.from === undefined ? BY_TIME_WITH_TEXT : 'messages';

    let total: number;
    let hits: number | null = null;
    if (!text) total = filters.length === 0 ? messages() : walkCount(filters, params, 'messages', q.from === undefined);
    else if (viaIndex) {
      hits = count(['messages_search MATCH :phrase'], { phrase: params.phrase ?? null }, 'messages_search');
      hits += count([WAITING, text.scan], params);
      if (text.nulTexts) hits -= count([NUL_TEXT, `rowid IN (${MATCHED})`, `NOT ${FOLDED}`], params, 'messages INDEXED BY idx_messages_text_nul');
      if (q.since === undefined) total = hits;
      else total = hits <= INDEX_COUNT_LIMIT ? count([...filters, text.index], params) : scanCount(filters, text, params, scanned);
    } else total = scanCount(filters, text, params, scanned);
    if (total === 0 || (q.after === undefined && q.offset >= total)) return { data: [], total, more: false };

    const conditions = [...filters];
    let table = 'messages';
    if (q.after !== undefined) {
      conditions.push(`(ts_key, message_id) > (${sortKey(':after_ts')}, :after_id)`);
      params.after_ts = q.after.ts;
      params.after_id = q.after.messageId;
    }
    // A page past the middle of the matches is walked from the end: at most half of them. `total` is
    // exact and of the same snapshot, so the page is the same (a cursor's page is always walked forward).
    const fromEnd = q.after === undefined && q.offset * 2 > total;
    const limit = fromEnd ? Math.min(q.limit, total - q.offset) : q.limit;
    const depth = fromEnd ? total - q.offset : q.offset + q.limit;
    if (text) {
      // Sorting the index's hits costs about 10 times walking a row of the time-and-text index (a hit
      // about 0.85 us, a walked row 0.25); a walk visits the rows up to the page's end, fewer the denser
      // the matches.
      const sortHits = hits !== null && 10 * hits * hits < depth * messages();
      conditions.push(sortHits ? text.index : text.scan);
      if (!sortHits) table = scanned;
    }
    params.limit = fromEnd ? limit : limit + 1;
    params.offset = fromEnd ? total - q.offset - limit : q.offset;
    const order = fromEnd ? 'ts_key DESC, message_id DESC' : 'ts_key, message_id';
    const rows = prepare(
      `SELECT message_id, from_msisdn, to_msisdn, ts, text FROM ${table}${where(conditions)}
       ORDER BY ${order} LIMIT :limit OFFSET :offset`,
    ).all(params) as Row[];
    if (fromEnd) return { data: rows.reverse().map(toMessage), total, more: q.offset + rows.length < total };
    return { data: rows.slice(0, q.limit).map(toMessage), total, more: rows.length > q.limit };
  };
}

/** The whole second halfway between two sort keys, or null when they are too close to be worth a cut. */
function middleOf({ lo, hi }: Row): string | null {
  const [from, to] = [lo, hi].map((k) => Date.parse(`${String(k).slice(0, 19)}Z`)) as [number, number];
  return to - from >= 2000 ? new Date((from + to) / 2).toISOString().slice(0, 19) : null;
}

function where(conditions: string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

function toMessage(r: Row): Message {
  return {
    messageId: String(r.message_id),
    from: String(r.from_msisdn),
    to: String(r.to_msisdn),
    ts: String(r.ts),
    text: r.text === null ? null : String(r.text),
  };
}
