// The sender's toolkit, after the Stripe and Svix CLIs: sign a JSON body and POST it to /webhook (once,
// repeated, or as a small load), print the headers that sign it, or check headers a receiver got; for
// WhatsApp, sign and send as Meta does, and check a deployed URL's handshake.
// Standard library only, like the service.
//   npm run send -- [send|sign|verify|handshake] [options] [BODY | -]   (npm and make bring the pinned Node)
//   make send BODY='{"message_id":"m1",...}' ARGS='--scheme standard'     npm run send -- '{"message_id":"m1",...}'
import { readFileSync } from 'node:fs';
import { DEFAULT_TOLERANCE_SECONDS } from '../src/domain/standard-webhooks.ts';
import {
  createSigner,
  deliver,
  endpointOf,
  handshake,
  metaBody,
  newDeliveryId,
  runAll,
  SCHEMES,
  summarise,
  verifyHeaders,
  type Scheme,
  type Signer,
} from './deliveries.ts';

export const DEFAULT_URL = 'http://localhost:8000';
export const COMMANDS = ['send', 'sign', 'verify', 'handshake'] as const;
export type Command = (typeof COMMANDS)[number];

export type CliOptions = {
  command: Command;
  url: string;
  scheme: Scheme;
  secret: string;
  /** verify of X-Signature: WEBHOOK_SECRET_PREVIOUS, which the service accepts too (unless --secret). */
  previous: string | null;
  body: string | null;
  id: string | null;
  timestamp: number | null;
  skew: number;
  repeat: number;
  count: number;
  concurrency: number;
  /** verify: the received headers, names in lower case. */
  headers: Record<string, string>;
  /** handshake: the verify token. */
  token: string;
};

const USAGE = `usage: npm run send -- [send|sign|verify|handshake] [options] [BODY | -]   (or: make send ARGS='...' BODY='...')
  send (default)   sign BODY and POST it to URL/webhook; print the status and the answer (a summary for many)
  sign             print the headers that sign BODY; nothing is sent (whatsapp: then the body Meta would send)
  verify           check received headers (--header) against BODY, as the service would; exit 0 when valid
  handshake        check URL/webhook/whatsapp's answer to Meta's subscription handshake (--token)
  BODY             the JSON, exactly as given ("-" reads stdin); send without BODY: a sample message, fresh id
                   whatsapp: a message (as for /webhook; from may be a business-scoped user id) wrapped in
                   Meta's envelope, or an envelope as given; serialised with Meta's escapes and sent to
                   URL/webhook/whatsapp
  --url URL        the service (default $URL, else http://localhost:$PORT, else ${DEFAULT_URL}); /webhook (or /webhook/whatsapp) is appended
  --scheme S       xsig (X-Signature, the default), standard (Standard Webhooks) or whatsapp (Meta's
                   X-Hub-Signature-256); verify: from the headers
  --secret S       xsig: the shared secret (default $WEBHOOK_SECRET, else the file $WEBHOOK_SECRET_FILE names);
                   standard: a whsec_ secret or whsk_ signing key, verify also whpk_ keys, space-separated
                   (default $STANDARD_WEBHOOKS_SECRET); whatsapp: the app secret (default
                   $WHATSAPP_APP_SECRET's first, else the file $WHATSAPP_APP_SECRET_FILE names)
  --token T        handshake: the verify token (default $WHATSAPP_VERIFY_TOKEN)
  --id ID          standard: webhook-id (default: a fresh msg_... per delivery)
  --timestamp T    standard: webhook-timestamp, unix seconds (default: now)
  --skew S         standard: seconds added to the timestamp (negative: in the past), to try the tolerance
  --repeat N       send each signed delivery N times, unchanged (a retry or replay: deduplication)
  --count N        N deliveries, each signed afresh (without BODY, each a new sample message)
  --concurrency N  requests in flight at once (default 1)
  --header 'N: V'  verify: one received header (repeat it for each)`;

type Parsed = { ok: true; options: CliOptions } | { ok: false; error: string };
type Env = Readonly<Record<string, string | undefined>>;

const VALUE_OPTIONS = new Set(['--url', '--scheme', '--secret', '--id', '--timestamp', '--skew', '--repeat', '--count', '--concurrency', '--header', '--token']);
const STANDARD_ONLY = ['--id', '--timestamp', '--skew'];

/** A valid message with a unique id, so `make send` with no BODY stores something new each time. */
export function sampleBody(now: Date = new Date(), n?: number): string {
  return JSON.stringify({
    message_id: `sample-${now.getTime()}${n === undefined ? '' : `-${n}`}`,
    from: '+919876543210',
    to: '+14155550100',
    ts: now.toISOString().replace(/\.\d+Z$/, 'Z'),
    text: 'Hello from scripts/send.ts',
  });
}

