// The PostgreSQL part of `make bench` (bench/run.ts runs it after SQLite, in the same run): a throwaway
// cluster with fsync on, as in production (test/postgres-cluster.ts), then
//   1. ingest through HAProxy to 1, 2 and 3 replicas (the build as it ships), CPU per request for each
//      replica, HAProxy and PostgreSQL's processes;
//   2. queries at the same 1,000,000 seeded messages as SQLite, copied in by scripts/copy-to-postgres.ts,
//      each total checked against a count made with plain SQL on the SQLite file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fold } from '../src/store/fold.ts';
import postgres from 'postgres';
import { copyToPostgres } from '../scripts/copy-to-postgres.ts';
import { startCluster, type Cluster } from '../test/postgres-cluster.ts';
import { startBalancer, startReplica, type Replica } from '../test/replicas.ts';

type LoadFn = (url: string, connections: number, seconds: number, file: string) => { requests: number; duration_us: number; non_2xx: number; errors: number; p50_us: number; p99_us: number };

export type PostgresBenchDeps = {
  /** The secret the bench's bodies are signed with. */
  secret: string;
  /** bench/run.ts's load generator (wrk, or bench/load.ts), and a file of signed unique bodies for it. */
  load: LoadFn;
  bodies: (name: string, count: number, prefix: string) => string;
  seconds: number;
  connections: number;
  /** The seeded SQLite file of the query phase and the queries to ask of it. */
  seeded?: { path: string; cases: { name: string; path: string; pg_bar_ms?: number }[] };
  log: (line: string) => void;
};

/** utime + stime of a process, in microseconds (clock ticks of 10 ms). */
function cpuUs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return 0; // a backend that ended during the run
  }
}

