// Measures the choice behind /stats on PostgreSQL (src/store/postgres/stats.ts): per-sender counters
// updated in the inserting statement (one row per sender, the heavy sender's row hot; with the total's one
// row too, hot-total) against deltas appended by the inserting statement and merged by one replica in
// the background. Several "replicas" (connections) group-commit batches in which one heavy sender appears
// in every batch, on a cluster with fsync on. Prints inserts/s and commit p50/p99 for each;
// `node bench/pg-counters.ts [writers]`.
import postgres from 'postgres';
import { SCHEMA } from '../src/store/postgres/schema.ts';
import { mergeDeltas } from '../src/store/postgres/stats.ts';
import { startCluster } from '../test/postgres-cluster.ts';

const REPLICAS = Number(process.argv[2] ?? 3);
const BATCH = 20;
const SECONDS = 8;

// The alternatives: the same triggers, but counting straight into sender_counts (upsert, row lock held to
// COMMIT), and also into message_totals' one row (every insert of every writer locks it to COMMIT).
const hotRow = (totals: string): string => `
CREATE OR REPLACE FUNCTION messages_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sender_counts AS c (from_msisdn, n) SELECT from_msisdn, count(*) FROM added GROUP BY from_msisdn ORDER BY 1
  ON CONFLICT (from_msisdn) DO UPDATE SET n = c.n + excluded.n;
  ${totals}
  RETURN NULL;
END $$;`;

async function run(name: string, url: string, merge: boolean): Promise<string> {
  const pools = Array.from({ length: REPLICAS }, () => postgres(url, { max: 1, onnotice: () => {} }));
  const latencies: number[] = [];
  let serial = 0;
  const until = Date.now() + SECONDS * 1000;
  const merger = merge ? setInterval(() => void mergeDeltas(pools[0] as postgres.Sql).catch(() => {}), 500) : undefined;
  await Promise.all(
    pools.map(async (sql, r) => {
      while (Date.now() < until) {
        const ids = Array.from({ length: BATCH }, () => `${name}-${r}-${(serial += 1)}`);
        // Half the batch from the heavy sender, the rest from many.
        const froms = ids.map((_, i) => (i % 2 === 0 ? '+10000' : `+2${serial % 5000}${i}`));
        const started = performance.now();
        await sql`INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at)
          SELECT * FROM unnest(${ids}::text[], ${froms}::text[], ${ids.map(() => '+1')}::text[],
            ${ids.map(() => '2025-01-01T00:00:00Z')}::text[], ${ids.map(() => 'hello')}::text[], ${ids.map(() => new Date().toISOString())}::timestamptz[])
          ON CONFLICT (message_id) DO NOTHING RETURNING message_id`;
        latencies.push(performance.now() - started);
      }
    }),
  );
  clearInterval(merger);
  await Promise.all(pools.map((p) => p.end()));
  latencies.sort((a, b) => a - b);
  const at = (p: number): string => (latencies[Math.floor(latencies.length * p)] ?? NaN).toFixed(1);
  return `${name.padEnd(8)} ${REPLICAS} writers: ${Math.round((latencies.length * BATCH) / SECONDS)} inserts/s, commit p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`;
}

const cluster = startCluster({ fsync: true });
try {
  const out: string[] = [];
  for (const [name, extra, merge] of [
    ['deltas', '', true],
    ['hot-row', hotRow(''), false],
    ['hot-total', hotRow('UPDATE message_totals SET messages = messages + (SELECT count(*) FROM added);'), false],
  ] as const) {
    const url = await cluster.database(name.replace('-', '_'));
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql.unsafe(SCHEMA + extra).simple();
    await sql.end();
    out.push(await run(name, url, merge));
  }
  console.log(out.join('\n'));
} finally {
  await cluster.stop();
}
