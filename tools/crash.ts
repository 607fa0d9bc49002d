// Crash consistency: signed traffic (new, duplicate, badly signed, invalid) against the real process while
// it is killed with SIGKILL at random moments and restarted on the same file. Used by `make soak` (many
// cycles) and by test/ops/crash.test.ts (a few).
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sign } from '../src/domain/signature.ts';
import { createRandom, type Random } from './prng.ts';
import { serviceArgs } from './service-command.ts';

const SECRET = 'soak-secret';

export type CrashOptions = {
  dir: string;
  cycles: number;
  seed: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** The kill comes at a random moment in [min, max) ms after the load starts. */
  killAfterMs?: [number, number];
  /**
   * The kill also waits until this cycle has acknowledged this many messages, so every cycle tests
   * something however slow the machine is (a count, not a rate).
   */
  minAckedPerCycle?: number;
};

export type CrashSummary = {
  cycles: number;
  requests: number;
  acked: number;
  stored: number;
  lost: number;
  duplicated: number;
  altered: number;
  letIn: number;
  serverErrors: number;
  crashes: number;
  /** Cycles that never reached minAckedPerCycle. */
  starved: number;
  integrity: string;
};

type Sent = { id: string; text: string; kind: 'new' | 'duplicate' | 'bad_signature' | 'bad_data' };

