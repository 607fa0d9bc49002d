// Erasure and export (issue 24) on the real service over a seeded SQLite file: the export of every row
// as NDJSON and CSV (time, the service's RSS growth over idle), unique ingest with and without one
// sender's 10,000 messages erased meanwhile (p99), and what secure_delete costs inserts and retention's
// deletes on the writing connection. `make bench` runs it (BENCH_PHASES=erasure alone); also on its own:
// `node bench/erasure-export.ts` (BENCH_ROWS, BENCH_SECONDS as for run.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sign } from '../src/domain/signature.ts';
import { serviceArgs } from '../tools/service-command.ts';
import { seedDatabase } from './seed.ts';

const ROOT = join(import.meta.dirname, '..');
const DATA = join(ROOT, 'bench', 'data');
const SECRET = 'bench-secret';
const ADMIN = 'bench-admin-token-0123456789';
const ERASED_SENDER = '+15550000001';
const ERASED_ROWS = 10_000;

export type ErasureExportResults = {
  rows: number;
  ndjson: { seconds: number; mb: number; rss_growth_mb: number };
  csv: { seconds: number; mb: number; rss_growth_mb: number };
  ingest_p99_ms: { alone: number; erasing: number };
  ingest_rps: { alone: number; erasing: number };
  erase: { rows: number; seconds: number; left: number };
  secure_delete: { insert_us_per_row: { off: number; on: number }; delete_us_per_row: { off: number; on: number } };
};

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function start(dbPath: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, serviceArgs(), {
    env: { ...process.env, WEBHOOK_SECRET: SECRET, ADMIN_TOKENS: ADMIN, DATABASE_URL: `sqlite:///${dbPath}`, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'ERROR' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (const until = Date.now() + 900_000; ; ) {
    const ok = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ok) return { child, url };
    if (Date.now() > until) throw new Error('the service did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One export read to the end as fast as this process takes it; RSS of the service sampled meanwhile. */
async function exportOnce(url: string, pid: number, format: string): Promise<{ seconds: number; mb: number; rss_growth_mb: number }> {
  const idle = rssMb(pid);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
  const started = performance.now();
  const res = await fetch(`${url}/messages/export?format=${format}`);
  let bytes = 0;
  for await (const chunk of res.body ?? []) bytes += (chunk as Uint8Array).length;
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  return { seconds: round(seconds), mb: round(bytes / 1e6, 1), rss_growth_mb: round(peak - idle, 1) };
}

/** bench/load.ts: `connections` closed-loop clients posting signed unique messages for `seconds`. */
function ingest(url: string, file: string, seconds: number): Promise<{ p99_ms: number; rps: number }> {
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'load.ts'), url, '50', String(seconds), file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', () => {
      const line = /WRK_JSON (.+)/.exec(out)?.[1];
      if (line === undefined) return reject(new Error('load.ts printed no result'));
      const r = JSON.parse(line) as { requests: number; duration_us: number; p99_us: number; non_2xx: number };
      if (r.non_2xx > 0) return reject(new Error(`${r.non_2xx} ingest requests failed`));
      resolve({ p99_ms: round(r.p99_us / 1000), rps: Math.round(r.requests / (r.duration_us / 1e6)) });
    }),
  );
}

