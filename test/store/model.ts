// The Store contract (SPEC.md: GET /messages, GET /stats, Storage, Retention) as a plain array kept in
// the contract's order: simple and obviously right rather than fast. test/store/contract.ts checks
// every engine against it; test/store/model.test.ts checks it against the contract's named cases.
import {
  storeUnavailable,
  type ListPosition,
  type ListQuery,
  type ListResult,
  type Message,
  type Stats,
  type Store,
} from '../../src/store/store.ts';
import { fold } from '../../src/store/fold.ts';

/** A stored message, with its sort key and folded text worked out once, when it is stored. */
type Row = Message & { receivedAt: number; key: string; folded: string | null; arrival: number };

/** What several model stores share, as engines share a database file or server. */
export type ModelDatabase = { rows: Row[]; trouble: boolean; arrivals: number; watchers: Set<() => void> };

export function createModelDatabase(): ModelDatabase {
  return { rows: [], trouble: false, arrivals: 0, watchers: new Set() };
}

/** The sort key of a contract timestamp: the whole seconds, then the fraction without trailing zeros. */
export function instantKey(ts: string): string {
  const [seconds = ts, fraction = ''] = ts.slice(0, -1).split('.');
  const kept = fraction.replace(/0+$/, '');
  return kept === '' ? seconds : `${seconds}.${kept}`;
}

/** Code point order (as UTF-8 bytes compare), which is how the databases compare text. */
export function compareText(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The contract's order: the instant of ts, then message_id. Keys are ASCII: `<` is their byte order. */
function compareKeyed(a: { key: string; messageId: string }, b: { key: string; messageId: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : compareText(a.messageId, b.messageId);
}

export function comparePosition(a: ListPosition, b: ListPosition): number {
  return compareKeyed({ key: instantKey(a.ts), messageId: a.messageId }, { key: instantKey(b.ts), messageId: b.messageId });
}

/** Whether a row passes the query's filters (the cursor aside); q and since worked out once per query. */
function filterOf(q: Pick<ListQuery, 'from' | 'since' | 'q'>): (row: Row) => boolean {
  const since = q.since === undefined ? undefined : instantKey(q.since);
  const needle = q.q === undefined ? undefined : fold(q.q);
  return (row) =>
    (q.from === undefined || row.from === q.from) &&
    (since === undefined || row.key >= since) &&
    (needle === undefined || (row.folded !== null && row.folded.includes(needle)));
}

const message = (row: Message): Message => ({
  messageId: row.messageId,
  from: row.from,
  to: row.to,
  ts: row.ts,
  text: row.text,
  ...(row.type !== undefined && { type: row.type }),
});

/** Where `row` goes in rows kept in order: after every row before it (binary search). */
function placeOf(rows: readonly Row[], row: Row): number {
  let [lo, hi] = [0, rows.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeyed(rows[mid] as Row, row) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function createModelStore(clock: () => Date, db: ModelDatabase = createModelDatabase()): Store {
  let closed = false;
  // Reads work in trouble (SQLite's WAL readers do too); writes do not.
  const usable = (write: boolean): void => {
    if (closed) throw storeUnavailable('store is closed');
    if (write && db.trouble) throw storeUnavailable('database unavailable: model in trouble');
  };
  // Async like every engine: a throw becomes a rejection.
  const op = <T>(write: boolean, work: () => T): Promise<T> => {
    try {
      usable(write);
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(err);
    }
  };

  const insert = (m: Message): 'created' | 'duplicate' => {
    if (db.rows.some((r) => r.messageId === m.messageId)) return 'duplicate';
    const folded = m.text === null ? null : fold(m.text);
    db.arrivals += 1;
    const row: Row = { ...message(m), receivedAt: clock().getTime(), key: instantKey(m.ts), folded, arrival: db.arrivals };
    db.rows.splice(placeOf(db.rows, row), 0, row);
    return 'created';
  };
  // Every store on the database is woken by every commit: the model shares one process.
  const woke = <T>(result: T): T => {
    for (const w of db.watchers) w();
    return result;
  };
  // Accepted and not answered yet: until the caller's promise settles, as an engine's group commit.
  let pending = 0;
  const counted = <T>(n: number, answer: Promise<T>): Promise<T> => {
    pending += n;
    return answer.finally(() => (pending -= n));
  };
  return {
    insertMany: (messages) => counted(messages.length, op(true, () => woke(messages.map(insert)))),

    list: (q) =>
      op(false, (): ListResult => {
        const all = db.rows.filter(filterOf(q));
        if (q.descending === true) all.reverse();
        const after = q.after && { key: instantKey(q.after.ts), messageId: q.after.messageId };
        const sign = q.descending === true ? -1 : 1;
        const rest = after === undefined ? all : all.filter((r) => sign * compareKeyed(r, after) > 0);
        const page = rest.slice(q.offset, q.offset + q.limit);
        return { data: page.map(message), total: all.length, more: rest.length > q.offset + q.limit };
      }),

    stats: (topSenders) =>
      op(false, (): Stats => {
        const counts = new Map<string, number>();
        for (const r of db.rows) counts.set(r.from, (counts.get(r.from) ?? 0) + 1);
        const senders = [...counts].map(([from, count]) => ({ from, count }));
        senders.sort((a, b) => b.count - a.count || compareText(a.from, b.from));
        return {
          totalMessages: db.rows.length,
          sendersCount: counts.size,
          messagesPerSender: senders.slice(0, topSenders),
          firstMessageTs: db.rows[0]?.ts ?? null,
          lastMessageTs: db.rows.at(-1)?.ts ?? null,
        };
      }),

    ping: () => op(true, () => undefined),

    prune: (before, limit) =>
      op(true, () => {
        const old = new Set(db.rows.filter((r) => r.receivedAt < before.getTime()).slice(0, limit));
        db.rows = db.rows.filter((r) => !old.has(r));
        return old.size;
      }),

    load: () => ({ pendingInserts: pending }),

    erase: (target) =>
      op(true, () => {
        const gone = db.rows.filter((r) => ('messageId' in target ? r.messageId === target.messageId : r.from === target.from));
        db.rows = db.rows.filter((r) => !gone.includes(r));
        return gone.length;
      }),

    async *scan(filter, pageSize) {
      usable(false);
      const all = db.rows.filter(filterOf(filter)).map(message);
      for (let i = 0; i < all.length; i += pageSize) yield all.slice(i, i + pageSize);
    },

    // Positions are a counter that never goes back.
    arrivalHead: () => op(false, () => String(db.arrivals)),
    arrivalIssued: (position) => op(false, () => /^(0|[1-9][0-9]{0,14})$/.test(position) && Number(position) <= db.arrivals),
    arrivals: (position, filter, limit) =>
      op(false, () =>
        db.rows
          .filter((r) => r.arrival > Number(position) && filterOf(filter)(r))
          .sort((a, b) => a.arrival - b.arrival)
          .slice(0, limit)
          .map((r) => ({ position: String(r.arrival), message: message(r) })),
      ),
    watchArrivals: (onChange) => {
      db.watchers.add(onChange);
      // Once soon after, as the engines' first poll: rows may have come before the watch began.
      const first = setTimeout(onChange, 10);
      return () => {
        clearTimeout(first);
        db.watchers.delete(onChange);
      };
    },


    close: async () => {
      closed = true;
    },
  };
}
