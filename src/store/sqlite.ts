import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { MessageChannel, Worker } from 'node:worker_threads';
import { describeSqliteError, isTransient, type SqliteErrorInfo } from './sqlite-errors.ts';
import { migrate, SEARCH_PAD, sortKeySql, ZONE_BITS } from './sqlite-schema.ts';
import {
  storeUnavailable,
  type InsertOutcome,
  type ListQuery,
  type ListResult,
  type Message,
  type Stats,
  type Store,
} from './store.ts';
import {
  createWriter,
  fileId,
  IDLE_INDEX_MS,
  INDEX_BACKLOG,
  type InsertRow,
  type WriterConfig,
  type WriterReply,
  type WriterRequest,
} from './writer.ts';

export { SCHEMA, SCHEMA_VERSION } from './sqlite-schema.ts';

/** Upper bound on rows per batch sent to the writer; a burst larger than this takes several. */
export const MAX_BATCH = 512;
/** Batches sent to the writer and not yet answered, at most; the rest wait in the queue. */
export const MAX_IN_FLIGHT = 8;
/** How long one statement waits for another writer's lock. Short: node:sqlite blocks its thread meanwhile. */
export const BUSY_TIMEOUT_MS = 50;
/**
 * SQLite's page cache, KiB (its default is 2,000). Rows a query reads by rowid lie all over a large file;
 * kept here, a repeated sender/time/text query at 1M rows runs in about 1.5 ms instead of 9.
 */
export const CACHE_KIB = 16_000;
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
 * The writer thread's page cache, KiB. It touches the tail of each index and the pages a new key lands
 * on; reads keep their own, larger cache on the main thread.
 */
export const WRITER_CACHE_KIB = 8_000;
/**
 * A `since` with a text query counts the hits zone by zone (search_zones) unless more zones than this
 * straddle `since` or break the zones at or after it into runs: rows far out of time order.
 */
export const MAX_ZONE_STEPS = 32;
const ZONE_SHIFT = BigInt(ZONE_BITS);
/** What reading one row by rowid costs, in index entries walked (measured at 1M rows: about 5). */
const LOOKUP_COST = 5;

export type WriterControl = { exec(sql: string): Promise<void>; stop(): Promise<void> };

export type SqliteStoreOptions = {
  path: string;
  /** After each group commit: rows in the transaction and seconds from BEGIN to COMMIT, for metrics. */
  onCommit?: (rows: number, seconds: number) => void;
  /** 'FULL' (default) survives power loss; 'NORMAL' survives a process crash only. */
  synchronous?: 'FULL' | 'NORMAL';
  clock?: () => Date;
  /** Rows a text query checks one by one before it asks the search index (tests lower it). */
  walkLimit?: number;
  /** Quiet time before the writer indexes rows waiting for search (tests hold them with Infinity). */
  searchIndexDelayMs?: number;
  /** Rows waiting for search beyond which each commit also indexes some (tests lower it). */
  searchBacklog?: number;
  /** Matching rows a page may sort from the search hits rather than walk the sort order (tests raise it). */
  sortLimit?: number;
  /** Progress of start-up work (migrations) at INFO; storage trouble and its end at ERROR and INFO. */
  onEvent?: (msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'ERROR') => void;
  /**
   * Fault injection for tests: `exec` runs SQL on the writing connection, which lives in the writer
   * thread (PRAGMA max_page_count, query_only); `stop` ends that thread as a crash of it would.
   */
  onOpen?: (writer: WriterControl) => void;
};

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

type Pending = { row: InsertRow; resolve: (o: InsertOutcome) => void; reject: (e: unknown) => void };
type Row = Record<string, unknown>;

/** A Store on SQLite; `ready` settles once its writer thread has the database open. */
export type SqliteStore = Store & { ready: Promise<void> };

