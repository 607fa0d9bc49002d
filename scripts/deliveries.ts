// What scripts/send.ts does with a parsed command line: sign, deliver (one or many, some at once),
// summarise, verify. Standard library only, and the service's own signing code, like the service.
import { randomUUID } from 'node:crypto';
import { sign, verifySignature } from '../src/domain/signature.ts';
import { parseSigningKey, parseStandardKey, signStandard, verifyStandard, type StandardKey } from '../src/domain/standard-webhooks.ts';
import { isTimestamp } from '../src/domain/timestamp.ts';
import { BUSINESS_SCOPED_ID, verifyHubSignature } from '../src/domain/whatsapp.ts';
import { metaJson, signMeta, wrapMessages } from '../src/domain/whatsapp-envelope.ts';
import { MSISDN } from '../src/domain/message.ts';

export const SCHEMES = ['xsig', 'standard', 'whatsapp'] as const;
export type Scheme = (typeof SCHEMES)[number];

/** The headers that sign one delivery of `body`. */
export type Signer = (body: string, id: string, timestamp: number) => Record<string, string>;

/**
 * `secret`: the shared secret (xsig), a `whsec_` secret or `whsk_` signing key (standard; the first of
 * several), or the app secret (whatsapp; the first of several).
 */
export function createSigner(scheme: Scheme, secret: string): { ok: true; sign: Signer } | { ok: false; error: string } {
  if (scheme === 'xsig') return { ok: true, sign: (body) => ({ 'x-signature': sign(body, secret) }) };
  if (scheme === 'whatsapp') {
    const appSecret = secret.trim().split(/\s+/)[0] ?? '';
    return { ok: true, sign: (body) => ({ 'x-hub-signature-256': signMeta(body, appSecret) }) };
  }
  const parsed = parseSigningKey(secret.trim().split(/\s+/)[0] ?? '');
  if (!parsed.ok) return { ok: false, error: `--secret: ${parsed.error}` };
  return {
    ok: true,
    sign: (body, id, timestamp) => ({
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signStandard(parsed.key, id, String(timestamp), body),
    }),
  };
}

/** A fresh delivery id in the style Svix uses. */
export function newDeliveryId(): string {
  return `msg_${randomUUID().replaceAll('-', '')}`;
}

/** One request's answer; status 0 when the service could not be reached. */
export type Outcome = { status: number; ms: number; body: string; requestId: string | null; error?: string };

/** Where a scheme's deliveries go: URL/webhook, or URL/webhook/whatsapp (URL may already name it). */
export function endpointOf(url: string, scheme: Scheme): string {
  const base = url.replace(/\/+$/, '');
  if (scheme !== 'whatsapp') return `${base}/webhook`;
  return base.endsWith('/webhook/whatsapp') ? base : `${base}/webhook/whatsapp`;
}

/**
 * A body as Meta would send it: a message (POST /webhook's fields, `from` a phone number or a
 * business-scoped user id) wrapped in Meta's envelope, or an envelope as given; either serialised with
 * Meta's escapes, which are the bytes it signs.
 */
export function metaBody(text: string): { ok: true; body: string } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: 'the BODY is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, error: 'the BODY is not a JSON object' };
  const o = value as Record<string, unknown>;
  if ('object' in o) return { ok: true, body: metaJson(o) };
  const { message_id: id, from, to, ts, text: body } = o;
  if (typeof id !== 'string' || id === '') return { ok: false, error: 'the message needs a message_id' };
  if (typeof from !== 'string' || !(MSISDN.test(from) || BUSINESS_SCOPED_ID.test(from))) {
    return { ok: false, error: 'from must be + and digits, or a business-scoped user id such as US.13491208655302741918' };
  }
  if (typeof to !== 'string' || !MSISDN.test(to)) return { ok: false, error: 'to (the business number) must be + and digits' };
  if (typeof ts !== 'string' || !isTimestamp(ts)) return { ok: false, error: 'ts must be YYYY-MM-DDTHH:MM:SSZ' };
  if (typeof body !== 'string') return { ok: false, error: 'a WhatsApp text message needs a text' };
  return { ok: true, body: metaJson(wrapMessages([{ message_id: id, from, to, ts, text: body }])) };
}

/**
 * Meta's subscription handshake against a deployed URL: the right token must get the challenge back as
 * text/plain, and a wrong one a refusal (a receiver that echoes anything verifies nothing).
 */
