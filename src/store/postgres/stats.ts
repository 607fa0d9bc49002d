// /stats from the per-sender counters (schema.ts): the merged counts plus the deltas not yet merged, in
// one statement so one snapshot answers; merging keeps what a reader sums small.
import type { Sql } from 'postgres';
import type { OnEvent, Stats } from '../store.ts';
import type { Calls } from './calls.ts';

/**
 * Deltas merged per merge: a bulk load (the copy command appends one delta per sender per batch) leaves a
 * million, whose merge in one statement would run past the statement timeout, for ever.
 */
export const MERGE_BATCH = 20_000;

// The top N of merged counts plus all senders with deltas is exact: of the top N + D merged senders, at
// least N have no delta, so their counts are final and no sender outside the candidates can pass them.
const STATS_SQL = `
WITH d AS (SELECT from_msisdn, sum(n) AS n FROM sender_deltas GROUP BY from_msisdn),
changed AS (
  SELECT d.from_msisdn, coalesce(c.n, 0) AS before, coalesce(c.n, 0) + d.n AS after
  FROM d LEFT JOIN sender_counts c ON c.from_msisdn = d.from_msisdn
),
candidates AS (
  SELECT from_msisdn, n FROM (
    SELECT from_msisdn, n FROM sender_counts ORDER BY n DESC, from_msisdn LIMIT $1::int + (SELECT count(*) FROM d)
  ) merged WHERE from_msisdn NOT IN (SELECT from_msisdn FROM d)
  UNION ALL SELECT from_msisdn, after FROM changed
),
top AS (SELECT from_msisdn, n FROM candidates WHERE n > 0 ORDER BY n DESC, from_msisdn COLLATE "C" LIMIT $1::int)
SELECT
  (SELECT messages FROM message_totals) + (SELECT coalesce(sum(n), 0) FROM d) AS messages,
  (SELECT senders FROM message_totals) + (SELECT coalesce(sum((after > 0)::int - (before > 0)::int), 0) FROM changed) AS senders,
  (SELECT coalesce(json_agg(json_build_array(from_msisdn, n::text) ORDER BY n DESC, from_msisdn COLLATE "C"), '[]') FROM top) AS top,
  (SELECT ts FROM messages ORDER BY ts_key, message_id LIMIT 1) AS first,
  (SELECT ts FROM messages ORDER BY ts_key DESC, message_id DESC LIMIT 1) AS last`;

// Up to MERGE_BATCH of the deltas seen by this statement's snapshot, oldest first; deltas committed
// meanwhile stay for the next merge. (The CTEs see the tables as the statement began, so `old` holds the counts before `up`.)
const MERGE_SQL = `
WITH gone AS (
  DELETE FROM sender_deltas WHERE id IN (SELECT id FROM sender_deltas ORDER BY id LIMIT $1::int) RETURNING from_msisdn, n
),
d AS (SELECT from_msisdn, sum(n)::bigint AS n FROM gone GROUP BY from_msisdn),
old AS (SELECT d.from_msisdn, coalesce(c.n, 0) AS before, d.n FROM d LEFT JOIN sender_counts c ON c.from_msisdn = d.from_msisdn),
up AS (
  INSERT INTO sender_counts AS c (from_msisdn, n) SELECT from_msisdn, n FROM d
  ON CONFLICT (from_msisdn) DO UPDATE SET n = c.n + excluded.n
)
UPDATE message_totals SET
  messages = messages + (SELECT coalesce(sum(n), 0) FROM d),
  senders = senders + (SELECT coalesce(sum((before + n > 0)::int - (before > 0)::int), 0) FROM old)
RETURNING (SELECT count(*) FROM gone) AS merged`;

type StatsRow = { messages: string; senders: string; top: [string, string][]; first: string | null; last: string | null };

export function createStatsReader(sql: Sql): (top: number) => Promise<Stats> {
  return async (top) => {
    const [row] = await sql.unsafe<StatsRow[]>(STATS_SQL, [top], { prepare: true });
    if (row === undefined) throw new Error('stats statement returned no row');
    return {
      totalMessages: Number(row.messages),
      sendersCount: Number(row.senders),
      messagesPerSender: row.top.map(([from, count]) => ({ from, count: Number(count) })),
      firstMessageTs: row.first,
      lastMessageTs: row.last,
    };
  };
}

/** Merges up to MERGE_BATCH deltas unless another replica is merging now; resolves with how many went. */
export function mergeDeltas(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    // Any one key for the lock; the migration's differs.
    const [lock] = await tx<{ ok: boolean }[]>`SELECT pg_try_advisory_xact_lock(${0x6c79_6602}) AS ok`;
    if (lock?.ok !== true) return 0;
    const [row] = await tx.unsafe<{ merged: string }[]>(MERGE_SQL, [MERGE_BATCH], { prepare: true });
    // A sender whose messages all went (retention) leaves no zero row behind.
    await tx`DELETE FROM sender_counts WHERE n = 0`;
    return Number(row?.merged ?? 0);
  });
}

/** Merges the deltas twice a second in the background (one replica at a time does); returns the stop. */
export function startMerging(sql: Sql, calls: Calls, onEvent?: OnEvent): () => Promise<void> {
  let failing = false; // a failure is said once per spell of trouble
  let merging: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    merging = calls.run(() => mergeDeltas(sql)).then(
      () => void (failing = false),
      (err: unknown) => {
        if (!failing) onEvent?.('stats merge failed; will retry', { error: String(err) }, 'WARNING');
        failing = true;
      },
    );
  }, 500).unref();
  return async () => {
    clearInterval(timer);
    await merging;
  };
}