/** The postmaster and its children (backends, WAL writer, checkpointer, ...). */
function serverPids(cluster: Cluster): number[] {
  const out = execFileSync('sh', ['-c', `pgrep -f -- '-p ${cluster.port} ' | head -1`], { encoding: 'utf8' }).trim();
  const postmaster = Number(out);
  if (!postmaster) return [];
  const children = execFileSync('sh', ['-c', `pgrep -P ${postmaster} || true`], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  return [postmaster, ...children];
}

async function ingest(cluster: Cluster, deps: PostgresBenchDeps, replicas: number): Promise<Record<string, unknown>> {
  const url = await cluster.database(`ingest${replicas}`);
  const running: Replica[] = await Promise.all(Array.from({ length: replicas }, () => startReplica(url, { WEBHOOK_SECRET: deps.secret })));
  const dir = mkdtempSync(join(tmpdir(), 'lyftr-bench-lb-'));
  const balancer = await startBalancer(dir, running.map((r) => r.port));
  try {
    const file = deps.bodies(`pg-unique-${replicas}`, 400_000, `pg${replicas}`);
    const pids = { replicas: running.map((r) => r.proc.pid ?? 0), haproxy: [balancer.proc.pid ?? 0], postgres: serverPids(cluster) };
    const sum = (list: number[]): number => list.reduce((a, pid) => a + cpuUs(pid), 0);
    const before = { replicas: pids.replicas.map(cpuUs), haproxy: sum(pids.haproxy), postgres: sum(serverPids(cluster)) };
    const l = deps.load(balancer.url, deps.connections, deps.seconds, file);
    // Backends opened during the run count from zero: the server's CPU is summed over the processes now.
    const after = { replicas: pids.replicas.map(cpuUs), haproxy: sum(pids.haproxy), postgres: sum(serverPids(cluster)) };
    const per = (us: number): number => Math.round(us / Math.max(1, l.requests));
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM messages`;
    await sql.end();
    return {
      replicas,
      req_per_s: Math.round(l.requests / (l.duration_us / 1e6)),
      p50_ms: l.p50_us / 1000,
      p99_ms: l.p99_us / 1000,
      non_2xx: l.non_2xx + l.errors,
      stored: Number(row?.n),
      cpu_us_per_request: {
        each_replica: after.replicas.map((a, i) => per(a - (before.replicas[i] ?? 0))),
        haproxy: per(after.haproxy - before.haproxy),
        postgres: per(after.postgres - before.postgres),
      },
    };
  } finally {
    await balancer.stop();
    for (const r of running) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function queries(cluster: Cluster, deps: PostgresBenchDeps): Promise<Record<string, unknown>> {
  const seeded = deps.seeded;
  if (seeded === undefined) return {};
  const url = await cluster.database('million');
  const started = performance.now();
  const copied = await copyToPostgres(`sqlite:///${seeded.path}`, url);
  const copySeconds = (performance.now() - started) / 1000;
  // What autovacuum does in time: planner statistics and the visibility map (index-only counts).
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe('VACUUM ANALYZE');
  await sql.end();
  deps.log(`  copied ${copied.inserted.toLocaleString('en')} rows into PostgreSQL in ${copySeconds.toFixed(0)} s`);
  const replica = await startReplica(url, { WEBHOOK_SECRET: deps.secret });
  try {
    return { copy_seconds: Math.round(copySeconds), cases: await timeCases(replica.url, seeded.cases, expectedTotals(seeded.path, seeded.cases)) };
  } finally {
    await replica.stop();
  }
}

/**
 * Each case over one connection: one request untimed (its total is checked), as the SQLite cases have,
 * then requests for 3 s (at least 5): service time, as the bar means, and enough of it that a p99 is not
 * the slowest request or two.
 */
async function timeCases(base: string, cases: { name: string; path: string; pg_bar_ms?: number }[], expected: Map<string, number>): Promise<unknown[]> {
  const results = [];
  for (const c of cases) {
    const times: number[] = [];
    const total = ((await (await fetch(`${base}${c.path}`)).json()) as { total?: number }).total;
    const until = performance.now() + 3_000;
    for (let i = 0; i < 5 || performance.now() < until; i += 1) {
      const t0 = performance.now();
      await (await fetch(`${base}${c.path}`)).arrayBuffer();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const at = (p: number): number => Math.round((times[Math.min(times.length - 1, Math.floor(times.length * p))] ?? NaN) * 100) / 100;
    const want = expected.get(c.path);
    const p99 = at(0.99);
    results.push({
      name: c.name,
      p50_ms: at(0.5),
      p99_ms: p99,
      total,
      total_ok: want === undefined ? null : want === total,
      ...(c.pg_bar_ms !== undefined && { bar_ms: c.pg_bar_ms, within_bar: p99 <= c.pg_bar_ms }),
    });
  }
  return results;
}

/** Totals of the plain filters, counted on the SQLite file with instr over the contract's folding (fold.ts). */
function expectedTotals(path: string, cases: { path: string }[]): Map<string, number> {
  const db = new DatabaseSync(path, { readOnly: true });
  db.function('fold', { deterministic: true }, (t) => (typeof t === 'string' ? fold(t) : null));
  const out = new Map<string, number>();
  for (const { path: p } of cases) {
    const params = new URL(p, 'http://x').searchParams;
    if (!p.startsWith('/messages') || params.has('cursor')) continue;
    const where: string[] = [];
    const args: string[] = [];
    if (params.get('from')) (where.push('from_msisdn = ?'), args.push(params.get('from') ?? ''));
    if (params.get('since')) (where.push("unixepoch(ts, 'subsec') >= unixepoch(?, 'subsec')"), args.push(params.get('since') ?? ''));
    if (params.get('q')) (where.push('instr(fold(text), fold(?)) > 0'), args.push(params.get('q') ?? ''));
    const sql = `SELECT count(*) AS n FROM messages${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
    out.set(p, Number((db.prepare(sql).get(...args) as { n: number }).n));
  }
  db.close();
  return out;
}

export async function postgresPhase(deps: PostgresBenchDeps): Promise<Record<string, unknown>> {
  const cluster = startCluster({ fsync: true });
  try {
    const ingestRuns = [];
    for (const n of [1, 2, 3]) {
      deps.log(`PostgreSQL ingest, ${n} replica(s) behind HAProxy ...`);
      ingestRuns.push(await ingest(cluster, deps, n));
    }
    deps.log('PostgreSQL queries at the seeded rows ...');
    return { ingest: ingestRuns, queries: await queries(cluster, deps) };
  } finally {
    await cluster.stop();
  }
}

/** The PostgreSQL rows of the printed table. */
export function postgresTable(r: Record<string, any>): string[] {
  const out = ['', 'PostgreSQL (fsync on, one cluster on this machine):'];
  for (const i of r.ingest ?? []) {
    const cpu = i.cpu_us_per_request;
    out.push(
      `  ingest, ${i.replicas} replica(s): ${i.req_per_s} req/s, p50 ${i.p50_ms} ms, p99 ${i.p99_ms} ms, non-2xx ${i.non_2xx}, ` +
        `CPU us/request: replicas ${cpu.each_replica.join(' + ')}, haproxy ${cpu.haproxy}, postgres ${cpu.postgres}`,
    );
  }
  if ((r.queries?.cases ?? []).length > 0) {
    out.push('  queries at 1,000,000 rows, one replica; service time (! marks a p99 over the scale-out issue\'s bar):');
    out.push(`  ${'case'.padEnd(34)}  p50 ms  p99 ms   bar  total`);
  }
  for (const c of r.queries?.cases ?? []) {
    const bar = c.bar_ms === undefined ? '' : `${c.within_bar ? '' : '!'}${c.bar_ms}`;
    const checked = c.total_ok === true ? ' (ok)' : c.total_ok === false ? ' WRONG' : '';
    out.push(`  ${String(c.name).padEnd(34)}${String(c.p50_ms).padStart(8)}${String(c.p99_ms).padStart(8)}${bar.padStart(6)}  ${c.total ?? ''}${checked}`);
  }
  return out;
}
