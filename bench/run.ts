// `make bench`: one command, no manual steps. Measures in one run, on this machine:
//   1. the ceiling (bench/ceiling.ts: read body, HMAC, JSON.parse, no storage), req/s at 50 connections;
//   2. ingest on the real service (synchronous=FULL): signed unique messages, all duplicates, then unique
//      ones with senders and ids in no order;
//   3. queries at 1,000,000 stored messages over one keep-alive connection, and a mixed read load;
//   4. the one-time migration of the seeded file, start-up to ready on it, and peak RSS.
// Prints a table and writes the same figures to bench/results.json (git-ignored).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { sign } from '../src/domain/signature.ts';
import { fold } from '../src/store/fold.ts';
import { serviceArgs } from '../tools/service-command.ts';
import { erasureExportPhase } from './erasure-export.ts';
import { postgresPhase, postgresTable } from './postgres.ts';
import { seedDatabase, type SeedFacts } from './seed.ts';
import { streamPhase, streamTable } from './stream.ts';
import { whatsappPhase, whatsappTable } from './whatsapp.ts';
import { postgresMissing } from '../test/postgres-cluster.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(ROOT, 'bench', 'data');
const SECRET = 'bench-secret';
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const INGEST_SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const QUERY_SECONDS = Math.max(2, Math.round(INGEST_SECONDS / 2));
const INGEST_CONNECTIONS = 50;
const MIXED_CONNECTIONS = 10;
const UNIQUE_BODIES = 500_000;
// BENCH_PHASES names the parts to run (comma-separated; `inbox` is bench/inbox.ts, which make bench runs after); unset, all.
const PHASES = (process.env.BENCH_PHASES ?? 'ingest,queries,postgres,whatsapp,erasure,stream').split(',');
/** The query phase's seeded file and cases, asked again of PostgreSQL (bench/postgres.ts). */
let seededForPostgres: { path: string; cases: QueryCase[] } | undefined;

/**
 * What a load generator reports. p50/p99/max: wrk's, which are corrected for coordinated omission (see
 * bench/wrk/cycle.lua); raw_*: each request timed as it was, asked for on one-connection runs only.
 */
type Load = {
  requests: number;
  duration_us: number;
  errors: number;
  non_2xx: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
  raw_p50_us?: number;
  raw_p99_us?: number;
  raw_max_us?: number;
  /** CPU the load generator itself used during the run (wrk with LuaJIT's FFI, or bench/load.ts). */
  cpu_us?: number;
};
type Running = { child: ChildProcess; url: string; log: string; startMs: number };

const ms = (us: number): number => Math.round(us / 10) / 100;
const rate = (l: Load): number => Math.round(l.requests / (l.duration_us / 1e6));
const log = (line: string): void => void process.stdout.write(line + '\n');

// A kept-alive socket the server closed while idle fails the next fetch once; ask again.
async function get(url: string, init?: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fetch(url, init);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

// ---- machine and tools --------------------------------------------------------------------------

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function ensureWrk(): boolean {
  if (has('wrk')) return true;
  // In CI, as root, the Debian package is one command away; elsewhere the Node generator stands in.
  if (process.getuid?.() === 0 && has('apt-get')) {
    log('wrk missing: installing the Debian package');
    spawnSync('sh', ['-c', 'apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1']);
  }
  return has('wrk');
}

const CORES = cpus().length;
// The load generator on the last core, the ceiling (one thread) alone on core 0, when there are two or
// more cores and taskset to give them: its best case (let onto the load generator's core, it loses 40 %).
// The service may use every core (V8's and libuv's helper threads).
const PIN = CORES >= 2 && has('taskset');
const LOAD_CORE = CORES - 1;
const ALL_CORES = `0-${CORES - 1}`;
const pinned = (cores: number | string, cmd: string, args: string[]): [string, string[]] => (PIN ? ['taskset', ['-c', String(cores), cmd, ...args]] : [cmd, args]);

const useWrk = ensureWrk();
// `wrk -v` prints its version and exits 1.
const generator = useWrk ? String(spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0]).replace(/ Copyright.*/, '') : 'node bench/load.ts';
const sqliteVersion = String((new DatabaseSync(':memory:').prepare('SELECT sqlite_version() AS v').get() as { v: string }).v);
const machine =
  `${cpus()[0]?.model ?? 'unknown CPU'}, ${CORES} cores, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ` +
  `Linux ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, Node ${process.version}, SQLite ${sqliteVersion}; ` +
  `load: ${generator}${PIN ? `, pinned to core ${LOAD_CORE}; ceiling on core 0, service on cores ${ALL_CORES}` : ', not pinned'}`;