function bodies(file: string, prefix: string, count: number): void {
  const lines: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const body = JSON.stringify({ message_id: `${prefix}-${i}`, from: `+4477${String(i % 5000).padStart(8, '0')}`, to: '+14155550100', ts: '2026-01-01T00:00:00Z', text: `bench message ${i}` });
    lines.push(`POST\t/webhook\t${sign(body, SECRET)}\t${body}`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
}

/** Inserting and deleting 20,000 rows of the seeded file's copy, secure_delete off and on (microseconds a row). */
function secureDeleteCost(seeded: string): ErasureExportResults['secure_delete'] {
  const measure = (mode: 'OFF' | 'ON'): { insert: number; remove: number } => {
    const path = join(DATA, `erasure-secure-${mode}.db`);
    copyFileSync(seeded, path);
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ${mode}`);
    const insert = db.prepare('INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)');
    const remove = db.prepare('DELETE FROM messages WHERE rowid IN (SELECT rowid FROM messages ORDER BY created_at LIMIT 500)');
    const rows = 20_000;
    let t = performance.now();
    for (let b = 0; b < rows / 500; b += 1) {
      db.exec('BEGIN');
      for (let i = 0; i < 500; i += 1) insert.run(`sd-${b}-${i}`, '+1555', '+1666', '2026-01-01T00:00:00Z', `secure delete cost ${b} ${i} `.repeat(3), '2026-01-01T00:00:00Z');
      db.exec('COMMIT');
    }
    const ins = ((performance.now() - t) * 1000) / rows;
    t = performance.now();
    for (let b = 0; b < rows / 500; b += 1) {
      db.exec('BEGIN');
      remove.run();
      db.exec('COMMIT');
    }
    const del = ((performance.now() - t) * 1000) / rows;
    db.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    return { insert: round(ins, 1), remove: round(del, 1) };
  };
  const off = measure('OFF');
  const on = measure('ON');
  return { insert_us_per_row: { off: off.insert, on: on.insert }, delete_us_per_row: { off: off.remove, on: on.remove } };
}

export async function erasureExportPhase(options: { rows: number; seconds: number; log: (line: string) => void }): Promise<ErasureExportResults> {
  const { rows, seconds, log } = options;
  mkdirSync(DATA, { recursive: true });
  const path = join(DATA, 'erasure.db');
  log(`  seeding ${rows} rows plus ${ERASED_ROWS} of one sender ...`);
  seedDatabase(path, { rows, senders: 50_000, days: 730, start: '2024-01-01T00:00:00Z' });
  const seeded = new DatabaseSync(path);
  const add = seeded.prepare('INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)');
  seeded.exec('BEGIN');
  for (let i = 0; i < ERASED_ROWS; i += 1) add.run(`erase-me-${i}`, ERASED_SENDER, '+14155550100', '2025-06-01T00:00:00Z', `a person's message ${i}`, '2025-06-01T00:00:00Z');
  seeded.exec('COMMIT');
  seeded.close();
  const secureDelete = secureDeleteCost(path);
  log('  starting the service (migrating the file) ...');
  const { child, url } = await start(path);
  try {
    const pid = child.pid ?? 0;
    await fetch(`${url}/stats`);
    const ndjson = await exportOnce(url, pid, 'ndjson');
    const csv = await exportOnce(url, pid, 'csv');
    log(`  export: ndjson ${ndjson.seconds} s, csv ${csv.seconds} s`);
    const file = join(DATA, 'erasure-bodies.txt');
    bodies(file, 'alone', 300_000);
    const alone = await ingest(url, file, seconds);
    bodies(file, 'erasing', 300_000);
    const during = ingest(url, file, seconds);
    await new Promise((r) => setTimeout(r, 1_000));
    const t = performance.now();
    const res = await fetch(`${url}/messages?from=${encodeURIComponent(ERASED_SENDER)}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    const erased = ((await res.json()) as { deleted: number }).deleted;
    const eraseSeconds = round((performance.now() - t) / 1000);
    const erasing = await during;
    const left = ((await (await fetch(`${url}/messages?from=${encodeURIComponent(ERASED_SENDER)}&limit=1`)).json()) as { total: number }).total;
    return {
      rows,
      ndjson,
      csv,
      ingest_p99_ms: { alone: alone.p99_ms, erasing: erasing.p99_ms },
      ingest_rps: { alone: alone.rps, erasing: erasing.rps },
      erase: { rows: erased, seconds: eraseSeconds, left },
      secure_delete: secureDelete,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

if (import.meta.filename === process.argv[1]) {
  const results = await erasureExportPhase({ rows: Number(process.env.BENCH_ROWS ?? 1_000_000), seconds: Number(process.env.BENCH_SECONDS ?? 10), log: console.log });
  console.log(JSON.stringify(results, null, 2));
}
