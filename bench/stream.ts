// GET /messages/stream under load (issue 25's bar): unique ingest at 50 connections with 20 stream
// clients connected, as a ratio of the same run without them (bar: >= 0.9), and how long an event takes
// to reach the clients after its 200 (bar: p99 <= 100 ms on SQLite). The clients run in a child process
// (this file, `clients` mode): bench/run.ts's load generator blocks its own event loop while it runs.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { sign } from '../src/domain/signature.ts';
import { cpuUs } from './whatsapp.ts';

const CLIENTS = 20;
/** Messages posted one at a time for the latency case. */
const LATENCY_MESSAGES = 200;
/** How an event starts on the wire (after the chunk framing's CRLF or the previous event's blank line). */
const EVENT_LINE = Buffer.from('\nid: ');

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
  /** The mean of the runs before and after the one with clients. */
  rps_without: number;
  rps_without_runs: number[];
  rps_with: number;
  ratio: number;
  events_received: number;
  service_cpu_us_per_request: { before: number; with: number; after: number };
  /** CPU the client process used, all of it, on the same two cores. */
  clients_cpu_s: number;
  latency_ms: { p50: number; p99: number; max: number };
};

const rps = (l: Load): number => Math.round(l.requests / (l.duration_us / 1e6));

export async function streamPhase<S extends Service>(deps: StreamBenchDeps<S>): Promise<StreamResult> {
  const dbPath = `${deps.dataDir}/stream.db`;
  // A fresh file: on the last run's, every message would be a duplicate, and never an event.
  for (const s of ['', '-wal', '-shm']) rmSync(dbPath + s, { force: true });
  const service = await deps.startService(dbPath, 'stream');
  try {
    deps.load(service.url, deps.connections, 2, deps.bodies('stream-warm', 20_000, 'stream-warm'));
    // Without, with, without again: the file grows and the machine drifts during the phase, so the
    // runs with clients are compared with the mean of a run before and a run after them.
    // The service's CPU a request in each run: what the clients cost it, apart from the cores they take.
    const perRequest: number[] = [];
    const run = (file: string): Load => {
      const cpu = cpuUs(service.child.pid).all;
      const l = deps.load(service.url, deps.connections, deps.seconds, file);
      perRequest.push(Math.round((cpuUs(service.child.pid).all - cpu) / Math.max(1, l.requests)));
      return l;
    };
    const before = run(deps.bodies('stream-a', 500_000, 'stream-a'));
    const clients = spawn(process.execPath, [import.meta.filename, 'clients', service.url, deps.secret], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: clients.stdout })[Symbol.asyncIterator]();
    const next = async (): Promise<string> => String((await lines.next()).value ?? '');
    if ((await next()) !== 'ready') throw new Error('stream clients did not start');
    const withClients = run(deps.bodies('stream-b', 500_000, 'stream-b'));
    clients.stdin.write('latency\n');
    const report = JSON.parse(await next()) as { events: number; latency_ms: StreamResult['latency_ms']; clients_cpu_s: number };
    clients.stdin.end();
    await new Promise((resolve) => clients.once('exit', resolve));
    const after = run(deps.bodies('stream-c', 500_000, 'stream-c'));
    const without = Math.round((rps(before) + rps(after)) / 2);
    const result: StreamResult = {
      clients: CLIENTS,
      rps_without: without,
      rps_without_runs: [rps(before), rps(after)],
      rps_with: rps(withClients),
      ratio: Math.round((rps(withClients) / without) * 100) / 100,
      events_received: report.events,
      service_cpu_us_per_request: { before: perRequest[0] ?? NaN, with: perRequest[1] ?? NaN, after: perRequest[2] ?? NaN },
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
    `GET /messages/stream, ${r.clients} clients | unique ingest ${r.rps_with} req/s vs ${r.rps_without} without (the mean of ${r.rps_without_runs.join(' before and ')} after; x${r.ratio}, bar >= 0.9)`,
    `  service CPU a request: ${r.service_cpu_us_per_request.before} us before, ${r.service_cpu_us_per_request.with} with the clients, ${r.service_cpu_us_per_request.after} after; the clients' process used ${r.clients_cpu_s} s of CPU`,
    `  event after its 200: p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, max ${r.latency_ms.max} ms (bar: p99 <= 100 ms)`,
  ];
}

/**
 * One stream read as cheaply as a client can: a raw socket, its events counted and only the latency
 * case's message ids picked out of what arrives (each write of the server holds whole events), so the
 * clients, on the same cores as the service, take as little of them as they can. Resolves once open.
 */
function follow(url: string, events: { count: number }, onLatency: (id: string) => void): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`GET /messages/stream HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`));
    let rest: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const bytes = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      const last = bytes.lastIndexOf('\n\n');
      const end = last === -1 ? 0 : last + 2;
      // Events counted by their `id:` lines, without decoding; only the latency case's are read for their id.
      for (let at = bytes.indexOf(EVENT_LINE); at !== -1 && at < end; at = bytes.indexOf(EVENT_LINE, at + 5)) events.count += 1;
      if (bytes.includes('"lat-')) for (const m of bytes.toString('latin1', 0, end).matchAll(/^data: \{"message_id":"(lat-[^"]*)"/gm)) onLatency(m[1] ?? '');
      rest = bytes.subarray(end);
      if (bytes.includes(': stream open')) resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** The child: CLIENTS streams read all along; on `latency`, messages posted one at a time and timed to each client. */
async function runClients(url: string, secret: string): Promise<void> {
  const arrivals = new Map<string, number[]>();
  const events = { count: 0 };
  const streams: Socket[] = [];
  for (let i = 0; i < CLIENTS; i += 1) {
    streams.push(await follow(url, events, (id) => (arrivals.get(id) ?? arrivals.set(id, []).get(id))?.push(performance.now())));
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
    process.stdout.write(`${JSON.stringify({ events: events.count, latency_ms: { p50: at(0.5), p99: at(0.99), max: at(1) }, clients_cpu_s: clientsCpu })}\n`);
  }
  for (const s of streams) s.destroy();
  process.exit(0);
}

if (process.argv[2] === 'clients') await runClients(process.argv[3] ?? '', process.argv[4] ?? '');
