// GET /messages/stream under load (issue 25's bar): unique ingest at 50 connections with 20 stream
// clients connected, as a ratio of the same run without them (bar: >= 0.9), and how long an event takes
// to reach the clients after its 200 (bar: p99 <= 100 ms on SQLite). The clients run in a child process
// (this file, `clients` mode): bench/run.ts's load generator blocks its own event loop while it runs.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { sign } from '../src/domain/signature.ts';
import { cpuUs, middle, round2 } from './whatsapp.ts';

const CLIENTS = 20;
/** Messages posted one at a time for the latency case. */
const LATENCY_MESSAGES = 200;

type Load = { requests: number; duration_us: number; non_2xx: number; errors: number };
type Service = { url: string; child: { pid?: number } };

export type StreamBenchDeps<S extends Service> = {
  startService(dbPath: string, name: string): Promise<S>;
  stop(service: S): Promise<void>;
  load(url: string, connections: number, seconds: number, file: string): Load;
  bodies(name: string, count: number, prefix: string): string;
  dataDir: string;
  secret: string;
  seconds: number;
  connections: number;
  log(line: string): void;
};

export type StreamResult = {
  clients: number;
  /** Runs with the clients, each between two without them. */
  rounds: number;
  rps_without_runs: number[];
  rps_with_runs: number[];
  /** Each run with clients against the mean of the runs just before and after it. */
  ratios: number[];
  /** Their median: one run disturbed by the host moves it less than it moves a single pair. */
  ratio: number;
  /** What the clients read in all in their last run, in MB: that run's events, 20 times over. */
  mb_received: number;
  /** The service's CPU a request, the mean of the runs without clients and of those with them. */
  service_cpu_us_per_request: { without: number; with: number };
  /** CPU the clients' process used in its last run, all of it, on the same two cores. */
  clients_cpu_s: number;
  latency_ms: { p50: number; p99: number; max: number };
};

/** Runs with clients; each sits between two without them. */
const ROUNDS = 5;

const rps = (l: Load): number => Math.round(l.requests / (l.duration_us / 1e6));
const mean = (xs: number[]): number => Math.round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));