export function parseArgs(argv: readonly string[], env: Env): Parsed {
  const args = [...argv];
  const command = COMMANDS.find((c) => c === args[0]) ?? 'send';
  if (args[0] === command) args.shift();
  const flags = new Map<string, string>();
  const headers: Record<string, string> = {};
  let body: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg.startsWith('--')) {
      if (!VALUE_OPTIONS.has(arg)) return { ok: false, error: `unknown option ${arg}` };
      const value = args[++i];
      if (value === undefined) return { ok: false, error: `${arg} needs a value` };
      const header = /^([^:\s]+):\s*(.*)$/.exec(value);
      if (arg !== '--header') flags.set(arg, value);
      else if (header) headers[(header[1] ?? '').toLowerCase()] = header[2] ?? '';
      else return { ok: false, error: `--header takes 'name: value', got ${JSON.stringify(value)}` };
    } else if (body === null) {
      body = arg;
    } else {
      return { ok: false, error: 'give the body once (quote it)' };
    }
  }
  const numbers = parseNumbers(flags);
  if (!numbers.ok) return numbers;
  const url = flags.get('--url') ?? (env.URL || (env.PORT ? `http://localhost:${env.PORT}` : DEFAULT_URL));
  if (command === 'handshake') {
    const token = flags.get('--token') ?? env.WHATSAPP_VERIFY_TOKEN ?? '';
    if (token === '') return { ok: false, error: 'handshake needs the verify token: pass --token or set WHATSAPP_VERIFY_TOKEN' };
    return { ok: true, options: { command, url, scheme: 'whatsapp', secret: '', previous: null, body, id: null, headers, token, ...numbers.value } };
  }
  const scheme = flags.get('--scheme') ?? (command === 'verify' ? schemeOfHeaders(headers) : 'xsig');
  if (!isScheme(scheme)) return { ok: false, error: `--scheme must be xsig, standard or whatsapp, got ${JSON.stringify(scheme)}` };
  if (scheme !== 'standard' && STANDARD_ONLY.some((f) => flags.has(f))) {
    return { ok: false, error: '--id, --timestamp and --skew are Standard Webhooks options: add --scheme standard' };
  }
  if (command !== 'send' && body === null) return { ok: false, error: `${command} needs the BODY` };
  if (command === 'verify' && Object.keys(headers).length === 0) {
    return { ok: false, error: "verify needs the received headers: --header 'webhook-signature: v1,...' (one per header)" };
  }
  const given = flags.get('--secret');
  const secret = given === undefined ? defaultSecret(scheme, env, command === 'verify') : { ok: true as const, value: given };
  if (!secret.ok) return secret;
  if (secret.value === '') return { ok: false, error: `no secret: pass --secret or set ${SECRET_VARIABLES[scheme]}` };
  const previous = given === undefined && command === 'verify' && scheme === 'xsig' ? env.WEBHOOK_SECRET_PREVIOUS || null : null;
  return { ok: true, options: { command, url, scheme, secret: secret.value, previous, body, id: flags.get('--id') ?? null, headers, token: '', ...numbers.value } };
}

const SECRET_VARIABLES: Record<Scheme, string> = { xsig: 'WEBHOOK_SECRET', standard: 'STANDARD_WEBHOOKS_SECRET', whatsapp: 'WHATSAPP_APP_SECRET' };

/** verify without --scheme: the scheme whose signature header was received. */
function schemeOfHeaders(headers: Readonly<Record<string, string>>): Scheme {
  if ('x-hub-signature-256' in headers) return 'whatsapp';
  return 'webhook-signature' in headers ? 'standard' : 'xsig';
}

function isScheme(value: string): value is Scheme {
  return SCHEMES.some((s) => s === value);
}

type Numbers = Pick<CliOptions, 'timestamp' | 'skew' | 'repeat' | 'count' | 'concurrency'>;

function parseNumbers(flags: ReadonlyMap<string, string>): { ok: true; value: Numbers } | { ok: false; error: string } {
  const errors: string[] = [];
  const read = (name: string, fallback: number, pattern: RegExp, what: string): number => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    if (pattern.test(raw) && Number.isSafeInteger(Number(raw))) return Number(raw);
    errors.push(`${name} must be ${what}, got ${JSON.stringify(raw)}`);
    return fallback;
  };
  const positive = /^[1-9][0-9]*$/;
  const value: Numbers = {
    timestamp: flags.has('--timestamp') ? read('--timestamp', 0, /^[0-9]+$/, 'unix seconds') : null,
    skew: read('--skew', 0, /^-?[0-9]+$/, 'an integer number of seconds'),
    repeat: read('--repeat', 1, positive, 'a positive integer'),
    count: read('--count', 1, positive, 'a positive integer'),
    concurrency: read('--concurrency', 1, positive, 'a positive integer'),
  };
  const [error] = errors;
  return error === undefined ? { ok: true, value } : { ok: false, error };
}

