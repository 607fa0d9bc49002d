// A small load generator for machines without wrk: N keep-alive connections, each sending the next
// pre-built request as soon as the previous answer arrived (closed loop, as wrk does). Reads the same
// request file as wrk/cycle.lua and prints the same WRK_JSON line.
// Usage: node load.ts URL CONNECTIONS SECONDS FILE [COUNT]
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

type Prepared = { method: string; path: string; headers: Record<string, string>; body: Buffer | null };

const [base = '', connections = '1', seconds = '1', file = '', count = '0'] = process.argv.slice(2);
const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
const limit = Number(count) > 0 ? Number(count) : lines.length;
const prepared: Prepared[] = lines.slice(0, limit).map((line): Prepared => {
  const [method = 'GET', path = '/', signature = '', body = ''] = line.split('\t');
  return method === 'POST'
    ? { method, path, headers: { 'content-type': 'application/json', ...signatureHeader(signature) }, body: Buffer.from(body) }
    : { method, path, headers: {}, body: null };
});

/** X-Signature's value, or a whole `Name: value` header (as wrk/cycle.lua reads the same field). */
function signatureHeader(field: string): Record<string, string> {
  const header = /^([A-Za-z0-9-]+): (.*)$/.exec(field);
  return header ? { [header[1] ?? '']: header[2] ?? '' } : { 'x-signature': field };
}

const agent = new Agent({ keepAlive: true, maxSockets: Number(connections) });
const url = new URL(base);
const latencies: number[] = [];
let next = 0;
let errors = 0;
let non2xx = 0;
const started = performance.now();
const cpuBefore = process.cpuUsage();
const until = started + Number(seconds) * 1000;

const one = (p: Prepared): Promise<void> =>
  new Promise((resolve) => {
    const t0 = performance.now();
    const req = request({ host: url.hostname, port: url.port, method: p.method, path: p.path, headers: p.headers, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        latencies.push((performance.now() - t0) * 1000);
        if ((res.statusCode ?? 0) >= 300) non2xx += 1;
        resolve();
      });
    });
    req.on('error', () => {
      errors += 1;
      resolve();
    });
    req.end(p.body ?? undefined);
  });

const worker = async (): Promise<void> => {
  while (performance.now() < until) {
    const p = prepared[next % prepared.length];
    next += 1;
    if (p) await one(p);
  }
};

await Promise.all(Array.from({ length: Number(connections) }, worker));
const duration = (performance.now() - started) * 1000;
latencies.sort((a, b) => a - b);
const at = (f: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))] ?? 0);
// Uncorrected, so the raw figures are the same ones (wrk's corrected figures have no counterpart here).
const [p50, p99, max] = [at(0.5), at(0.99), at(1)];
const cpu = process.cpuUsage(cpuBefore);
const line = {
  requests: latencies.length,
  duration_us: Math.round(duration),
  errors,
  non_2xx: non2xx,
  p50_us: p50,
  p99_us: p99,
  max_us: max,
  raw_p50_us: p50,
  raw_p99_us: p99,
  raw_max_us: max,
  cpu_us: cpu.user + cpu.system,
};
process.stdout.write(`WRK_JSON ${JSON.stringify(line)}\n`);
agent.destroy();