/** Runs the cycles, then reads the file directly and compares it with what the clients were told. */
export async function runCrashCycles(options: CrashOptions): Promise<CrashSummary> {
  const rnd = createRandom(options.seed);
  const dbPath = join(options.dir, 'soak.db');
  const concurrency = options.concurrency ?? 16;
  const [killMin, killMax] = options.killAfterMs ?? [150, 900];
  // id -> the text of the first 200 (only acked ids are re-sent, with another text, as duplicates)
  const acked = new Map<string, string>();
  const refused = new Set<string>();
  let requests = 0;
  let serverErrors = 0;
  let crashes = 0;
  let starved = 0;
  let integrity = 'ok';
  let counter = 0;

  const next = (): Sent => {
    const roll = rnd.next();
    const ackedIds = [...acked.keys()];
    if (roll < 0.15 && ackedIds.length > 0) return { id: rnd.pick(ackedIds), text: `dup-${counter++}`, kind: 'duplicate' };
    if (roll < 0.23) return { id: `badsig-${counter++}`, text: 'x', kind: 'bad_signature' };
    if (roll < 0.3) return { id: `baddata-${counter++}`, text: 'x', kind: 'bad_data' };
    return { id: `m-${options.seed}-${counter++}`, text: `first-${rnd.int(1e9)}`, kind: 'new' };
  };

  for (let cycle = 0; cycle < options.cycles; cycle++) {
    const server = await launch(dbPath);
    if (server === null) {
      crashes++;
      continue;
    }
    let killed = false;
    server.proc.once('exit', () => {
      if (!killed) crashes++;
    });
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    const stopAt = Date.now() + killMin + rnd.int(killMax - killMin);
    const ackedBefore = acked.size;
    const worker = async (): Promise<void> => {
      while (!killed) {
        const s = next();
        requests++;
        const status = await post(agent, server.port, s, rnd);
        if (status === null) continue; // cut by the kill: neither promised nor refused
        if (status >= 500) serverErrors++;
        if (status === 200 && (s.kind === 'new' || s.kind === 'duplicate')) {
          if (!acked.has(s.id)) acked.set(s.id, s.text);
        } else if (s.kind === 'bad_signature' || s.kind === 'bad_data') {
          refused.add(s.id);
        }
      }
    };
    const workers = Array.from({ length: concurrency }, worker);
    await new Promise((r) => setTimeout(r, Math.max(0, stopAt - Date.now())));
    // A minute without the acknowledgements is a hang (counted as starved), not a slow machine.
    const giveUpAt = Date.now() + 60_000;
    while (acked.size - ackedBefore < (options.minAckedPerCycle ?? 0) && server.proc.exitCode === null) {
      if (Date.now() > giveUpAt) {
        starved++;
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    killed = true;
    server.proc.kill('SIGKILL');
    await server.exit;
    await Promise.all(workers);
    agent.destroy();
    const check = checkIntegrity(dbPath);
    if (check !== 'ok') integrity = check;
  }

  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const rows = db.prepare('SELECT message_id, text FROM messages').all() as { message_id: string; text: string | null }[];
    const stored = new Map<string, string | null>();
    let duplicated = 0;
    for (const r of rows) {
      if (stored.has(r.message_id)) duplicated++;
      stored.set(r.message_id, r.text);
    }
    let lost = 0;
    let altered = 0;
    for (const [id, text] of acked) {
      if (!stored.has(id)) lost++;
      else if (stored.get(id) !== text) altered++;
    }
    const letIn = [...refused].filter((id) => stored.has(id)).length;
    // The trigger-kept totals must have survived the kills as well.
    const totals = db.prepare('SELECT messages FROM message_totals WHERE id = 0').get() as { messages: number };
    if (Number(totals.messages) !== rows.length) integrity = `message_totals ${totals.messages} != ${rows.length} rows`;
    // And each sender's count.
    const wrongSenders = db
      .prepare(
        `WITH truth AS (SELECT from_msisdn, count(*) AS n FROM messages GROUP BY from_msisdn),
         kept AS (SELECT from_msisdn, count AS n FROM sender_counts)
         SELECT (SELECT count(*) FROM (SELECT * FROM truth EXCEPT SELECT * FROM kept))
           + (SELECT count(*) FROM (SELECT * FROM kept EXCEPT SELECT * FROM truth)) AS n`,
      )
      .get() as { n: number };
    if (Number(wrongSenders.n) !== 0) integrity = `${wrongSenders.n} sender counts differ from the rows`;
    return {
      cycles: options.cycles,
      requests,
      acked: acked.size,
      stored: rows.length,
      lost,
      duplicated,
      altered,
      letIn,
      serverErrors,
      crashes,
      starved,
      integrity,
    };
  } finally {
    db.close();
  }
}

function checkIntegrity(dbPath: string): string {
  const db = new DatabaseSync(dbPath);
  try {
    const rows = db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

function body(s: Sent): string {
  const from = s.kind === 'bad_data' ? 'not-a-number' : '+14155550100';
  return JSON.stringify({ message_id: s.id, from, to: '+919876543210', ts: '2025-01-15T10:00:00Z', text: s.text });
}

function post(agent: Agent, port: number, s: Sent, rnd: Random): Promise<number | null> {
  const raw = body(s);
  let signature = sign(raw, SECRET);
  if (s.kind === 'bad_signature') {
    // Either a near miss (one digit changed) or the right HMAC of other bytes.
    signature = rnd.chance(0.5) ? signature.slice(0, -1) + (signature.endsWith('0') ? '1' : '0') : sign(raw + ' ', SECRET);
  }
  return postWebhook(agent, port, raw, signature);
}

/** POST /webhook over `agent`: the status code, or null when the connection broke before an answer. */
export function postWebhook(agent: Agent, port: number, raw: string, signature: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/webhook',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw), 'x-signature': signature },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? null));
      res.on('error', () => resolve(null));
    });
    req.on('error', () => resolve(null));
    req.end(raw);
  });
}

type Launched = { proc: ChildProcess; port: number; exit: Promise<void> };

/** Starts the service as it ships (the build, with its V8 flags) on a free port; null when it does not come up within 30 s. */
export async function launch(dbPath: string, env: Record<string, string> = {}): Promise<Launched | null> {
  const proc = spawn(process.execPath, serviceArgs(), {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      WEBHOOK_SECRET: SECRET,
      DATABASE_URL: `sqlite:///${dbPath}`,
      LOG_LEVEL: 'INFO',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exit = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const port = await new Promise<number | null>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(null), 30_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /"msg":"listening"[^\n]*"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout?.off('data', onData);
        proc.stdout?.resume(); // the access log is not needed: let it drain
        resolve(Number(m[1]));
      }
    };
    proc.stdout?.on('data', onData);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
  if (port === null) {
    proc.kill('SIGKILL');
    return null;
  }
  return { proc, port, exit };
}

export { SECRET as SOAK_SECRET };