/** Node's arguments for the service as it ships (the Makefile's NODE_FLAGS, dist/): the bench measures that. */
const SERVICE_ARGS = serviceArgs();

// ---- processes ------------------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > until) throw new Error('timed out waiting for a server');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The real service on a loopback port, logging at INFO to a file as it would in production. */
async function startService(dbPath: string, name: string, extraEnv: Record<string, string> = {}): Promise<Running & { readyMs: number }> {
  const port = await freePort();
  const logPath = join(DATA, `${name}.log`);
  const out = createWriteStream(logPath);
  await new Promise((r) => out.once('open', r));
  const startMs = performance.now();
  // Launched as `make run`, `npm start` and the Dockerfile launch it.
  const [cmd, args] = pinned(ALL_CORES, process.execPath, SERVICE_ARGS);
  const child = spawn(cmd, args, {
    env: { ...process.env, WEBHOOK_SECRET: SECRET, DATABASE_URL: `sqlite:///${dbPath}`, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'INFO', ...extraEnv },
    stdio: ['ignore', out, 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await get(`${url}/health/ready`)).status === 200, 600_000);
  return { child, url, log: logPath, startMs, readyMs: performance.now() - startMs };
}

async function startCeiling(): Promise<Running> {
  const port = await freePort();
  const [cmd, args] = pinned(0, process.execPath, [join(ROOT, 'bench', 'ceiling.ts'), String(port), SECRET]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await get(url, { method: 'POST', body: '{}' })).status === 401, 30_000);
  return { child, url, log: '', startMs: performance.now() };
}