export async function streamPhase<S extends Service>(deps: StreamBenchDeps<S>): Promise<StreamResult> {
  const dbPath = `${deps.dataDir}/stream.db`;
  // A fresh file: on the last run's, every message would be a duplicate, and never an event.
  for (const s of ['', '-wal', '-shm']) rmSync(dbPath + s, { force: true });
  const service = await deps.startService(dbPath, 'stream');
  try {
    deps.load(service.url, deps.connections, 2, deps.bodies('stream-warm', 20_000, 'stream-warm'));
    // Without, with, without, ... without: the file grows and the machine drifts during the phase, so
    // each run with clients is compared with the mean of the runs just before and after it.
    // The service's CPU a request in each run: what the clients cost it, apart from the cores they take.
    // Bodies written beforehand, so that the runs follow one another closely.
    const files = Array.from({ length: 2 * ROUNDS + 1 }, (_, i) => `stream-${String.fromCharCode(97 + i)}`).map((name) => deps.bodies(name, 200_000, name));
    const run = (): { rps: number; cpuUs: number } => {
      const file = files.shift();
      if (file === undefined) throw new Error('more runs than files of bodies');
      const cpu = cpuUs(service.child.pid).all;
      const l = deps.load(service.url, deps.connections, deps.seconds, file);
      return { rps: rps(l), cpuUs: Math.round((cpuUs(service.child.pid).all - cpu) / Math.max(1, l.requests)) };
    };
    const without = [run()];
    const withClients: { rps: number; cpuUs: number }[] = [];
    type Report = { bytes: number; latency_ms: StreamResult['latency_ms']; clients_cpu_s: number };
    let report: Report | null = null;
    for (let round = 1; round <= ROUNDS; round += 1) {
      const clients = spawn(process.execPath, [import.meta.filename, 'clients', service.url, deps.secret], { stdio: ['pipe', 'pipe', 'inherit'] });
      const lines = createInterface({ input: clients.stdout })[Symbol.asyncIterator]();
      const next = async (): Promise<string> => String((await lines.next()).value ?? '');
      if ((await next()) !== 'ready') throw new Error('stream clients did not start');
      withClients.push(run());
      // The latency case once, after the last run with clients.
      if (round === ROUNDS) {
        clients.stdin.write('latency\n');
        report = JSON.parse(await next()) as Report;
      }
      clients.stdin.end();
      await new Promise((resolve) => clients.once('exit', resolve));
      without.push(run());
    }
    if (report === null) throw new Error('the stream clients sent no report');
    const ratios = withClients.map((w, i) => round2(w.rps / (((without[i]?.rps ?? NaN) + (without[i + 1]?.rps ?? NaN)) / 2)));
    const result: StreamResult = {
      clients: CLIENTS,
      rounds: ROUNDS,
      rps_without_runs: without.map((r) => r.rps),
      rps_with_runs: withClients.map((r) => r.rps),
      ratios,
      ratio: middle(ratios),
      mb_received: Math.round(report.bytes / 1e6),
      service_cpu_us_per_request: { without: mean(without.map((r) => r.cpuUs)), with: mean(withClients.map((r) => r.cpuUs)) },
      clients_cpu_s: report.clients_cpu_s,
      latency_ms: report.latency_ms,
    };
    deps.log(`  stream: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await deps.stop(service);
  }
}

export function streamTable(r: StreamResult): string[] {
  return [
    '',
    `GET /messages/stream, ${r.clients} clients | unique ingest x${r.ratio} the runs without them (bar >= 0.9): the median of x${r.ratios.join(', x')}`,
    `  req/s with the clients ${r.rps_with_runs.join(', ')}; without, before, between and after them ${r.rps_without_runs.join(', ')}`,
    `  service CPU a request: ${r.service_cpu_us_per_request.without} us without the clients, ${r.service_cpu_us_per_request.with} with them; in the last run the clients read ${r.mb_received} MB with ${r.clients_cpu_s} s of CPU`,
    `  event after its 200: p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, max ${r.latency_ms.max} ms (bar: p99 <= 100 ms)`,
  ];
}

/**
 * One stream read as cheaply as a client can: a raw socket, its bytes counted and only the latency
 * case's message ids picked out of what arrives (each write of the server holds whole events), so the
 * clients, on the same cores as the service, take as little of them as they can. Resolves once open.
 */
function follow(url: string, received: { bytes: number }, onLatency: (id: string) => void): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`GET /messages/stream HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`));
    let rest: Buffer = Buffer.alloc(0);
    let open = false;
    socket.on('data', (chunk: Buffer) => {
      const bytes = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      const last = bytes.lastIndexOf('\n\n');
      const end = last === -1 ? 0 : last + 2;
      // Counted as bytes (as `curl -N` would write them out), not decoded: only the latency case's events are read.
      received.bytes += chunk.length;
      if (bytes.includes('"lat-')) for (const m of bytes.toString('latin1', 0, end).matchAll(/^data: \{"message_id":"(lat-[^"]*)"/gm)) onLatency(m[1] ?? '');
      rest = bytes.subarray(end);
      if (!open && bytes.includes(': stream open')) (open = true), resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** The child: CLIENTS streams read all along; on `latency`, messages posted one at a time and timed to each client. */
async function runClients(url: string, secret: string): Promise<void> {
  const arrivals = new Map<string, number[]>();
  const received = { bytes: 0 };
  const streams: Socket[] = [];
  for (let i = 0; i < CLIENTS; i += 1) {
    streams.push(await follow(url, received, (id) => (arrivals.get(id) ?? arrivals.set(id, []).get(id))?.push(performance.now())));
  }
  process.stdout.write('ready\n');
  const input = createInterface({ input: process.stdin });
  for await (const line of input) {
    if (line !== 'latency') continue;
    const lags: number[] = [];
    for (let i = 0; i < LATENCY_MESSAGES; i += 1) {
      const id = `lat-${i}`;
      const body = JSON.stringify({ message_id: id, from: '+919876543210', to: '+14155550100', ts: '2025-01-15T10:00:00Z', text: 'latency' });
      const res = await fetch(`${url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': sign(body, secret) }, body });
      await res.arrayBuffer();
      const acked = performance.now();
      for (const until = acked + 5_000; (arrivals.get(id)?.length ?? 0) < CLIENTS && performance.now() < until; ) await new Promise((r) => setTimeout(r, 1));
      for (const at of arrivals.get(id) ?? []) lags.push(Math.max(0, at - acked));
    }
    lags.sort((a, b) => a - b);
    const at = (q: number): number => Math.round((lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? NaN) * 10) / 10;
    const used = process.cpuUsage();
    const clientsCpu = Math.round((used.user + used.system) / 1e4) / 100;
    process.stdout.write(`${JSON.stringify({ bytes: received.bytes, latency_ms: { p50: at(0.5), p99: at(0.99), max: at(1) }, clients_cpu_s: clientsCpu })}\n`);
  }
  for (const s of streams) s.destroy();
  process.exit(0);
}

if (process.argv[2] === 'clients') await runClients(process.argv[3] ?? '', process.argv[4] ?? '');