export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const clock = options.clock ?? (() => new Date());
  const onEvent = options.onEvent ?? (() => {});
  const walkLimit = options.walkLimit ?? WALK_LIMIT;
  const sortLimit = options.sortLimit ?? SORT_LIMIT;
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });

  const db = new DatabaseSync(options.path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${options.synchronous ?? 'FULL'}`);
    db.exec(`PRAGMA cache_size = -${CACHE_KIB}`);
    migrate(db, onEvent);
  } catch (err) {
    db.close();
    throw err;
  }
  const opened = options.path === ':memory:' ? null : fileId(options.path);
  const writerConfig: WriterConfig = {
    path: options.path,
    synchronous: options.synchronous ?? 'FULL',
    cacheKib: WRITER_CACHE_KIB,
    busyTimeoutMs: BUSY_TIMEOUT_MS,
    fileId: opened,
    allowExec: options.onOpen !== undefined,
    idleIndexMs: options.searchIndexDelayMs ?? IDLE_INDEX_MS,
    indexBacklog: options.searchBacklog ?? INDEX_BACKLOG,
  };
  // A file gets its writer thread. ':memory:' is private to one connection, so its writer works inline.
  const writer = options.path === ':memory:' ? inlineWriter(writerConfig, db) : threadWriter(writerConfig);
  options.onOpen?.({
    exec: async (sql) => {
      const reply = await writer.send({ kind: 'exec', seq: 0, sql });
      if (!reply.ok) throw fromInfo(reply.error);
    },
    stop: () => writer.stop(),
  });

  const totalsStmt = db.prepare('SELECT messages, senders FROM message_totals WHERE id = 0');
  const topStmt = db.prepare(
    'SELECT from_msisdn, count FROM sender_counts ORDER BY count DESC, from_msisdn ASC LIMIT ?',
  );
  const firstStmt = db.prepare('SELECT ts FROM messages ORDER BY ts_key ASC, message_id ASC LIMIT 1');
  const lastStmt = db.prepare('SELECT ts FROM messages ORDER BY ts_key DESC, message_id DESC LIMIT 1');
  const senderCountStmt = db.prepare('SELECT count FROM sender_counts WHERE from_msisdn = ?');

  let queue: Pending[] = [];
  let scheduled = false;
  let inFlight = 0;
  let closing = false;
  let closed = false;
  let whenDrained: (() => void) | null = null;
  // The last write failure that may pass; readiness stays 503 until a write succeeds again.
  let trouble: string | null = null;

  const noteTrouble = (err: unknown): void => {
    const reason = describeSqliteError(err);
    // Logged once per episode (and when the cause changes), not once per refused request.
    if (trouble !== reason) onEvent('storage trouble: writes refused until it passes', { error: reason }, 'ERROR');
    trouble = reason;
  };
  const noteWriteOk = (): void => {
    if (trouble === null) return;
    onEvent('storage recovered', { was: trouble });
    trouble = null;
  };

  // Group commit: the inserts that arrive in one event-loop turn go to the writer as one batch, at once.
  // The writer puts every batch that queued up while it committed the last into its next transaction:
  // one fsync for all of them. Each caller hears back only after the writer reports that COMMIT done.
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  const flush = (): void => {
    scheduled = false;
    if (queue.length === 0) {
      if (inFlight === 0) whenDrained?.();
      return;
    }
    if (inFlight >= MAX_IN_FLIGHT) return;
    const batch = queue.length <= MAX_BATCH ? queue : queue.slice(0, MAX_BATCH);
    queue = queue.length <= MAX_BATCH ? [] : queue.slice(MAX_BATCH);
    inFlight += 1;
    if (queue.length > 0) schedule();
    void writer.send({ kind: 'insert', seq: 0, rows: batch.map((p) => p.row) }).then((reply) => {
      inFlight -= 1;
      settle(batch, reply);
      flush();
    });
  };

  const settle = (batch: Pending[], reply: WriterReply): void => {
    if (!reply.ok) {
      const err = fromInfo(reply.error);
      if (isTransient(err)) noteTrouble(err);
      for (const p of batch) p.reject(mapError(err));
      return;
    }
    const outcomes = reply.outcomes ?? [];
    if (outcomes.some((o) => typeof o === 'string')) noteWriteOk();
    batch.forEach((p, i) => {
      const outcome = outcomes[i] ?? 'duplicate';
      if (typeof outcome === 'string') return p.resolve(outcome);
      const err = fromInfo(outcome.error);
      if (isTransient(err)) noteTrouble(err);
      p.reject(mapError(err));
    });
    // Last: an observer can neither fail a committed batch nor delay its answers.
    for (const [rows, seconds] of reply.commits ?? []) options.onCommit?.(rows, seconds);
  };

  const read = <T>(work: () => T): Promise<T> => {
    if (closed) return Promise.reject(storeUnavailable('store is closed'));
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(mapError(err));
    }
  };

  // The writer thread commits (and moves rows from search_pending into the index) between any two
  // statements here: the counts and the page of one answer are read in one transaction, one snapshot.
  const snapshot = <T>(work: () => T): T => {
    db.exec('BEGIN');
    try {
      return work();
    } finally {
      db.exec('COMMIT');
    }
  };

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
  const zoneHitsStmt = db.prepare(
    `SELECT count(*) AS n FROM messages WHERE rowid BETWEEN :lo AND :hi AND +ts_key >= :key
     AND rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :match AND rowid BETWEEN :lo AND :hi)`,
  );

  // Indexed rows matching `match` at or after `since`, counted zone by zone: each run of zones wholly at
  // or after it by one rowid range of the search index (reading no row; zones between them hold no
  // indexed row), each zone that straddles it by checking its rows. null: too many steps (MAX_ZONE_STEPS).
  const zonedHits = (match: string, since: string): number | null => {
    const key = String((sortKeyStmt.get({ since }) as Row).k);
    // Zones (rowid >> ZONE_BITS: exact as numbers) first to last, of a run or one straddling zone.
    const steps: { first: number; last: number; straddles: boolean }[] = [];
    let run: { first: number; last: number; straddles: boolean } | null = null;
    for (const row of zoneSidesStmt.all({ key }) as Row[]) {
      const [zone, side] = [Number(row.zone), Number(row.side)];
      if (side === 1) {
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
      const [lo, hi] = [BigInt(first) << ZONE_SHIFT, ((BigInt(last) + 1n) << ZONE_SHIFT) - 1n];
      n += Number(((straddles ? zoneHitsStmt : rangeHitsStmt).get(straddles ? { match, lo, hi, key } : { match, lo, hi }) as Row).n);
    }
    return n;
  };
  const pendingStmt = db.prepare('SELECT count(*) AS n FROM search_pending');
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
    const first = firstStmt.get() as Row | undefined;
    const last = lastStmt.get() as Row | undefined;
    if (!first || !last) return 0;
    const [lo, hi, at] = [Date.parse(String(first.ts)), Date.parse(String(last.ts)), Date.parse(since)];
    const share = (hi - at) / (hi - lo);
    return Number.isFinite(share) ? Math.round(all * Math.min(1, Math.max(0, share))) : all;
  };

  const list = (q: ListQuery): ListResult => {
    const all = totals().messages;
    const params: Record<string, string | number> = {};
    if (q.from !== undefined) params.from = q.from;
    if (q.since !== undefined) params.since = q.since;
    if (q.q !== undefined) params.pattern = `%${escapeLike(q.q)}%`;
    if (q.q !== undefined) params.needle = foldAscii(q.q);
    const check: Shape['check'] =
      q.q === undefined ? 'like' : q.q.includes('\u0000') ? 'instr' : nulTextStmt.get() === undefined ? 'like' : 'nul-safe';

    // Sizes of the candidate ways in: exact for the sender and the search, estimated for since.
    const senderRows = q.from === undefined ? all : Number((senderCountStmt.get(q.from) as Row | undefined)?.count ?? 0);
    const sinceRows = q.since === undefined ? all : sinceEstimate(q.since, all);
    const walkRows = Math.min(senderRows, sinceRows);
    // Over few rows a LIKE on each beats any index; the search index is asked only beyond that.
    const match = q.q === undefined || walkRows <= walkLimit ? null : searchMatch(q.q, String(params.pattern));
    if (match !== null) params.match = match;
    const waiting = match === null ? 0 : Number((pendingStmt.get() as Row).n);
    // Hits: rows the index finds plus rows still waiting to be indexed (each a candidate, checked by LIKE).
    // Counted only when a choice below needs them: for a common word that count takes tens of ms.
    let indexedCount: number | undefined;
    const indexed = (): number => (indexedCount ??= Number((hitsStmt.get(match) as Row).n));
    const hits = (): number | null => (match === null ? null : indexed() + waiting);
    const base = { from: q.from !== undefined, since: q.since !== undefined, after: false, check };
    const like: Shape['q'] = q.q === undefined ? 'none' : 'like';
    const waitingMatches = (): number =>
      waiting === 0 ? 0 : Number((listStatement({ ...base, q: 'count-pending', count: true }).get(params) as Row).n);

    // total: from kept counts or the index when one filter alone is set; otherwise count the matches
    // through whichever way in is smallest.
    let total: number;
    if (q.since === undefined && q.q === undefined) total = senderRows;
    else if (q.from === undefined && q.since === undefined && match !== null) total = indexed() + waitingMatches();
    else if (q.from === undefined && q.q === undefined && q.since !== undefined) {
      // Count the smaller side of the boundary.
      total = sinceRows * 2 > all
        ? all - Number((beforeStmt.get({ since: q.since }) as Row).n)
        : Number((listStatement({ ...base, q: 'none', count: true }).get(params) as Row).n);
    } else {
      // `since` and q alone: by zones, when the rows are in time order enough for that.
      const zoned = q.from === undefined && q.since !== undefined && match !== null ? zonedHits(match, q.since) : null;
      if (zoned !== null) total = zoned + waitingMatches();
      else {
        // A row lookup costs several index entries: walk when the hits are not far fewer than the walk.
        const h = hits();
        const textCount: Shape['q'] = h === null ? like : h * LOOKUP_COST < walkRows ? 'count-search' : 'count-walk';
        total = Number((listStatement({ ...base, q: textCount, count: true }).get(params) as Row).n);
        if (h !== null) total += waitingMatches();
      }
    }
    if (total === 0 || (q.after === undefined && q.offset >= total)) return { data: [], total, more: false };

    // The page: walk the sort order (stops once the page is full), or, when the search finds fewer rows
    // than that walk would visit, take its hits and sort them.
    const walkCost = Math.min(walkRows, ((q.offset + q.limit + 1) * walkRows) / total);
    // The rows sorted are those that match (total); the rows looked at, the hits.
    const viaSearch = match !== null && total <= sortLimit && (hits() ?? Infinity) < walkCost;
    const page = listStatement({ ...base, q: viaSearch ? 'search' : like, after: q.after !== undefined, count: false });
    const pageParams: Record<string, string | number> = { ...params, limit: q.limit + 1, offset: q.offset };
    if (q.after) Object.assign(pageParams, { after_ts: q.after.ts, after_id: q.after.messageId });
    // One row past the page tells whether another page follows.
    const rows = page.all(pageParams) as Row[];
    return { data: rows.slice(0, q.limit).map(toMessage), total, more: rows.length > q.limit };
  };

  return {
    ready: writer.ready,

    insert(message) {
      if (closing) return Promise.reject(storeUnavailable('store is closed'));
      const row: InsertRow = [message.messageId, message.from, message.to, message.ts, message.text, clock().toISOString()];
      return new Promise<InsertOutcome>((resolve, reject) => {
        queue.push({ row, resolve, reject });
        schedule();
      });
    },

    list(q) {
      return read(() => snapshot(() => list(q)));
    },

    stats(topSenders) {
      return read((): Stats => {
        const t = totals();
        const top = topStmt.all(topSenders) as Row[];
        const first = firstStmt.get() as Row | undefined;
        const last = lastStmt.get() as Row | undefined;
        return {
          totalMessages: t.messages,
          sendersCount: t.senders,
          messagesPerSender: top.map((r) => ({ from: String(r.from_msisdn), count: Number(r.count) })),
          firstMessageTs: first ? String(first.ts) : null,
          lastMessageTs: last ? String(last.ts) : null,
        };
      });
    },

    searchBacklog() {
      return read(() => Number((pendingStmt.get() as Row).n));
    },

    async ping() {
      await read(totals);
      if (closing) throw storeUnavailable('store is closed');
      // Rolled back when all is well; committed in trouble, since only a commit shows the disk has room.
      const reply = await writer.send({ kind: 'probe', seq: 0, commit: trouble !== null });
      if (!reply.ok) {
        const err = fromInfo(reply.error);
        if (isTransient(err)) noteTrouble(err);
        throw mapError(err);
      }
      noteWriteOk();
    },

    async close() {
      if (closing) return;
      closing = true;
      // Pending inserts were promised an answer: commit them before the handle goes.
      if (queue.length > 0 || inFlight > 0) {
        await new Promise<void>((resolve) => {
          whenDrained = resolve;
          schedule();
        });
      }
      await writer.close();
      closed = true;
      db.close();
    },
  };

  function totals(): { messages: number; senders: number } {
    const row = totalsStmt.get() as Row | undefined;
    if (!row) throw new Error('message_totals row is missing');
    return { messages: Number(row.messages), senders: Number(row.senders) };
  }
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

/** The connection to the writer: a request in, its reply out, in order. */
type WriterLink = {
  /** Settles once the writer has opened the database (or could not). */
  ready: Promise<void>;
  send(req: WriterRequest): Promise<WriterReply>;
  close(): Promise<void>;
  /** Ends the thread at once (tests: what a crash of it would do). */
  stop(): Promise<void>;
};

function threadWriter(config: WriterConfig): WriterLink {
  // Its own channel, so the writer can take every request already queued (receiveMessageOnPort).
  const { port1: port, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./writer.ts', import.meta.url), {
    workerData: { writer: config, port: port2 },
    transferList: [port2],
    // Its JavaScript holds a batch at a time: a small young generation keeps the thread's memory small.
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  const waiting = new Map<number, (reply: WriterReply) => void>();
  let seq = 0;
  let closing = false;
  let down: SqliteErrorInfo | null = null;
  // Should the thread ever stop (a bug, memory), writes are refused as storage trouble: 503s and a
  // failing readiness probe, which restarts the service where an orchestrator watches it.
  const stopped = (why: string): void => {
    down ??= { message: why, errcode: 10, errstr: `writer thread stopped: ${why}` };
    for (const [n, done] of waiting) done({ seq: n, ok: false, error: down });
    waiting.clear();
  };
  port.on('message', (reply: WriterReply) => {
    const done = waiting.get(reply.seq);
    waiting.delete(reply.seq);
    // Referenced only while it owes an answer (or is closing): an idle writer never keeps the process alive.
    if (waiting.size === 0 && !closing) {
      worker.unref();
      port.unref();
    }
    done?.(reply);
  });
  worker.on('error', (err) => stopped(err.message));
  worker.on('exit', (code) => stopped(`exit code ${code}`));
  const ready = new Promise<void>((resolve, reject) => {
    waiting.set(0, (reply) => (reply.ok ? resolve() : reject(fromInfo(reply.error))));
  });
  // Marked handled here; whoever awaits `ready` still sees the failure.
  ready.catch(() => {});
  return {
    ready,
    send(req) {
      if (down) return Promise.resolve({ seq: req.seq, ok: false, error: down });
      seq += 1;
      const n = seq;
      return new Promise((resolve) => {
        waiting.set(n, resolve);
        worker.ref();
        port.ref();
        port.postMessage({ ...req, seq: n });
      });
    },
    async stop() {
      await worker.terminate();
    },
    async close() {
      if (down) return;
      closing = true;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      // A writer that could not open has closed its channel and is on its way out: no reply will come.
      await Promise.race([this.send({ kind: 'close', seq: 0 }), exited]);
      await exited;
    },
  };
}

/** The writer's work on the store's own connection, one event-loop turn later. */
function inlineWriter(config: WriterConfig, db: DatabaseSync): WriterLink {
  const writer = createWriter(config, db);
  return {
    ready: Promise.resolve(),
    stop: async () => {},
    send: (req) => new Promise((resolve) => setImmediate(() => resolve(writer.handle([req])[0] as WriterReply))),
    close: async () => {},
  };
}

function fromInfo(info: SqliteErrorInfo): Error {
  return Object.assign(new Error(info.message), info);
}

function mapError(err: unknown): unknown {
  if (!isTransient(err)) return err;
  return storeUnavailable(`database unavailable: ${describeSqliteError(err)}`, err);
}
