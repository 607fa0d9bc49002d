// `make soak SOAK_ENGINE=postgres`: the crash soak for several replicas. Two built replicas on one
// PostgreSQL (a throwaway cluster, fsync on) behind HAProxy take signed load without pause; each cycle
// SIGKILLs one replica (chosen by the seed) and starts it again on its port, and every third cycle
// restarts PostgreSQL instead. At the end every acknowledged message must be stored, and no answer may
// have been a 500. Prints a summary table; exits non-zero when a promise was broken.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { startCluster } from '../test/postgres-cluster.ts';
import { sendLoad, startBalancer, startReplica, type Replica } from '../test/replicas.ts';
import { createRandom, seedFrom } from './prng.ts';

const seed = seedFrom('SOAK_SEED');
const cycles = Number(process.env.SOAK_CYCLES ?? 12);
if (!Number.isInteger(cycles) || cycles < 1) throw new Error('SOAK_CYCLES must be a positive integer');
console.log(`soak (PostgreSQL): seed ${seed} (replay with SOAK_SEED=${seed}), ${cycles} cycles, 2 replicas behind HAProxy`);

const random = createRandom(seed);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cluster = startCluster({ fsync: true });
const dir = mkdtempSync(join(tmpdir(), 'lyftr-soak-pg-'));
const url = await cluster.database('soak');
const replicas: Replica[] = await Promise.all([startReplica(url), startReplica(url)]);
const balancer = await startBalancer(dir, replicas.map((r) => r.port));
const started = Date.now();
let stop = false;
let kills = 0;
let restarts = 0;
let crashes = 0;
const loading = sendLoad(balancer.url, `soak-${seed}`, { concurrency: 16, maxRequests: 2_000_000, stop: () => stop });
try {
  for (let cycle = 1; cycle <= cycles; cycle += 1) {
    await sleep(1_000 + random.int(1_000));
    if (cycle % 3 === 0) {
      await cluster.stop();
      await sleep(500 + random.int(1_500));
      await cluster.start();
      restarts += 1;
    } else {
      const i = random.int(replicas.length);
      const victim = replicas[i] as Replica;
      victim.proc.kill('SIGKILL');
      await victim.exited;
      kills += 1;
      // Back on its port, so the balancer's health check finds it again.
      replicas[i] = await startReplica(url, { PORT: String(victim.port) }).catch(() => {
        crashes += 1;
        return victim;
      });
    }
  }
  await sleep(3_000);
} finally {
  stop = true;
}
const load = await loading;
const sql = postgres(url, { max: 1, onnotice: () => {} });
const stored = new Set((await sql<{ message_id: string }[]>`SELECT message_id FROM messages`).map((r) => r.message_id));
await sql.end();
await balancer.stop();
for (const r of replicas) await r.stop();
await cluster.stop();
rmSync(dir, { recursive: true, force: true });

const lost = load.acked.filter((id) => !stored.has(id)).length;
const requests = [...load.statuses.values()].reduce((a, b) => a + b, 0);
const serverErrors = [...load.statuses].filter(([status]) => status === 500).reduce((a, [, n]) => a + n, 0);
const row = (cells: (string | number)[]): string => `| ${cells.map(String).join(' | ')} |`;
const head = ['cycles', 'kills', 'PostgreSQL restarts', 'requests', 'acked', 'stored', 'lost', '500s', '503s', 'no answer', '503 without Retry-After', 'crashes'];
console.log(`\n${row(head)}\n${row(head.map(() => '---'))}`);
console.log(
  row([cycles, kills, restarts, requests, load.acked.length, stored.size, lost, serverErrors, load.statuses.get(503) ?? 0, load.statuses.get(0) ?? 0, load.missingRetryAfter, crashes]),
);
console.log(`\n${((Date.now() - started) / 1000).toFixed(1)} s; "no answer": connections cut by a kill (never acknowledged, so the sender retries)`);
const broken: string[] = [];
if (lost > 0) broken.push('acknowledged messages lost');
if (serverErrors > 0) broken.push('500 answers');
if (load.missingRetryAfter > 0) broken.push('503 without Retry-After');
if (crashes > 0) broken.push('a replica failed to start again');
console.log(broken.length === 0 ? '\nsoak: PASS' : `\nsoak: FAIL: ${broken.join('; ')}`);
process.exitCode = broken.length === 0 ? 0 : 1;
