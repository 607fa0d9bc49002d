// How GET /messages is answered from SQLite: which index each filter goes through, how `total` is
// counted without a full scan, and how the page is found. Runs on the store's reading connection,
// inside the read transaction the store opens for each answer.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { ZONE_BITS, zoneRowids } from './sqlite-chars.ts';
import { SEARCH_PAD, sortKeySql } from './sqlite-schema.ts';
import type { ListQuery, ListResult, Message } from './store.ts';

/** A text query of fewer code points than this is no trigram: the index's terms that begin with it are. */
export const MIN_INDEXED_QUERY = 3;
/**
 * A 1-character q goes through the search index only when at most this share of the newest
 * SAMPLE_ROWS texts hold it. A common letter's terms hold millions of entries: merging them (about
 * 60 ns each) costs more than reading every row (about 170 ms at 1M rows), so such a q scans instead.
 */
export const SHORT_QUERY_SHARE = 0.25;
const SAMPLE_ROWS = 2_000;
/** Over at most this many rows a text query checks each row rather than asking the search index. */
export const WALK_LIMIT = 5_000;
/**
 * A page is taken from the search index's hits (then sorted) only when at most this many rows match;
 * otherwise it is found by walking the sort order, which stops once the page is full.
 */
export const SORT_LIMIT = 5_000;
/**
 * A `since` with a text query counts the hits zone by zone (search_zones) unless more zones than this
 * straddle `since` or break the zones at or after it into runs: rows far out of time order.
 */
export const MAX_ZONE_STEPS = 32;
/**
 * A text query's page whose walk would visit more rows than this (a deep `offset` into a common word),
 * and more rows than match in all (or any, for a q counted per zone), starts the walk at a zone near the
 * offset instead (see skipTo): at 1M rows, `q=order&offset=99000` walked 500,000 rows (140-230 ms).
 */
export const DEEP_WALK = 25_000;
/** What reading one row by rowid costs, in index entries walked (measured at 1M rows: about 5). */
const LOOKUP_COST = 5;

type Row = Record<string, unknown>;

/** The form of one list statement: which filters it has, how text is matched, page or count. */
type Shape = {
  from: boolean;
  since: boolean;
  /**
   * none: no text filter; like: LIKE on each row visited; search: the search index drives and LIKE
   * checks each row. For counts, the search index alone answers: count-search looks up each hit's row
   * for the other filters; count-walk walks the sender or sort-order index (which hold rowids) and checks
   * each entry against the set of hits, reading no row. Both count indexed rows only: count-pending
   * adds the rows not yet indexed (search_pending), checked with LIKE.
   */
  q: 'none' | 'like' | 'search' | 'count-search' | 'count-walk' | 'count-pending';
  after: boolean;
  count: boolean;
  /**
   * How a row's text is checked against q. LIKE ends a string at its first U+0000 (so does FTS5's query
   * syntax); instr and lower() do not. like: LIKE alone, while no stored text holds a NUL (the usual
   * case, checked through a partial index); nul-safe: LIKE, or instr over lower(text) for a text that
   * holds one; instr: instr alone, for a q that holds one.
   */
  check: 'like' | 'nul-safe' | 'instr';
};

export type ListReaderOptions = {
  /** Rows a text query checks one by one before it asks the search index (WALK_LIMIT). */
  walkLimit: number;
  /** Matching rows a page may sort from the search hits rather than walk the sort order (SORT_LIMIT). */
  sortLimit: number;
  /** Rows a page's walk may visit before it starts at a zone near the offset instead (DEEP_WALK). */
  deepWalk: number;
  /** Messages stored (kept by trigger). */
  messages: () => number;
  /** Rows waiting in search_pending for the search index. */
  waiting: () => number;
  /** The earliest and latest `ts` stored, or null when empty. */
  timeRange: () => { first: string; last: string } | null;
};

