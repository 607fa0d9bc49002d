// The Store contract (SPEC.md: GET /messages, GET /stats, Storage, Retention) as plain arrays and
// sorting: simple and obviously right rather than fast. test/store-contract.ts checks every engine
// against it; test/store-model.test.ts checks it against the contract's named cases.
import {
  storeUnavailable,
  type ListPosition,
  type ListQuery,
  type ListResult,
  type Message,
  type Stats,
  type Store,
} from '../src/store/store.ts';

type Row = Message & { receivedAt: number };

/** What several model stores share, as engines share a database file or server. */
export type ModelDatabase = { rows: Row[]; trouble: boolean };

export function createModelDatabase(): ModelDatabase {
  return { rows: [], trouble: false };
}

/** The sort key of a contract timestamp: the whole seconds, then the fraction without trailing zeros. */
export function instantKey(ts: string): string {
  const [seconds = ts, fraction = ''] = ts.slice(0, -1).split('.');
  const kept = fraction.replace(/0+$/, '');
  return kept === '' ? seconds : `${seconds}.${kept}`;
}

/** Code point order (as UTF-8 bytes compare), which is how the databases compare text. */
export function compareText(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The contract's order: the instant of ts, then message_id. Instant keys are ASCII: `<` is byte order. */
export function comparePosition(a: ListPosition, b: ListPosition): number {
  const [x, y] = [instantKey(a.ts), instantKey(b.ts)];
  return x < y ? -1 : x > y ? 1 : compareText(a.messageId, b.messageId);
}

/** A to Z only, as SQL lower() folds. */
function foldAscii(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function matches(row: Row, q: ListQuery): boolean {
  if (q.from !== undefined && row.from !== q.from) return false;
  if (q.since !== undefined && instantKey(row.ts) < instantKey(q.since)) return false;
  if (q.q !== undefined && (row.text === null || !foldAscii(row.text).includes(foldAscii(q.q)))) return false;
  return true;
}

const message = (row: Message): Message => ({ messageId: row.messageId, from: row.from, to: row.to, ts: row.ts, text: row.text });

export function createModelStore(clock: () => Date, db: ModelDatabase = createModelDatabase()): Store {
  let closed = false;
  // Each row's key computed once per sort: the random run sorts a thousand rows a thousand times.
  const sorted = (): Row[] =>
    db.rows
      .map((row) => ({ row, at: instantKey(row.ts), id: Buffer.from(row.messageId, 'utf8') }))
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : Buffer.compare(a.id, b.id)))
      .map((k) => k.row);
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

  return {
    insert: (m) =>
      op(true, () => {
        if (db.rows.some((r) => r.messageId === m.messageId)) return 'duplicate';
        db.rows.push({ ...message(m), receivedAt: clock().getTime() });
        return 'created';
      }),

    list: (q) =>
      op(false, (): ListResult => {
        const all = sorted().filter((r) => matches(r, q));
        const after = q.after;
        const rest = after === undefined ? all : all.filter((r) => comparePosition(r, after) > 0);
        const page = rest.slice(q.offset, q.offset + q.limit);
        return { data: page.map(message), total: all.length, more: rest.length > q.offset + q.limit };
      }),

    stats: (topSenders) =>
      op(false, (): Stats => {
        const counts = new Map<string, number>();
        for (const r of db.rows) counts.set(r.from, (counts.get(r.from) ?? 0) + 1);
        const senders = [...counts].map(([from, count]) => ({ from, count }));
        senders.sort((a, b) => b.count - a.count || compareText(a.from, b.from));
        const order = sorted();
        return {
          totalMessages: db.rows.length,
          sendersCount: counts.size,
          messagesPerSender: senders.slice(0, topSenders),
          firstMessageTs: order[0]?.ts ?? null,
          lastMessageTs: order.at(-1)?.ts ?? null,
        };
      }),

    ping: () => op(true, () => undefined),

    prune: (before, limit) =>
      op(true, () => {
        const old = db.rows.filter((r) => r.receivedAt < before.getTime()).slice(0, limit);
        db.rows = db.rows.filter((r) => !old.includes(r));
        return old.length;
      }),

    load: () => ({ pendingInserts: 0 }),

    searchBacklog: () => op(false, () => 0),

    close: async () => {
      closed = true;
    },
  };
}