export async function handshake(url: string, token: string): Promise<Verdict> {
  const target = endpointOf(url, 'whatsapp');
  const challenge = String(Math.floor(Math.random() * 1e9));
  const ask = async (t: string): Promise<Response> =>
    fetch(`${target}?${new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': t, 'hub.challenge': challenge })}`);
  let right: Response;
  let wrong: Response;
  try {
    right = await ask(token);
    wrong = await ask(`${token}-not-it`);
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    return { ok: false, text: `cannot reach ${target}: ${cause}` };
  }
  const [body] = await Promise.all([right.text(), wrong.arrayBuffer()]);
  const type = right.headers.get('content-type') ?? '';
  if (right.status !== 200) return { ok: false, text: `${target} answered the verify token with HTTP ${right.status}: check WHATSAPP_VERIFY_TOKEN on both sides` };
  if (body !== challenge) return { ok: false, text: `${target} answered 200 but not with the challenge (got ${JSON.stringify(body.slice(0, 80))})` };
  if (!type.startsWith('text/plain')) return { ok: false, text: `${target} echoed the challenge as ${type || 'no content type'}, not text/plain` };
  if (wrong.status === 200) return { ok: false, text: `${target} echoed the challenge for a wrong token too: it does not check the token` };
  return { ok: true, text: `handshake ok: ${target} echoed the challenge for the token and refused a wrong one (HTTP ${wrong.status})` };
}

export async function deliver(target: string, body: string, headers: Record<string, string>): Promise<Outcome> {
  const started = performance.now();
  try {
    const res = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    const text = await res.text();
    return { status: res.status, ms: performance.now() - started, body: text, requestId: res.headers.get('x-request-id') };
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    return { status: 0, ms: performance.now() - started, body: '', requestId: null, error: cause };
  }
}

/** Runs `tasks` with at most `concurrency` in flight; the outcomes in task order. */
export async function runAll(tasks: readonly (() => Promise<Outcome>)[], concurrency: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array<Outcome>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      const task = tasks[i];
      if (task) outcomes[i] = await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
  return outcomes;
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? NaN;
}

/** `20 requests in 0.15 s (concurrency 4): 200 x19, 401 x1 | latency p50 1.9 ms, p99 4.2 ms` */
export function summarise(outcomes: readonly Outcome[], seconds: number, concurrency: number): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    const key = o.status === 0 ? 'unreachable' : String(o.status);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const statuses = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([status, n]) => `${status} x${n}`);
  const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const fmt = (v: number): string => `${v.toFixed(1)} ms`;
  return (
    `${outcomes.length} requests in ${seconds.toFixed(2)} s (concurrency ${concurrency}): ${statuses.join(', ')}` +
    ` | latency p50 ${fmt(percentile(ms, 0.5))}, p99 ${fmt(percentile(ms, 0.99))}`
  );
}

export type Verdict = { ok: boolean; text: string };

/**
 * Checks received headers the way the service does: `X-Hub-Signature-256` means Meta's (`secret`: app
 * secrets, space-separated), a `webhook-signature` header Standard Webhooks (`secret`: space-separated
 * `whsec_`/`whpk_` keys), else `X-Signature` under `secret` or `previous`.
 */
export function verifyHeaders(
  body: string,
  headers: Readonly<Record<string, string>>,
  secret: string,
  clock: { nowSeconds: number; toleranceSeconds: number },
  previous: string | null = null,
): Verdict {
  const raw = Buffer.from(body);
  if (headers['x-hub-signature-256'] !== undefined) {
    const ok = verifyHubSignature(raw, headers['x-hub-signature-256'], secret.trim().split(/\s+/));
    return { ok, text: ok ? 'valid (X-Hub-Signature-256)' : 'invalid signature (X-Hub-Signature-256)' };
  }
  if (headers['webhook-signature'] === undefined) {
    const ok = verifySignature(raw, headers['x-signature'], previous === null ? [secret] : [secret, previous]);
    return { ok, text: ok ? 'valid (X-Signature)' : 'invalid signature (X-Signature)' };
  }
  const keys: StandardKey[] = [];
  for (const text of secret.trim().split(/\s+/)) {
    const parsed = parseStandardKey(text);
    if (!parsed.ok) return { ok: false, text: `--secret: ${parsed.error}` };
    keys.push(parsed.key);
  }
  const given = { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'] };
  const verdict = verifyStandard(raw, given, keys, clock);
  if (verdict === 'ok') return { ok: true, text: 'valid (Standard Webhooks)' };
  if (verdict === 'invalid_signature') return { ok: false, text: 'invalid signature (Standard Webhooks)' };
  // Stale: say whether the signature itself holds, so a captured request can still be checked.
  const at = Number(given.timestamp);
  const signed = verifyStandard(raw, given, keys, { nowSeconds: at, toleranceSeconds: 0 }) === 'ok';
  const off = clock.nowSeconds - at;
  return {
    ok: false,
    text:
      `timestamp outside tolerance: ${Math.abs(off)} s ${off > 0 ? 'old' : 'ahead'}, tolerance ${clock.toleranceSeconds} s` +
      ` (the signature itself is ${signed ? 'valid' : 'invalid'})`,
  };
}