/** A page of messages and the total of all matches, for one list query. */
export function createListReader(db: DatabaseSync, options: ListReaderOptions): (q: ListQuery) => ListResult {
  // A sender's count: its row plus the deltas waiting to be folded into it (see MIGRATION_5).
  const senderCountStmt = db.prepare(
    `SELECT coalesce((SELECT count FROM sender_counts WHERE from_msisdn = :from), 0)
       + (SELECT coalesce(sum(d), 0) FROM sender_deltas WHERE from_msisdn = :from) AS count`,
  );
  const hitsStmt = db.prepare('SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH ?');
  // The search index's term list, in order (temp: a view of this connection, nothing written to the file).
  db.exec('CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_terms USING fts5vocab(main, messages_fts, row)');
  const termsStmt = db.prepare('SELECT term FROM temp.search_terms WHERE term >= ? AND term < ?');
  const sampleStmt = db.prepare(
    `SELECT count(*) AS n, total(text LIKE :pattern ESCAPE '\\') AS hits FROM (SELECT text FROM messages ORDER BY rowid DESC LIMIT ${SAMPLE_ROWS})`,
  );

  // The FTS5 query for q, or null when the index cannot answer it and each row is checked instead.
  // 3+ code points: one phrase of q's trigrams. 1-2: any term that begins with q (see SEARCH_PAD).
  const searchMatch = (q: string, pattern: string): string | null => {
    if (q.includes(SEARCH_PAD) || q.includes('\u0000')) return null;
    const folded = foldAscii(q);
    const length = Array.from(q).length;
    if (length >= MIN_INDEXED_QUERY) return quotePhrase(folded);
    if (length === 1) {
      const sample = sampleStmt.get({ pattern }) as Row;
      if (Number(sample.hits) > Number(sample.n) * SHORT_QUERY_SHARE) return null;
    }
    // The terms that begin with q lie between q and q with its last character one higher.
    const terms = (termsStmt.all(folded, prefixEnd(folded)) as Row[]).map((row) => quotePhrase(String(row.term)));
    // No term at all: an empty phrase, which matches nothing.
    return terms.length === 0 ? '""' : terms.join(' OR ');
  };
  const sortKeyStmt = db.prepare(`SELECT ${sortKeySql(':since')} AS k`);
  // Per zone: 1 when all its indexed rows are at or after the key, -1 when all are before, 0 both.
  const zoneSidesStmt = db.prepare('SELECT zone, (lo >= :key) - (hi < :key) AS side FROM search_zones ORDER BY zone');
  const rangeHitsStmt = db.prepare('SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH :match AND rowid BETWEEN :lo AND :hi');
  const zoneHitsStmts = [true, false].map((below) =>
    db.prepare(
      `SELECT count(*) AS n FROM messages WHERE rowid BETWEEN :lo AND :hi AND +ts_key ${below ? '<' : '>='} :key
       AND rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :match AND rowid BETWEEN :lo AND :hi)`,
    ),
  ) as [StatementSync, StatementSync];

  // Indexed rows matching `match` at or after the sort key `key` (or, `below`, before it), counted zone
  // by zone: each run of zones wholly on that side by one rowid range of the search index (reading no
  // row; zones between them hold no indexed row), each zone that straddles it by checking its rows.
  // null: too many steps (MAX_ZONE_STEPS).
  const zonedHits = (match: string, key: string, below: boolean): number | null => {
    const [wanted, zoneHitsStmt] = below ? [-1, zoneHitsStmts[0]] : [1, zoneHitsStmts[1]];
    // Zones (rowid >> ZONE_BITS: exact as numbers) first to last, of a run or one straddling zone.
    const steps: { first: number; last: number; straddles: boolean }[] = [];
    let run: { first: number; last: number; straddles: boolean } | null = null;
    for (const row of zoneSidesStmt.all({ key }) as Row[]) {
      const [zone, side] = [Number(row.zone), Number(row.side)];
      if (side === wanted) {
        if (run === null) steps.push((run = { first: zone, last: zone, straddles: false }));
        run.last = zone;
        continue;
      }
      run = null;
      if (side === 0) steps.push({ first: zone, last: zone, straddles: true });
      if (steps.length > MAX_ZONE_STEPS) return null;
    }
    if (steps.length > MAX_ZONE_STEPS) return null;
    let n = 0;
    // Rowid bounds as BigInt, so SQLite gets integers: given a JavaScript number (a REAL), FTS5 does not
    // seek to the range but filters every hit (measured: 19 ms instead of 0.6 for 1 % of the rows).
    for (const { first, last, straddles } of steps) {
      const [lo, hi] = zoneRowids(BigInt(first), BigInt(last));
      n += Number(((straddles ? zoneHitsStmt : rangeHitsStmt).get(straddles ? { match, lo, hi, key } : { match, lo, hi }) as Row).n);
    }
    return n;
  };
  // The search hit at a position in rowid order from a rowid on (FTS5 steps through the hits before it,
  // reading no row: about 0.1 us each), and the first zone holding rows at or after a sort key.
  const nthHitStmt = db.prepare(
    'SELECT rowid AS r FROM messages_fts WHERE messages_fts MATCH :match AND rowid >= :lo ORDER BY rowid LIMIT 1 OFFSET :n',
  );
  nthHitStmt.setReadBigInts(true);
  const firstZoneStmt = db.prepare('SELECT min(zone) AS zone FROM search_zones WHERE hi >= :key');
  firstZoneStmt.setReadBigInts(true);
  // A zone and up to two before it, with their earliest sort keys.
  const zonesUpToStmt = db.prepare('SELECT lo FROM search_zones WHERE zone <= ? ORDER BY zone DESC LIMIT 3');

  // Where a deep page of a text query (with or without `since`) can start: a later `since`, at the
  // earliest sort key of a zone, and how many matches lie between the two, counted exactly by
  // `between` (see the caller). Rows mostly arrive in time order, so the
  // zone of the offset's hit counted in rowid order from the first zone that reaches `since` is a good
  // guess; if the exact count says it starts past the offset (rows out of time order), the two zones
  // before it are tried. null: no later start found.
  const skipTo = (
    match: string,
    offset: number,
    since: string | undefined,
    between: (start: string, match: string) => number | null,
  ): { since: string; before: number } | null => {
    const sinceKey = since === undefined ? '' : String((sortKeyStmt.get({ since }) as Row).k);
    const first = (firstZoneStmt.get({ key: sinceKey }) as Row).zone as bigint | null;
    if (first === null) return null;
    const [firstRowid] = zoneRowids(first);
    const hit = (nthHitStmt.get({ match, lo: firstRowid, n: offset }) as Row | undefined)?.r as bigint | undefined;
    if (hit === undefined) return null;
    for (const { lo } of zonesUpToStmt.all(hit >> BigInt(ZONE_BITS)) as Row[]) {
      if (typeof lo !== 'string' || lo <= sinceKey) return null;
      // A sort key with a Z is a timestamp whose key it is again (checked: an operator may store anything).
      const start = `${lo}Z`;
      if ((sortKeyStmt.get({ since: start }) as Row).k !== lo) return null;
      const before = between(start, match);
      if (before === null) return null;
      if (before >= 0 && before <= offset) return { since: start, before };
    }
    return null;
  };
  // Per zone of the index: its side of the key (as zoneSidesStmt), how many of its texts hold :ch, and
  // whether that count awaits a recount.
  const charZonesStmt = db.prepare(
    `SELECT z.zone AS zone, (z.lo >= :key) - (z.hi < :key) AS side, coalesce(c.n, 0) AS n, d.zone IS NOT NULL AS dirty
     FROM search_zones z LEFT JOIN search_chars c ON c.zone = z.zone AND c.ch = :ch LEFT JOIN search_dirty d ON d.zone = z.zone`,
  );
  const zoneRowsStmts = new Map<string, StatementSync>();
  // Indexed texts of one zone that hold q (and are at or after the key), checked row by row.
  const zoneRowsStatement = (check: Shape['check'], since: boolean): StatementSync => {
    const key = `${check}/${since}`;
    let stmt = zoneRowsStmts.get(key);
    if (!stmt) {
      stmt = db.prepare(
        `SELECT count(*) AS n FROM messages WHERE rowid BETWEEN :lo AND :hi AND rowid NOT IN (SELECT id FROM search_pending)
         ${since ? 'AND +ts_key >= :key' : ''} AND ${TEXT_CHECKS[check]}`,
      );
      stmt.setAllowUnknownNamedParameters(true);
      zoneRowsStmts.set(key, stmt);
    }
    return stmt;
  };

  // Indexed texts holding `ch`, 1 character or an ASCII pair (at or after `since`): the sum of the
  // zones' counts, with each dirty or straddling zone checked row by row. null: more such zones than
  // MAX_ZONE_STEPS; the caller counts another way.
  const charCount = (ch: string, since: string | undefined, check: Shape['check'], params: Record<string, string | number>): number | null => {
    // Every sort key is at or after '': without `since` each zone with bounds lies wholly after it.
    const key = since === undefined ? '' : String((sortKeyStmt.get({ since }) as Row).k);
    let n = 0;
    const checks: bigint[] = [];
    for (const row of charZonesStmt.all({ key, ch }) as Row[]) {
      const side = Number(row.side);
      if (side === -1) continue;
      if (side === 1 && Number(row.dirty) === 0) {
        n += Number(row.n);
        continue;
      }
      checks.push(BigInt(Number(row.zone)));
      if (checks.length > MAX_ZONE_STEPS) return null;
    }
    const stmt = zoneRowsStatement(check, since !== undefined);
    for (const zone of checks) {
      const [lo, hi] = zoneRowids(zone);
      n += Number((stmt.get({ ...params, lo, hi, key }) as Row).n);
    }
    return n;
  };
  // The search index reads past a NUL as if it were not there, so it also matches a text holding one
  // where q would span the NUL (`xin` in `x` NUL `in`); it never misses a text that holds q. While any
  // text holds a NUL, counts from the index are corrected by such texts (few; found through the partial
  // index idx_messages_text_nul): indexed, matched by the index, not holding q, within the count's filters.
  const falseHitStmts = new Map<string, StatementSync>();
  const nulFalseHits = (filters: { from?: boolean; since?: boolean; key?: '>=' | '<' }, params: Record<string, unknown>): number => {
    const id = JSON.stringify(filters);
    let stmt = falseHitStmts.get(id);
    if (!stmt) {
      const where = ['instr(text, char(0)) > 0', 'rowid NOT IN (SELECT id FROM search_pending)'];
      if (filters.from) where.push('from_msisdn = :from');
      if (filters.since) where.push(`ts_key >= ${sortKeySql(':since')}`);
      if (filters.key) where.push(`ts_key ${filters.key} :key`);
      where.push('EXISTS (SELECT 1 FROM messages_fts WHERE messages_fts MATCH :match AND rowid = messages.rowid)');
      where.push(`NOT ${TEXT_CHECKS['nul-safe']}`);
      stmt = db.prepare(`SELECT count(*) AS n FROM messages WHERE ${where.join(' AND ')}`);
      stmt.setAllowUnknownNamedParameters(true);
      falseHitStmts.set(id, stmt);
    }
    return Number((stmt.get(params as Record<string, string | number>) as Row).n);
  };
  // Whether any text holds U+0000: one probe of the partial index idx_messages_text_nul.
  const nulTextStmt = db.prepare('SELECT 1 FROM messages WHERE instr(text, char(0)) > 0 LIMIT 1');
  const beforeStmt = db.prepare(`SELECT count(*) AS n FROM messages WHERE ts_key < ${sortKeySql(':since')}`);
  const listStmts = new Map<string, StatementSync>();

  // One statement per shape of query, built from fixed fragments; every value is a bound parameter.
  const listStatement = (shape: Shape): StatementSync => {
    const key = JSON.stringify(shape);
    let stmt = listStmts.get(key);
    if (!stmt) {
      // When the search index drives, '+' keeps the planner from walking another index instead; when
      // an index walk drives, INDEXED BY keeps it from looking up every search hit's row instead.
      const plus = shape.q === 'search' || shape.q === 'count-search' || shape.q === 'count-pending' ? '+' : '';
      const indexed = shape.q !== 'count-walk' ? '' : `INDEXED BY ${shape.from ? 'idx_messages_from' : 'idx_messages_ts_key'}`;
      const where: string[] = [];
      if (shape.from) where.push(`${plus}from_msisdn = :from`);
      if (shape.since) where.push(`${plus}ts_key >= ${sortKeySql(':since')}`);
      if (shape.q === 'count-search' || shape.q === 'count-walk') {
        where.push('rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :match)');
      } else if (shape.q === 'search') {
        where.push('rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :match UNION ALL SELECT id FROM search_pending)');
      } else if (shape.q === 'count-pending') where.push('rowid IN (SELECT id FROM search_pending)');
      // Also checked when the index drives a page: a stale index can never put a wrong row on it.
      if (shape.q === 'like' || shape.q === 'search' || shape.q === 'count-pending') where.push(TEXT_CHECKS[shape.check]);
      // A cursor is a range on the sort-order index, however deep: no rows skipped one by one.
      if (shape.after) where.push(`(${plus}ts_key, message_id) > (${sortKeySql(':after_ts')}, :after_id)`);
      const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      stmt = db.prepare(
        shape.count
          ? `SELECT count(*) AS n FROM messages ${indexed} ${clause}`
          : `SELECT message_id, from_msisdn, to_msisdn, ts, text FROM messages ${clause}
             ORDER BY ts_key ASC, message_id ASC LIMIT :limit OFFSET :offset`,
      );
      // One parameter set serves every shape; a shape without the search ignores :match.
      stmt.setAllowUnknownNamedParameters(true);
      listStmts.set(key, stmt);
    }
    return stmt;
  };

  // Rows at or after `since`, guessed from where it falls between the first and last message. Only
  // steers the choices below; never reported.
  const sinceEstimate = (since: string, all: number): number => {
    const range = options.timeRange();
    if (range === null) return 0;
    const [lo, hi, at] = [Date.parse(range.first), Date.parse(range.last), Date.parse(since)];
    const share = (hi - at) / (hi - lo);
    return Number.isFinite(share) ? Math.round(all * Math.min(1, Math.max(0, share))) : all;
  };

  return (q: ListQuery): ListResult => {
    const all = options.messages();
    const params: Record<string, string | number> = {};
    if (q.from !== undefined) params.from = q.from;
    if (q.since !== undefined) params.since = q.since;
    if (q.q !== undefined) params.pattern = `%${escapeLike(q.q)}%`;
    if (q.q !== undefined) params.needle = foldAscii(q.q);
    const check: Shape['check'] =
      q.q === undefined ? 'like' : q.q.includes('\u0000') ? 'instr' : nulTextStmt.get() === undefined ? 'like' : 'nul-safe';

    // Sizes of the candidate ways in: exact for the sender and the search, estimated for since.
    const senderRows = q.from === undefined ? all : Number((senderCountStmt.get({ from: q.from }) as Row).count);
    const sinceRows = q.since === undefined ? all : sinceEstimate(q.since, all);
    const walkRows = Math.min(senderRows, sinceRows);
    // Over few rows a LIKE on each beats any index; the search index is asked only beyond that.
    const match = q.q === undefined || walkRows <= options.walkLimit ? null : searchMatch(q.q, String(params.pattern));
    if (match !== null) params.match = match;
    // A 1-character q, or 2 ASCII characters, and no sender: counted from the zones' character counts.
    const ch = q.q === undefined || q.from !== undefined || walkRows <= options.walkLimit || !counts(q.q) ? null : foldAscii(q.q);
    const counted = ch === null ? null : charCount(ch, q.since, check, params);
    const waiting = match === null && counted === null ? 0 : options.waiting();
    // Hits: rows the index finds plus rows still waiting to be indexed (each a candidate, checked by LIKE).
    // Counted only when a choice below needs them: for a common word that count takes tens of ms.
    let indexedCount: number | undefined;
    const nul = check === 'nul-safe';
    const indexed = (): number =>
      (indexedCount ??= Number((hitsStmt.get(match) as Row).n) - (nul && match !== null ? nulFalseHits({}, params) : 0));
    // Indexed matches at or after `since` (or before it), by zones, less the index's false hits.
    const zoned = (m: string, since: string, below = false): number | null => {
      const key = String((sortKeyStmt.get({ since }) as Row).k);
      const n = zonedHits(m, key, below);
      if (n === null || !nul) return n;
      return n - nulFalseHits({ key: below ? '<' : '>=' }, { ...params, match: m, key });
    };
    const hits = (): number | null => (match === null ? null : indexed() + waiting);
    const base = { from: q.from !== undefined, since: q.since !== undefined, after: false, check };
    const like: Shape['q'] = q.q === undefined ? 'none' : 'like';
    // Rows waiting for the index that match, at or after `since` (the query's own by default).
    const waitingMatches = (since = q.since): number => {
      if (waiting === 0) return 0;
      const stmt = listStatement({ ...base, since: since !== undefined, q: 'count-pending', count: true });
      return Number((stmt.get(since === undefined ? params : { ...params, since }) as Row).n);
    };

    // total: from kept counts or the index when one filter alone is set; otherwise count the matches
    // through whichever way in is smallest.
    let total: number;
    if (q.since === undefined && q.q === undefined) total = senderRows;
    else if (counted !== null) total = counted + waitingMatches();
    else if (q.from === undefined && q.since === undefined && match !== null) total = indexed() + waitingMatches();
    else if (q.from === undefined && q.q === undefined && q.since !== undefined) {
      // Count the smaller side of the boundary.
      total = sinceRows * 2 > all
        ? all - Number((beforeStmt.get({ since: q.since }) as Row).n)
        : Number((listStatement({ ...base, q: 'none', count: true }).get(params) as Row).n);
    } else {
      // `since` and q alone: by zones, when the rows are in time order enough for that.
      const byZones = q.from === undefined && q.since !== undefined && match !== null ? zoned(match, q.since) : null;
      if (byZones !== null) total = byZones + waitingMatches();
      else {
        // A row lookup costs several index entries: walk when the hits are not far fewer than the walk.
        const h = hits();
        const textCount: Shape['q'] = h === null ? like : h * LOOKUP_COST < walkRows ? 'count-search' : 'count-walk';
        total = Number((listStatement({ ...base, q: textCount, count: true }).get(params) as Row).n);
        if (h !== null) total += waitingMatches() - (nul ? nulFalseHits({ from: base.from, since: base.since }, params) : 0);
      }
    }
    if (total === 0 || (q.after === undefined && q.offset >= total)) return { data: [], total, more: false };

    // The page: walk the sort order (stops once the page is full), or, when the search finds fewer rows
    // than that walk would visit, take its hits and sort them.
    const walkCost = Math.min(walkRows, ((q.offset + q.limit + 1) * walkRows) / total);
    // The rows sorted are those that match (total); the rows looked at, the hits.
    const viaSearch = match !== null && total <= options.sortLimit && (hits() ?? Infinity) < walkCost;
    // A deep offset into a text query (and `since`): the walk starts near the offset, not at the top.
    // The matches between `since` and the start: the total less those at or after the start, which the
    // zones' counts give cheaply and the search index at about the cost of the total; or, without
    // `since` and with the offset in the first half, the search index's matches before the start
    // (about the offset's worth of hits) plus the waiting ones before it.
    const fromTop = q.since === undefined && q.offset * 2 < total;
    const between = (start: string, match: string): number | null => {
      if (fromTop && counted === null) {
        const below = zoned(match, start, true);
        return below === null ? null : below + waitingMatches() - waitingMatches(start);
      }
      const after = ch !== null && counted !== null ? charCount(ch, start, check, params) : zoned(match, start);
      return after === null ? null : total - after - waitingMatches(start);
    };
    const deep =
      !viaSearch && match !== null && q.from === undefined && q.after === undefined &&
      walkCost > options.deepWalk && (total < walkCost || counted !== null || fromTop)
        ? skipTo(match, q.offset, q.since, between)
        : null;
    const page = listStatement({ ...base, since: base.since || deep !== null, q: viaSearch ? 'search' : like, after: q.after !== undefined, count: false });
    const pageParams: Record<string, string | number> = { ...params, limit: q.limit + 1, offset: q.offset };
    if (deep) Object.assign(pageParams, { since: deep.since, offset: q.offset - deep.before });
    if (q.after) Object.assign(pageParams, { after_ts: q.after.ts, after_id: q.after.messageId });
    // One row past the page tells whether another page follows.
    const rows = page.all(pageParams) as Row[];
    return { data: rows.slice(0, q.limit).map(toMessage), total, more: rows.length > q.limit };
  };
}