/** The highest resident set size the process reached (VmHWM), in MB. */
function peakRssMb(p: Running): number {
  const status = readFileSync(`/proc/${p.child.pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** CPU seconds each thread of a process used so far, summed by thread name (Node's own is MainThread). */
function threadCpu(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // a thread that ended meanwhile
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // After the name: state (field 3) onwards; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    byName.set(name, (byName.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS);
  }
  return byName;
}

type CpuPerRequest = { http: number; other: number; wrk: number | null };

/** A load run on a server, with the CPU each side spent on a request (microseconds). */
function loadMeasured(p: Running, ...args: Parameters<typeof load>): { l: Load; cpu: CpuPerRequest } {
  const pid = p.child.pid ?? 0;
  const before = threadCpu(pid);
  const l = load(...args);
  const after = threadCpu(pid);
  const per = (seconds: number): number => Math.round((seconds * 1e6) / Math.max(1, l.requests));
  const used = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  const all = [...after.keys()].reduce((sum, name) => sum + used(name), 0);
  return {
    l,
    cpu: {
      http: per(used('MainThread')),
      other: per(all - used('MainThread')),
      wrk: l.cpu_us === undefined ? null : per(l.cpu_us / 1e6),
    },
  };
}

async function stop(p: Running): Promise<void> {
  if (p.child.exitCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  await exited;
}

function load(url: string, connections: number, seconds: number, file: string, count = 0): Load {
  const [cmd, args] = useWrk
    ? pinned(LOAD_CORE, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', join(ROOT, 'bench', 'wrk', 'cycle.lua'), url, '--', file, String(count)])
    : pinned(LOAD_CORE, process.execPath, [join(ROOT, 'bench', 'load.ts'), url, String(connections), String(seconds), file, String(count)]);
  // One connection: each response answers the request just sent, so the script can time each one.
  const env = { ...process.env, RAW_LATENCY: connections === 1 ? '1' : '0' };
  const out = execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24, env });
  const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (!line) throw new Error(`no result from the load generator:\n${out}`);
  return JSON.parse(line.slice('WRK_JSON '.length)) as Load;
}

// ---- request files --------------------------------------------------------------------------------

/**
 * Signed bodies, one per line. In order: sender after sender (+15550000000, +15550000001, ...) and ids
 * that sort as they come, so consecutive inserts touch neighbouring index pages. Shuffled: senders and
 * ids in no order (a fixed permutation), as traffic from many senders arrives: each insert lands on
 * pages of its own.
 */
function writeBodies(file: string, count: number, prefix: string, order: 'in order' | 'shuffled' = 'in order'): void {
  const lines: string[] = [];
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < count; i += 1) {
    // 7,919 is prime to 50,000; 2,654,435,761 (Knuth's multiplicative hash) scatters the ids.
    const sender = order === 'in order' ? i % 50_000 : (i * 7_919 + 13) % 50_000;
    const id = order === 'in order' ? `${prefix}-${i}` : `${prefix}-${((i * 2_654_435_761) % 2 ** 32).toString(16).padStart(8, '0')}-${i}`;
    const body = JSON.stringify({
      message_id: id,
      from: `+1555${String(sender).padStart(7, '0')}`,
      to: '+14155550100',
      ts: new Date(t0 + i * 1000).toISOString(),
      text: `Order ${i} is on its way, tracking number ${(i * 7919) % 1_000_003}`,
    });
    lines.push(`POST\t/webhook\t${sign(body, SECRET)}\t${body}`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
}

const getFile = (name: string, paths: string[]): string => {
  const file = join(DATA, `${name}.txt`);
  writeFileSync(file, paths.map((p) => `GET\t${p}`).join('\n') + '\n');
  return file;
};

// ---- phases ---------------------------------------------------------------------------------------

async function ingestPhase(): Promise<Record<string, unknown>> {
  const warm = join(DATA, 'warm.txt');
  const unique = join(DATA, 'unique.txt');
  const shuffled = join(DATA, 'shuffled.txt');
  writeBodies(warm, 20_000, 'warm');
  writeBodies(unique, UNIQUE_BODIES, 'bench');
  writeBodies(shuffled, UNIQUE_BODIES, 'shuffled', 'shuffled');
  const pruning = join(DATA, 'pruning.txt');
  writeBodies(pruning, UNIQUE_BODIES, 'pruning');

  const ceiling = await startCeiling();
  load(ceiling.url, INGEST_CONNECTIONS, 2, warm);
  const ceil = loadMeasured(ceiling, ceiling.url, INGEST_CONNECTIONS, INGEST_SECONDS, unique);
  await stop(ceiling);

  const dbPath = join(DATA, 'ingest.db');
  for (const s of ['', '-wal', '-shm']) rmSync(dbPath + s, { force: true });
  const service = await startService(dbPath, 'ingest');
  const storedNow = async (): Promise<number> =>
    ((await (await get(`${service.url}/stats`)).json()) as { total_messages: number }).total_messages;
  load(service.url, INGEST_CONNECTIONS, 2, warm);
  const before = await storedNow();
  const commitsBefore = await commitTotals(service.url);
  const ingest = loadMeasured(service, service.url, INGEST_CONNECTIONS, INGEST_SECONDS, unique);
  const commitsAfter = await commitTotals(service.url);
  const stored = (await storedNow()) - before;
  const writerUsPerRow = Math.round(((commitsAfter.seconds - commitsBefore.seconds) * 1e6) / Math.max(1, commitsAfter.rows - commitsBefore.rows));
  // The same bodies again, only those stored: every one a duplicate.
  const dup = loadMeasured(service, service.url, INGEST_CONNECTIONS, INGEST_SECONDS, unique, Math.min(stored, UNIQUE_BODIES));
  // Unique again, senders and ids in no order, into the same (now larger) database.
  const beforeShuffled = await storedNow();
  const shuf = loadMeasured(service, service.url, INGEST_CONNECTIONS, INGEST_SECONDS, shuffled);
  const storedShuffled = (await storedNow()) - beforeShuffled;
  const rss = peakRssMb(service);
  await stop(service);
  const prune = await ingestWhilePruning(dbPath, warm, pruning);

  const ceilingRate = rate(ceil.l);
  const row = ({ l, cpu }: { l: Load; cpu: CpuPerRequest }): Record<string, unknown> => ({
    rps: rate(l),
    p50_ms: ms(l.p50_us),
    p99_ms: ms(l.p99_us),
    max_ms: ms(l.max_us),
    requests: l.requests,
    errors: l.errors,
    non_2xx: l.non_2xx,
    ratio: Math.round((rate(l) / ceilingRate) * 100) / 100,
    cpu_us_per_request: cpu,
    // What 0.8 x the ceiling's rate would take at this run's CPU per request, server and wrk together.
    cores_at_bar: cpu.wrk === null ? null : Math.round(((cpu.http + cpu.other + cpu.wrk) * 0.8 * ceilingRate) / 1e4) / 100,
  });
  return {
    connections: INGEST_CONNECTIONS,
    seconds: INGEST_SECONDS,
    ceiling: row(ceil),
    // wrk does not count requests still in flight at the end, which were stored too.
    unique: { ...row(ingest), stored, all_unique: stored >= ingest.l.requests && ingest.l.requests < UNIQUE_BODIES, writer_us_per_row: writerUsPerRow },
    duplicate: row(dup),
    shuffled: { ...row(shuf), stored: storedShuffled },
    pruning: { ...row(prune.run), pruned: prune.pruned },
    peak_rss_mb: rss,
  };
}

/** The service's /metrics now: each unlabelled sample by name (NaN when absent). */
async function metricsNow(url: string): Promise<(name: string) => number> {
  const text = await (await get(`${url}/metrics`)).text();
  return (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/** Seconds in group commits (BEGIN to a durable COMMIT) and rows they wrote. */
async function commitTotals(url: string): Promise<{ seconds: number; rows: number }> {
  const value = await metricsNow(url);
  return { seconds: value('store_commit_duration_seconds_sum'), rows: value('store_commit_batch_size_sum') };
}

/**
 * Unique ingest while retention deletes: every row stored so far is made 30 days old, then the service
 * starts with RETENTION_DAYS=1 and deletes them, 200 a transaction, while the load runs.
 */
async function ingestWhilePruning(dbPath: string, warm: string, bodies: string): Promise<{ run: { l: Load; cpu: CpuPerRequest }; pruned: number }> {
  const db = new DatabaseSync(dbPath);
  db.exec(`UPDATE messages SET created_at = '${new Date(Date.now() - 30 * 86_400_000).toISOString()}'`);
  db.close();
  const service = await startService(dbPath, 'pruning', { RETENTION_DAYS: '1' });
  const pruned = async (): Promise<number> => (await metricsNow(service.url))('messages_pruned_total');
  load(service.url, INGEST_CONNECTIONS, 2, warm); // stored already: duplicates, to warm the code up
  const before = await pruned();
  const run = loadMeasured(service, service.url, INGEST_CONNECTIONS, INGEST_SECONDS, bodies);
  const during = (await pruned()) - before;
  await stop(service);
  return { run, pruned: during };
}

/** bar_ms: the store issue's bar on SQLite; pg_bar_ms: the scale-out issue's on PostgreSQL, where it sets one. */
type QueryCase = { name: string; path: string; expected?: number; bar_ms?: number; pg_bar_ms?: number };

/**
 * Expected totals counted straight from the file with plain SQL (unixepoch, and instr over the contract's
 * folding, src/store/fold.ts, as an SQL function of this connection), not by the service's queries.
 */
function expectedTotals(dbPath: string, facts: SeedFacts, since: { recent: string; year: string; old: string }): Record<string, number> {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  db.function('fold', { deterministic: true }, (t) => (typeof t === 'string' ? fold(t) : null));
  const n = (sql: string, ...args: string[]): number => Number((db.prepare(sql).get(...args) as { n: number }).n);
  const after = "unixepoch(ts, 'subsec') >= unixepoch(?, 'subsec')";
  const has = 'instr(fold(text), fold(?)) > 0';
  const totals: Record<string, number> = {
    all: n('SELECT count(*) AS n FROM messages'),
    from: n('SELECT count(*) AS n FROM messages WHERE from_msisdn = ?', facts.sender),
    since: n(`SELECT count(*) AS n FROM messages WHERE ${after}`, since.recent),
    q: n(`SELECT count(*) AS n FROM messages WHERE ${has}`, facts.rareWord),
    combo: n(`SELECT count(*) AS n FROM messages WHERE from_msisdn = ? AND ${after} AND ${has}`, facts.heavySender, since.year, 'invoice'),
    common: n(`SELECT count(*) AS n FROM messages WHERE ${has}`, facts.commonWord),
    commonNonAscii: n(`SELECT count(*) AS n FROM messages WHERE ${has}`, facts.commonNonAsciiWord),
    year: n(`SELECT count(*) AS n FROM messages WHERE ${after}`, since.year),
    old: n(`SELECT count(*) AS n FROM messages WHERE ${after}`, since.old),
    yearCommon: n(`SELECT count(*) AS n FROM messages WHERE ${after} AND ${has}`, since.year, facts.commonWord),
  };
  for (const q of ['ok', 'th', 'x', 'e', 'zq']) Object.assign(totals, { [q]: n(`SELECT count(*) AS n FROM messages WHERE ${has}`, q) });
  db.close();
  return totals;
}

async function queryPhase(): Promise<Record<string, unknown>> {
  const dbPath = join(DATA, 'million.db');
  for (const s of ['', '-wal', '-shm']) rmSync(dbPath + s, { force: true });
  log(`seeding ${ROWS.toLocaleString('en')} messages ...`);
  const facts = seedDatabase(dbPath, { rows: ROWS, senders: 50_000, days: 730, start: '2024-01-01T00:00:00Z' });
  log(`  seeded in ${facts.seconds.toFixed(1)} s`);

  const lastMs = Date.parse(facts.lastTs);
  const since = {
    recent: new Date(lastMs - 86_400_000).toISOString().slice(0, 19) + 'Z',
    year: new Date(lastMs - 365 * 86_400_000).toISOString().slice(0, 19) + 'Z',
    old: new Date(Date.parse(facts.firstTs) + 86_400_000).toISOString().slice(0, 19) + 'Z',
  };
  const expected = expectedTotals(dbPath, facts, since);

  // First start: the seed's schema, so the service migrates it once (indexes, stats, search index).
  log('first start: one-time migration ...');
  const first = await startService(dbPath, 'migrate');
  const migrationMs = first.readyMs;
  const migrationRss = peakRssMb(first);
  await stop(first);
  const progress = readFileSync(first.log, 'utf8').split('\n').filter((l) => l.includes('search index') || l.includes('migrating')).length;

  // Second start: what every later start costs.
  const service = await startService(dbPath, 'million');
  const enc = encodeURIComponent;
  const cursorPage = (await (await get(`${service.url}/messages?since=${since.year}&limit=1`)).json()) as { next_cursor: string };
  const cases: QueryCase[] = [
    { name: 'no filter', path: '/messages', expected: expected.all, bar_ms: 15, pg_bar_ms: 25 },
    { name: 'from', path: `/messages?from=${enc(facts.sender)}`, expected: expected.from, bar_ms: 15, pg_bar_ms: 25 },
    { name: 'since (last day)', path: `/messages?since=${since.recent}`, expected: expected.since, bar_ms: 15, pg_bar_ms: 25 },
    { name: `q=${facts.rareWord}`, path: `/messages?q=${facts.rareWord}`, expected: expected.q, bar_ms: 15, pg_bar_ms: 25 },
    { name: 'from+since+q', path: `/messages?from=${enc(facts.heavySender)}&since=${since.year}&q=invoice`, expected: expected.combo, bar_ms: 15, pg_bar_ms: 25 },
    { name: 'offset=10000', path: '/messages?offset=10000', expected: expected.all, bar_ms: 15, pg_bar_ms: 25 },
    { name: 'cursor mid-way', path: `/messages?cursor=${cursorPage.next_cursor}`, expected: expected.all, bar_ms: 15, pg_bar_ms: 25 },
    { name: 'GET /stats', path: '/stats', bar_ms: 5, pg_bar_ms: 10 },
  ];
  const others: QueryCase[] = [
    { name: `q=${facts.commonWord} (1 in 5)`, path: `/messages?q=${facts.commonWord}`, expected: expected.common, bar_ms: 100, pg_bar_ms: 400 },
    {
      name: `q=${facts.commonNonAsciiWord} (1 in 5)`,
      path: `/messages?q=${enc(facts.commonNonAsciiWord)}`,
      expected: expected.commonNonAscii,
      bar_ms: 100,
      pg_bar_ms: 400,
    },
    { name: 'since (a year)', path: `/messages?since=${since.year}`, expected: expected.year, bar_ms: 100 },
    { name: 'since (all but a day)', path: `/messages?since=${since.old}`, expected: expected.old, bar_ms: 100 },
    // The rare shapes: a scan, or deep into many matches (the issue's 400 ms).
    { name: 'q=ok (2 chars)', path: '/messages?q=ok', expected: expected.ok, bar_ms: 400, pg_bar_ms: 600 },
    { name: 'q=th (2 chars, 3 in 5)', path: '/messages?q=th', expected: expected.th, bar_ms: 400, pg_bar_ms: 600 },
    { name: 'q=x (1 char, 1 in 10)', path: '/messages?q=x', expected: expected.x, bar_ms: 400, pg_bar_ms: 600 },
    { name: 'q=e (1 char, 4 in 5)', path: '/messages?q=e', expected: expected.e, bar_ms: 400, pg_bar_ms: 600 },
    { name: 'q=zq (2 chars, none)', path: '/messages?q=zq', expected: expected.zq, bar_ms: 400, pg_bar_ms: 600 },
    { name: `since (a year)+q=${facts.commonWord}`, path: `/messages?since=${since.year}&q=${facts.commonWord}`, expected: expected.yearCommon, bar_ms: 400 },
    { name: `q=${facts.commonWord}, offset=99000`, path: `/messages?q=${facts.commonWord}&offset=99000`, bar_ms: 400 },
    { name: `since (a year)+q, offset=90000`, path: `/messages?since=${since.year}&q=${facts.commonWord}&offset=90000`, bar_ms: 400 },
    { name: 'offset=100000', path: '/messages?offset=100000', bar_ms: 400 },
    { name: 'offset=500000', path: '/messages?offset=500000', bar_ms: 400 },
    // Newest first (the inbox's default view) reads the same indexes backwards: the same bars.
    { name: 'no filter, desc', path: '/messages?order=desc', expected: expected.all, bar_ms: 15, pg_bar_ms: 25 },
    { name: 'from, desc', path: `/messages?from=${enc(facts.sender)}&order=desc`, expected: expected.from, bar_ms: 15, pg_bar_ms: 25 },
    { name: `q=${facts.commonWord}, desc`, path: `/messages?q=${facts.commonWord}&order=desc`, expected: expected.common, bar_ms: 100, pg_bar_ms: 400 },
  ];

  const measure = async (c: QueryCase): Promise<Record<string, unknown>> => {
    const body = (await (await get(service.url + c.path)).json()) as { total?: number };
    const l = load(service.url, 1, others.includes(c) ? Math.max(2, QUERY_SECONDS - 2) : QUERY_SECONDS, getFile('one', [c.path]));
    // Service time, as the bar means it: each request as it was timed (a wrk without LuaJIT's FFI cannot:
    // then its corrected figures, the stricter ones). wrk's corrected p99 beside it.
    const p99 = ms(l.raw_p99_us ?? l.p99_us);
    return {
      name: c.name,
      path: c.path,
      p50_ms: ms(l.raw_p50_us ?? l.p50_us),
      p99_ms: p99,
      max_ms: ms(l.raw_max_us ?? l.max_us),
      p99_corrected_ms: ms(l.p99_us),
      timed_raw: l.raw_p99_us !== undefined,
      requests: l.requests,
      non_2xx: l.non_2xx,
      total: body.total ?? null,
      ...(c.expected !== undefined && { expected_total: c.expected, total_ok: body.total === c.expected }),
      ...(c.bar_ms !== undefined && { bar_ms: c.bar_ms, within_bar: p99 <= c.bar_ms }),
    };
  };
  seededForPostgres = { path: dbPath, cases: [...cases, ...others] };
  const main = [];
  for (const c of cases) main.push(await measure(c));
  const rssMain = peakRssMb(service);
  const extra = [];
  for (const c of others) extra.push(await measure(c));
  const rssOthers = peakRssMb(service);

  // Mixed reads: the seven cases with varied senders, words and pages, at 10 connections.
  const words = ['kumquat', 'zeppelin', 'quokka', 'marzipan', 'theremin', 'axolotl', 'saffron', 'origami', 'tundra', 'gazpacho'];
  const mixedPaths = words.flatMap((w, i) => [
    '/messages',
    `/messages?from=${enc(`+91${9_000_000_000 + (1000 + i * 4000) * 7919}`)}`,
    `/messages?since=${since.recent}&offset=${i * 50}`,
    `/messages?q=${w}`,
    `/messages?from=${enc(facts.heavySender)}&since=${since.year}&q=${w}`,
    `/messages?offset=${i * 1000}`,
    '/stats',
  ]);
  const mixed = load(service.url, MIXED_CONNECTIONS, INGEST_SECONDS, getFile('mixed', mixedPaths));
  const rss = peakRssMb(service);
  await stop(service);

  // Third start, measured alone: start-up to ready on the migrated 1M-row file.
  const again = await startService(dbPath, 'restart');
  const readyMs = again.readyMs;
  await stop(again);

  return {
    rows: ROWS,
    seed_seconds: Math.round(facts.seconds * 10) / 10,
    migration_ms: Math.round(migrationMs),
    migration_progress_lines: progress,
    migration_peak_rss_mb: migrationRss,
    startup_to_ready_ms: Math.round(readyMs),
    cases: main,
    others: extra,
    mixed: { connections: MIXED_CONNECTIONS, rps: rate(mixed), p50_ms: ms(mixed.p50_us), p99_ms: ms(mixed.p99_us), non_2xx: mixed.non_2xx },
    peak_rss_mb: rss,
    // Where the peak was reached: after the seven cases, after the heavy ones (scans, common words).
    peak_rss_mb_after: { cases: rssMain, others: rssOthers, mixed: rss },
  };
}

// ---- report ---------------------------------------------------------------------------------------

const pad = (s: unknown, n: number): string => String(s).padEnd(n);
const padL = (s: unknown, n: number): string => String(s).padStart(n);

function table(r: { ingest: Record<string, any> | null; queries: Record<string, any> | null }): string {
  const { ingest, queries } = r;
  const out: string[] = [];
  out.push(`machine: ${machine}`);
  out.push('');
  if (ingest) ingestTable(out, ingest);
  if (queries) queryTable(out, queries, ingest);
  return out.join('\n');
}

function ingestTable(out: string[], ingest: Record<string, any>): void {
  out.push(`ingest: ${ingest.connections} keep-alive connections, ${ingest.seconds} s each, signed unique messages, synchronous=FULL`);
  out.push(useWrk ? `  (p50/p99: wrk's figures, corrected for coordinated omission)` : '  (p50/p99: as bench/load.ts timed each request)');
  out.push(`  ${pad('case', 26)}${padL('req/s', 8)}${padL('p50 ms', 9)}${padL('p99 ms', 9)}${padL('x ceiling', 11)}`);
  const rows = [
    ['ceiling (no storage)', ingest.ceiling],
    ['ingest, unique', ingest.unique],
    ['ingest, all duplicate', ingest.duplicate],
    ['ingest, unique, shuffled', ingest.shuffled],
    ['ingest, unique, pruning', ingest.pruning],
  ] as const;
  for (const [name, row] of rows) {
    if (row === undefined) continue;
    out.push(`  ${pad(name, 26)}${padL(row.rps, 8)}${padL(row.p50_ms, 9)}${padL(row.p99_ms, 9)}${padL(row.ratio.toFixed(2), 11)}`);
  }
  out.push(`  CPU per request, us (this run): the server's threads (HTTP / others) and ${useWrk ? 'wrk' : 'the load generator'}; what 0.8 x the`);
  out.push(`  ceiling's rate would take at that cost, in cores of the machine's ${CORES}:`);
  for (const [name, row] of rows) {
    if (row === undefined) continue;
    const c = row.cpu_us_per_request;
    const server = name.startsWith('ceiling') ? `${c.http + c.other}` : `${c.http} / ${c.other}`;
    out.push(`  ${pad(name, 26)}${padL(server, 16)}${padL(c.wrk ?? '-', 6)}${padL(row.cores_at_bar === null ? '-' : `${row.cores_at_bar} cores`, 12)}`);
  }
  out.push(`  ${ingest.unique.stored} rows stored for ${ingest.unique.requests} completed unique requests; non-2xx ${ingest.unique.non_2xx}`);
  out.push(`  the writer (group commits, BEGIN to a durable COMMIT, on the HTTP thread): ${ingest.unique.writer_us_per_row} us a stored row, fsync included`);
  if (ingest.shuffled) {
    out.push(`  shuffled: senders and ids in no order; ${ingest.shuffled.stored} rows stored for ${ingest.shuffled.requests} completed requests; non-2xx ${ingest.shuffled.non_2xx}`);
  }
  if (ingest.pruning) {
    out.push(`  pruning: RETENTION_DAYS=1 deleted ${ingest.pruning.pruned} older rows while this load ran; non-2xx ${ingest.pruning.non_2xx}`);
  }
  out.push('');
}

function queryTable(out: string[], queries: Record<string, any>, ingest: Record<string, any> | null): void {
  out.push(`queries at ${queries.rows.toLocaleString('en')} messages, one keep-alive connection; p50/p99: each request timed as it was (service time)`);
  if (useWrk) out.push(`  (wrk p99: wrk's own figure, corrected for coordinated omission, which a few pauses of some ms decide)`);
  if (!queries.cases.every((c: { timed_raw: boolean }) => c.timed_raw)) out.push('  (this wrk could not time requests itself: p50/p99 are its corrected figures)');
  out.push(`  ${pad('case', 34)}${padL('p50 ms', 8)}${padL('p99 ms', 8)}${padL('bar', 6)}${padL(useWrk ? 'wrk p99' : '', 9)}  total`);
  for (const c of [...queries.cases, ...queries.others]) {
    const total = c.total === null ? '' : `${c.total}${c.total_ok === undefined ? '' : c.total_ok ? ' (ok)' : ` (WRONG, expected ${c.expected_total})`}`;
    const bar = c.bar_ms === undefined ? '' : `${c.within_bar ? '' : '!'}${c.bar_ms}`;
    out.push(`  ${pad(c.name, 34)}${padL(c.p50_ms, 8)}${padL(c.p99_ms, 8)}${padL(bar, 6)}${padL(useWrk ? c.p99_corrected_ms : '', 9)}  ${total}`);
  }
  out.push(`  mixed reads, ${queries.mixed.connections} connections: ${queries.mixed.rps} req/s, p99 ${queries.mixed.p99_ms} ms`);
  out.push('');
  out.push(
    `start-up: seed ${queries.seed_seconds} s; one-time migration to ready ${(queries.migration_ms / 1000).toFixed(1)} s ` +
      `(${queries.migration_progress_lines} progress lines); start-up to ready ${queries.startup_to_ready_ms} ms`,
  );
  const q = queries.peak_rss_mb_after;
  out.push(
    `peak RSS: ${ingest ? `ingest ${ingest.peak_rss_mb} MB; ` : ''}queries ${q.cases} MB after the seven cases, ${q.others} MB after the others, ` +
      `${q.mixed} MB after mixed reads; migration ${queries.migration_peak_rss_mb} MB`,
  );
}

mkdirSync(DATA, { recursive: true });
const started = performance.now();
log(`machine: ${machine}`);
log('ingest ...');
const ingest = PHASES.includes('ingest') ? await ingestPhase() : null;
log('queries ...');
const queries = PHASES.includes('queries') ? await queryPhase() : null;
log('postgres ...');
const pgMissing = postgresMissing();
if (pgMissing !== null) log(`  PostgreSQL not measured: ${pgMissing}`);
const postgresResults =
  PHASES.includes('postgres') && pgMissing === null
    ? await postgresPhase({
        secret: SECRET,
        load,
        bodies: (name, count, prefix) => {
          const file = join(DATA, `${name}.txt`);
          writeBodies(file, count, prefix);
          return file;
        },
        seconds: INGEST_SECONDS,
        connections: INGEST_CONNECTIONS,
        ...(seededForPostgres && { seeded: seededForPostgres }),
        log,
      })
    : null;
log('whatsapp ...');
const bodies = (name: string, count: number, prefix: string): string => (writeBodies(join(DATA, `${name}.txt`), count, prefix), join(DATA, `${name}.txt`));
const wa = PHASES.includes('whatsapp') ? await whatsappPhase({ startService, stop, get, load, bodies, dataDir: DATA, seconds: INGEST_SECONDS, connections: INGEST_CONNECTIONS, log }) : null;
const erasure = PHASES.includes('erasure') ? (log('erasure and export ...'), await erasureExportPhase({ rows: ROWS, seconds: INGEST_SECONDS, log })) : null;
const stream = PHASES.includes('stream') ? await streamPhase({ startService, stop, load, bodies, dataDir: DATA, secret: SECRET, seconds: INGEST_SECONDS, connections: INGEST_CONNECTIONS, log }) : null;
const results = { date: new Date().toISOString(), machine, generator, pinned: PIN, ingest, queries, postgres: postgresResults, whatsapp: wa, erasure, stream, seconds: Math.round((performance.now() - started) / 1000) };
writeFileSync(join(ROOT, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
log('');
log(table(results));
if (postgresResults) log(postgresTable(postgresResults).join('\n'));
if (wa) log(whatsappTable(wa).join('\n'));
if (erasure) log(`erasure and export: ${JSON.stringify(erasure)}`);
if (stream) log(streamTable(stream).join('\n'));
log(`\n(${results.seconds} s; figures in bench/results.json)`);
