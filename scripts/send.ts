// The sender's toolkit: sign a JSON body with the shared secret and POST it to /webhook, printing the
// status and the answer. Standard library only, like the service.
//   node scripts/send.ts [--url URL] [--secret SECRET] [BODY | -]
//   make send BODY='{"message_id":"m1",...}'      npm run send -- '{"message_id":"m1",...}'
import { readFileSync } from 'node:fs';
import { sign } from '../src/domain/signature.ts';

export const DEFAULT_URL = 'http://localhost:8000';

export type SendOptions = { url: string; secret: string; body: string };
export type SendResult = { status: number; body: string; requestId: string | null };

const USAGE = `usage: node scripts/send.ts [--url URL] [--secret SECRET] [BODY | -]
  BODY     the JSON to send, exactly as given ("-" reads stdin); omitted: a sample message with a fresh id
  --url    the service (default $URL, else ${DEFAULT_URL}); /webhook is appended
  --secret the shared secret (default $WEBHOOK_SECRET, else the file named by $WEBHOOK_SECRET_FILE)`;

/** POST the exact bytes of `body` with their HMAC in X-Signature. */
export async function sendSigned(options: SendOptions): Promise<SendResult> {
  const res = await fetch(`${options.url.replace(/\/+$/, '')}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature': sign(options.body, options.secret) },
    body: options.body,
  });
  return { status: res.status, body: await res.text(), requestId: res.headers.get('x-request-id') };
}

/** A valid message with a unique id, so `make send` with no BODY stores something new each time. */
export function sampleBody(now: Date = new Date()): string {
  return JSON.stringify({
    message_id: `sample-${now.getTime()}`,
    from: '+919876543210',
    to: '+14155550100',
    ts: now.toISOString().replace(/\.\d+Z$/, 'Z'),
    text: 'Hello from scripts/send.ts',
  });
}

type Parsed = { ok: true; url: string; secret: string; body: string | null } | { ok: false; error: string };

export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Parsed {
  let url = env.URL || DEFAULT_URL;
  let secret = env.WEBHOOK_SECRET ?? '';
  let body: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--url' || arg === '--secret') {
      const value = argv[++i];
      if (value === undefined) return { ok: false, error: `${arg} needs a value` };
      if (arg === '--url') url = value;
      else secret = value;
    } else if (arg.startsWith('--')) {
      return { ok: false, error: `unknown option ${arg}` };
    } else if (body === null) {
      body = arg;
    } else {
      return { ok: false, error: 'give the body once (quote it)' };
    }
  }
  if (secret === '' && env.WEBHOOK_SECRET_FILE) {
    try {
      secret = readFileSync(env.WEBHOOK_SECRET_FILE, 'utf8').replace(/\r?\n$/, '');
    } catch {
      return { ok: false, error: `cannot read WEBHOOK_SECRET_FILE ${env.WEBHOOK_SECRET_FILE}` };
    }
  }
  if (secret === '') return { ok: false, error: 'no secret: pass --secret or set WEBHOOK_SECRET' };
  return { ok: true, url, secret, body };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), process.env);
  if (!args.ok) {
    process.stderr.write(`${args.error}\n${USAGE}\n`);
    return 2;
  }
  const body = args.body === '-' ? readFileSync(0, 'utf8') : (args.body ?? sampleBody());
  try {
    const result = await sendSigned({ url: args.url, secret: args.secret, body });
    process.stdout.write(`HTTP ${result.status} (request id ${result.requestId ?? '-'})\n${result.body}\n`);
    return result.status >= 200 && result.status < 300 ? 0 : 1;
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    process.stderr.write(`cannot reach ${args.url}${cause}\n`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await main();