/** Whether search_chars counts q per zone: any 1 character, or a pair of ASCII ones (see sqlite-chars.ts). */
function counts(q: string): boolean {
  const length = Array.from(q).length;
  return length === 1 || (length === 2 && /^[\x00-\x7f]{2}$/.test(q));
}

/** ASCII-only lower-casing, as SQLite's lower() did to the indexed text. */
function foldAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (c) => c.toLowerCase());
}

/** The least string above every string that begins with `prefix` (code point order, as SQLite compares). */
function prefixEnd(prefix: string): string {
  const chars = Array.from(prefix);
  const last = chars.pop()?.codePointAt(0) ?? 0;
  // Past the surrogates (never in a string SQLite holds). After the last code point there is none: a
  // run of it longer than any term (3 characters) is above every term that begins with the prefix.
  if (last === 0x10ffff) return chars.join('') + '\u{10FFFF}'.repeat(4);
  return chars.join('') + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
}

/** An FTS5 phrase of exactly these characters ("" escapes a quote): nothing in it is query syntax. */
function quotePhrase(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

function toMessage(r: Row): Message {
  return {
    messageId: String(r.message_id),
    from: String(r.from_msisdn),
    to: String(r.to_msisdn),
    ts: String(r.ts),
    text: r.text === null || r.text === undefined ? null : String(r.text),
  };
}

const TEXT_CHECKS: Record<Shape['check'], string> = {
  like: "text LIKE :pattern ESCAPE '\\'",
  'nul-safe': "(text LIKE :pattern ESCAPE '\\' OR (instr(text, char(0)) > 0 AND instr(lower(text), :needle) > 0))",
  instr: 'instr(lower(text), :needle) > 0',
};

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
