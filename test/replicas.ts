// Several service processes on one PostgreSQL database behind HAProxy, all on loopback: what the replica
// tests, `make bench` and `make soak` start. Each replica is the build as it ships (dist/main.js with the
// Makefile's flags, tools/service-command.ts); the balancer's config is generated into a temp folder.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serviceArgs } from '../tools/service-command.ts';
import { sign } from '../src/domain/signature.ts';
import { freePort } from './postgres-cluster.ts';

export const REPLICA_SECRET = 'replica-secret';

export type Replica = { proc: ChildProcess; port: number; url: string; exited: Promise<number | string | null>; stop(): Promise<void> };
export type Balancer = { proc: ChildProcess; url: string; stop(): Promise<void> };

const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy'].find((p) => existsSync(p)) ?? null;

/** Why replicas behind a balancer cannot be tested here, or null. */
export function haproxyMissing(): string | null {
  return HAPROXY === null ? 'no HAProxy (apt-get install haproxy)' : null;
}

function stopper(proc: ChildProcess, exited: Promise<unknown>): () => Promise<void> {
  return async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
}

/** One service process on `database`, listening on a port of its choosing; resolves once it listens. */
export async function startReplica(database: string, env: Record<string, string> = {}): Promise<Replica> {
  const proc = spawn(process.execPath, serviceArgs(), {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: database, WEBHOOK_SECRET: REPLICA_SECRET, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string | null>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica did not start: ${out.slice(-2000)}`)), 40_000);
    // Read until the `listening` line names the port; later lines (the access log) are drained unread.
    let listening = false;
    proc.stdout?.on('data', (d: Buffer) => {
      if (listening) return;
      out += d.toString();
      const m = /"msg":"listening"[^\n]*"port":(\d+)/.exec(out);
      if (m) {
        listening = true;
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => reject(new Error(`replica exited (${code}) before listening: ${out.slice(-2000)}`)));
  });
  return { proc, port, url: `http://127.0.0.1:${port}`, exited, stop: stopper(proc, exited) };
}

/** HAProxy on 127.0.0.1 in front of the replicas, health-checking /health/ready every 200 ms. */
export async function startBalancer(dir: string, ports: number[]): Promise<Balancer> {
  if (HAPROXY === null) throw new Error(haproxyMissing() ?? 'no HAProxy');
  const port = freePort();
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, balancerConfig(port, ports));
  const check = spawnSync(HAPROXY, ['-c', '-q', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy refused its config: ${check.stderr}`);
  const proc = spawn(HAPROXY, ['-db', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<unknown>((resolve) => proc.on('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 10_000;
  for (;;) {
    const ok = await fetch(`${url}/health/ready`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > until || proc.exitCode !== null) throw new Error('the balancer did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, url, stop: stopper(proc, exited) };
}

/**
 * The balancer's configuration, as ops/haproxy/haproxy.cfg is for a deployment (test/ops/container.test.ts
 * holds the two to the same 503). A request refused at connect by a dead replica is retried on another;
 * the balancer's own 503 (no replica ready) carries Retry-After and a JSON body, like the service's.
 */
export function balancerConfig(port: number, ports: number[]): string {
  return `global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 2
  option redispatch
frontend webhook
  bind 127.0.0.1:${port}
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /health/ready
  http-check expect status 200
  default-server inter 200ms fall 2 rise 2
  http-error status 503 content-type application/json string "{\\"detail\\":\\"no replica ready\\"}" hdr Retry-After 1
${ports.map((p, i) => `  server r${i} 127.0.0.1:${p} check`).join('\n')}
`;
}

/** A signed POST /webhook of a message with this id; resolves with the status and Retry-After. */
export async function postMessage(url: string, id: string, text = 'hello'): Promise<{ status: number; retryAfter: string | null; error?: string }> {
  const body = JSON.stringify({ message_id: id, from: '+919876543210', to: '+14155550100', ts: '2025-01-15T10:00:00Z', text });
  try {
    const res = await fetch(`${url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature': sign(body, REPLICA_SECRET) },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    return { status: res.status, retryAfter: res.headers.get('retry-after') };
  } catch (err) {
    // No answer at all: the connection failed or was cut.
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return { status: 0, retryAfter: null, error: `${String(err)}${cause}` };
  }
}

export type LoadResult = {
  acked: string[];
  statuses: Map<number, number>;
  missingRetryAfter: number;
  last: { at: number; status: number }[];
  /** A few of the errors of requests that got no answer. */
  errors: string[];
};

/**
 * Unique messages sent by `concurrency` workers until `stop()` says so or `maxRequests` were sent. Every
 * id answered 200 is acknowledged: it must be stored, whatever happens afterwards.
 */
export async function sendLoad(url: string, prefix: string, options: { concurrency: number; maxRequests: number; stop: (soFar: LoadResult) => boolean }): Promise<LoadResult> {
  const result: LoadResult = { acked: [], statuses: new Map(), missingRetryAfter: 0, last: [], errors: [] };
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (!options.stop(result) && sent < options.maxRequests) {
      const id = `${prefix}-${(sent += 1)}`;
      const { status, retryAfter, error } = await postMessage(url, id);
      if (error !== undefined && result.errors.length < 5) result.errors.push(error);
      result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
      if (status === 200) result.acked.push(id);
      if (status === 503 && retryAfter === null) result.missingRetryAfter += 1;
      result.last.push({ at: Date.now(), status });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return result;
}