/** The secret from the environment; verify takes every app secret the service accepts, signing the first. */
function defaultSecret(scheme: Scheme, env: Env, verify: boolean): { ok: true; value: string } | { ok: false; error: string } {
  if (scheme === 'standard') return { ok: true, value: env.STANDARD_WEBHOOKS_SECRET?.trim() ?? '' };
  const name = scheme === 'whatsapp' ? 'WHATSAPP_APP_SECRET' : 'WEBHOOK_SECRET';
  const [value, file] = [env[name], env[`${name}_FILE`]];
  // The app secret's variable may hold the previous one too (rotation): Meta signs with the first.
  const first = (s: string): string => (scheme === 'whatsapp' && !verify ? (s.trim().split(/\s+/)[0] ?? '') : s);
  if (value || !file) return { ok: true, value: first(value ?? '') };
  try {
    return { ok: true, value: first(readFileSync(file, 'utf8').replace(/\r?\n$/, '')) };
  } catch {
    return { ok: false, error: `cannot read ${name}_FILE ${file}` };
  }
}

/** Every delivery signed up front (so --repeat sends identical bytes), then sent; one answer or a summary. */
async function send(o: CliOptions, body: string | null, signer: Signer, out: (s: string) => void): Promise<number> {
  const now = new Date();
  const timestamp = (o.timestamp ?? Math.floor(now.getTime() / 1000)) + o.skew;
  const tasks: (() => ReturnType<typeof deliver>)[] = [];
  const target = endpointOf(o.url, o.scheme);
  for (let i = 0; i < o.count; i++) {
    const raw = prepare(o.scheme, body ?? sampleBody(now, o.count > 1 ? i : undefined));
    if (!raw.ok) {
      process.stderr.write(`${raw.error}\n`);
      return 2;
    }
    const headers = signer(raw.body, o.id ?? newDeliveryId(), timestamp);
    for (let r = 0; r < o.repeat; r++) tasks.push(() => deliver(target, raw.body, headers));
  }
  const started = performance.now();
  const outcomes = await runAll(tasks, o.concurrency);
  const seconds = (performance.now() - started) / 1000;
  const [only] = outcomes;
  if (outcomes.length === 1 && only?.status === 0) {
    process.stderr.write(`cannot reach ${o.url}: ${only.error ?? 'unknown error'}\n`);
    return 1;
  }
  if (outcomes.length === 1 && only) out(`HTTP ${only.status} (request id ${only.requestId ?? '-'})\n${only.body}\n`);
  else out(`${summarise(outcomes, seconds, o.concurrency)}\n`);
  return outcomes.every((x) => x.status >= 200 && x.status < 300) ? 0 : 1;
}

/** The bytes a scheme sends for BODY: as given, or (whatsapp) as Meta would send it. */
function prepare(scheme: Scheme, body: string): ReturnType<typeof metaBody> {
  return scheme === 'whatsapp' ? metaBody(body) : { ok: true, body };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--help' || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const args = parseArgs(argv, process.env);
  if (!args.ok) {
    process.stderr.write(`${args.error}\n${USAGE}\n`);
    return 2;
  }
  const o = args.options;
  const body = o.body === '-' ? readFileSync(0, 'utf8') : o.body;
  const out = (s: string): void => void process.stdout.write(s);
  if (o.command === 'handshake') {
    const verdict = await handshake(o.url, o.token);
    (verdict.ok ? out : (s: string) => void process.stderr.write(s))(`${verdict.text}\n`);
    return verdict.ok ? 0 : 1;
  }
  if (o.command === 'verify') {
    const tolerance = Number(process.env.WEBHOOK_TOLERANCE_SECONDS) || DEFAULT_TOLERANCE_SECONDS;
    const clock = { nowSeconds: Math.floor(Date.now() / 1000), toleranceSeconds: tolerance };
    const verdict = verifyHeaders(body ?? '', o.headers, o.secret, clock, o.previous);
    out(`${verdict.text}\n`);
    return verdict.ok ? 0 : 1;
  }
  const signer = createSigner(o.scheme, o.secret);
  if (!signer.ok) {
    process.stderr.write(`${signer.error}\n`);
    return 2;
  }
  if (o.command === 'send') return send(o, body, signer.sign, out);
  const timestamp = (o.timestamp ?? Math.floor(Date.now() / 1000)) + o.skew;
  const raw = prepare(o.scheme, body ?? '');
  if (!raw.ok) {
    process.stderr.write(`${raw.error}\n`);
    return 2;
  }
  const headers = signer.sign(raw.body, o.id ?? newDeliveryId(), timestamp);
  for (const [name, value] of Object.entries(headers)) out(`${name}: ${value}\n`);
  // The signature is over these bytes, not BODY as given: print them to send as they are.
  if (raw.body !== body) out(`\n${raw.body}\n`);
  return 0;
}

if (import.meta.main) process.exitCode = await main();
