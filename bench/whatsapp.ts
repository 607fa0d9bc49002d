// POST /webhook/whatsapp against POST /webhook on one service, in the same run (issue 23's bar):
//   1. signed envelopes of one message each at 50 connections: requests a second, as a ratio of /webhook's
//      (bar: >= 0.8);
//   2. envelopes of 10 messages: messages stored a second, as a ratio of /webhook's (bar: >= 3).
// Bodies are serialised and signed as Meta does (non-ASCII escaped). Run by bench/run.ts (BENCH_PHASES).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { metaJson, signMeta, wrapMessages, type ContractMessage } from '../src/domain/whatsapp-envelope.ts';

const APP_SECRET = 'bench-app-secret';
/** Messages per envelope in the batch case. */
const BATCH = 10;
/** Envelopes written per file: more than a run at this machine's rates can send, so every one is new. */
const ENVELOPES = 200_000;

type Load = { requests: number; duration_us: number; non_2xx: number; errors: number; p50_us: number; p99_us: number };
type Service = { url: string; child: { pid?: number | undefined } };

export type WhatsAppBenchDeps<S extends Service> = {
  /** bench/run.ts's service start (with extra environment) and stop, and its load generator. */
  startService(dbPath: string, name: string, env: Record<string, string>): Promise<S>;
  stop(service: S): Promise<void>;
  /** fetch, asked again when a kept-alive socket the server closed while idle fails it. */
  get(url: string): Promise<Response>;
  load(url: string, connections: number, seconds: number, file: string): Load;
  /** A file of /webhook bodies, each a new message, signed for WEBHOOK_SECRET. */
  bodies(name: string, count: number, prefix: string): string;
  dataDir: string;
  seconds: number;
  connections: number;
  log(line: string): void;
};

/** One case's runs: rates, the service's CPU (all threads) per request and per message, latencies. */
type Row = {
  rps: number;
  messages_per_s: number;
  cpu_us_per_request: number;
  cpu_us_per_message: number;
  /** Of cpu_us_per_message, what the HTTP (main) thread spent; the rest is V8's and libuv's helper threads. */
  http_thread_us_per_message: number;
  p50_ms: number;
  p99_ms: number;
  non_2xx: number;
};

/**
 * The three cases in turn, ROUNDS times: on a machine others share, a burst of their work then lands in
 * one run of each case rather than in all runs of one. Each ratio is the median of the rounds' ratios.
 */
const ROUNDS = 3;

export async function whatsappPhase<S extends Service>(deps: WhatsAppBenchDeps<S>): Promise<Record<string, unknown>> {
  const { dataDir, connections, seconds } = deps;
  const warm = envelopes(join(dataDir, 'wa-warm.txt'), 5_000, 1, 'wa-warm');
  // Enough single messages for every round at up to 12,000 requests a second: a file that runs out is sent
  // again from its start, and its duplicates would make /webhook look slow and the ratios high.
  const singles = Math.max(ENVELOPES, seconds * 12_000 * ROUNDS);
  const single = envelopes(join(dataDir, 'wa-single.txt'), singles, 1, 'wa1');
  // Enough envelopes of ten for every round at up to 3,500 a second, so each request stores new messages.
  const batch = envelopes(join(dataDir, 'wa-batch.txt'), Math.max(ENVELOPES / BATCH, seconds * 3_500 * ROUNDS), BATCH, 'wa10');
  const plain = deps.bodies('wa-webhook', singles, 'wa-plain');
  const plainWarm = deps.bodies('wa-webhook-warm', 5_000, 'wa-plain-warm');

  const dbPath = join(dataDir, 'whatsapp.db');
  for (const s of ['', '-wal', '-shm']) rmSync(dbPath + s, { force: true });
  const service = await deps.startService(dbPath, 'whatsapp', { WHATSAPP_APP_SECRET: APP_SECRET });
  try {
    const stored = async (): Promise<number> =>
      ((await (await deps.get(`${service.url}/stats`)).json()) as { total_messages: number }).total_messages;
    deps.load(service.url, connections, 2, plainWarm);
    deps.load(service.url, connections, 2, warm);
    // Each run goes on through its file where the last one stopped: every request stores new messages.
    const runs = { webhook: [] as Row[], single: [] as Row[], batch: [] as Row[] };
    const files = { webhook: plain, single, batch };
    const sent = { webhook: 0, single: 0, batch: 0 };
    for (let round = 1; round <= ROUNDS; round += 1) {
      deps.log(`  round ${round} of ${ROUNDS}: /webhook, envelopes of 1, envelopes of ${BATCH} ...`);
      for (const name of ['webhook', 'single', 'batch'] as const) {
        const before = await stored();
        const cpuBefore = cpuUs(service.child.pid);
        const file = rest(files[name], sent[name]);
        const l = deps.load(service.url, connections, seconds, file);
        if (file !== files[name]) rmSync(file);
        const cpuAfter = cpuUs(service.child.pid);
        const cpu = cpuAfter.all - cpuBefore.all;
        const main = cpuAfter.main - cpuBefore.main;
        const messages = (await stored()) - before;
        sent[name] += l.requests + connections;
        if (sent[name] >= lineCount(files[name])) throw new Error(`${files[name]}: round ${round} sent all its requests; make the file longer`);
        const perSecond = (n: number): number => Math.round(n / (l.duration_us / 1e6));
        runs[name].push({
          rps: perSecond(l.requests),
          messages_per_s: perSecond(messages),
          cpu_us_per_request: Math.round(cpu / Math.max(1, l.requests)),
          cpu_us_per_message: Math.round(cpu / Math.max(1, messages)),
          http_thread_us_per_message: Math.round(main / Math.max(1, messages)),
          p50_ms: Math.round(l.p50_us / 10) / 100,
          p99_ms: Math.round(l.p99_us / 10) / 100,
          non_2xx: l.non_2xx + l.errors,
        });
        const r = runs[name].at(-1);
        deps.log(`    ${name}: ${r?.rps} req/s, ${r?.messages_per_s} messages/s, ${r?.cpu_us_per_message} (${r?.http_thread_us_per_message}) us a message`);
      }
    }
    const ratios = (key: 'rps' | 'messages_per_s', of: Row[]): number[] => of.map((r, i) => r[key] / (runs.webhook[i]?.[key] ?? NaN));
    return {
      connections,
      seconds,
      rounds: ROUNDS,
      webhook: median(runs.webhook),
      single: { ...median(runs.single), ratio: round2(middle(ratios('rps', runs.single))), ratios: ratios('rps', runs.single).map(round2) },
      batch: {
        ...median(runs.batch),
        messages_per_envelope: BATCH,
        ratio: round2(middle(ratios('messages_per_s', runs.batch))),
        ratios: ratios('messages_per_s', runs.batch).map(round2),
      },
    };
  } finally {
    await deps.stop(service);
  }
}

export function whatsappTable(r: Record<string, any>): string[] {
  const cell = (v: unknown, width: number): string => String(v).padStart(width);
  const row = (name: string, x: Row, ratio: string): string =>
    `  ${name.padEnd(34)}${cell(x.rps, 8)}${cell(x.messages_per_s, 12)}${cell(x.cpu_us_per_request, 10)}${cell(`${x.cpu_us_per_message} (${x.http_thread_us_per_message})`, 16)}${cell(x.p50_ms, 9)}${cell(x.p99_ms, 9)}  ${ratio}`;
  const each = (x: { ratios: number[] }): string => `(rounds: ${x.ratios.map((v) => v.toFixed(2)).join(', ')})`;
  return [
    `whatsapp: ${r.connections} connections, ${r.rounds} rounds of ${r.seconds} s a case, one service (bar: 0.8 x /webhook's req/s; 3 x its messages/s)`,
    "  (medians of the rounds; CPU: the service's threads together, microseconds; (http): its HTTP thread's part)",
    `  ${'case'.padEnd(34)}${cell('req/s', 8)}${cell('messages/s', 12)}${cell('cpu/req', 10)}${cell('cpu/msg (http)', 16)}${cell('p50 ms', 9)}${cell('p99 ms', 9)}  ratio`,
    row('POST /webhook', r.webhook, ''),
    row('whatsapp, 1 message an envelope', r.single, `${r.single.ratio.toFixed(2)} x req/s ${each(r.single)}`),
    row(`whatsapp, ${BATCH} messages an envelope`, r.batch, `${r.batch.ratio.toFixed(2)} x messages/s ${each(r.batch)}`),
  ];
}

export const round2 = (v: number): number => Math.round(v * 100) / 100;

/** The median of `values` (the upper one of an even count). */
export function middle(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** Each figure's median over the rounds. */
function median(rows: Row[]): Row {
  const pick = (key: keyof Row): number => middle(rows.map((r) => r[key]));
  return {
    rps: pick('rps'),
    messages_per_s: pick('messages_per_s'),
    cpu_us_per_request: pick('cpu_us_per_request'),
    cpu_us_per_message: pick('cpu_us_per_message'),
    http_thread_us_per_message: pick('http_thread_us_per_message'),
    p50_ms: pick('p50_ms'),
    p99_ms: pick('p99_ms'),
    non_2xx: rows.reduce((sum, r) => sum + r.non_2xx, 0),
  };
}

/** utime + stime so far, microseconds (clock ticks of 10 ms): the HTTP thread, and the process in all. */
export function cpuUs(pid: number | undefined): { main: number; all: number } {
  const ticks = (path: string): number => {
    const fields = readFileSync(path, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  };
  // The main thread's task id is the process id.
  return { main: ticks(`/proc/${pid}/task/${pid}/stat`), all: ticks(`/proc/${pid}/stat`) };
}

const lineCounts = new Map<string, number>();
function lineCount(file: string): number {
  const known = lineCounts.get(file);
  if (known !== undefined) return known;
  const n = readFileSync(file, 'utf8').split('\n').length;
  lineCounts.set(file, n);
  return n;
}

/** The lines of `file` from `skip` on, in a file of their own (a later run sends only new messages). */
function rest(file: string, skip: number): string {
  if (skip === 0) return file;
  const lines = readFileSync(file, 'utf8').split('\n');
  if (skip >= lines.length) throw new Error(`${file}: all ${lines.length} requests were sent in earlier rounds; make the file longer`);
  const out = `${file}.${skip}`;
  writeFileSync(out, lines.slice(skip).join('\n'));
  return out;
}

/** `count` signed envelopes of `size` new messages each, one request a line (bench/wrk/cycle.lua's format). */
function envelopes(file: string, count: number, size: number, prefix: string): string {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const lines: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const messages: ContractMessage[] = Array.from({ length: size }, (_, j) => {
      const n = i * size + j;
      return {
        message_id: `wamid.${prefix}-${n}`,
        from: `+1555${String(n % 50_000).padStart(7, '0')}`,
        to: '+15550783881',
        ts: new Date(t0 + n * 1000).toISOString(),
        // Non-ASCII too, escaped the way Meta sends it.
        text: `Order ${n} is on its way 🚚, tracking number ${(n * 7919) % 1_000_003}`,
      };
    });
    const raw = metaJson(wrapMessages(messages));
    lines.push(`POST\t/webhook/whatsapp\tX-Hub-Signature-256: ${signMeta(raw, APP_SECRET)}\t${raw}`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
