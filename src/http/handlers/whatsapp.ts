import { parseEnvelope, verifyHubSignature, verifyTokenMatches, type Envelope } from '../../domain/whatsapp.ts';
import type { ServiceMetrics, WebhookResult } from '../../observability/service-metrics.ts';
import { isStoreUnavailable, type InsertOutcome, type Store } from '../../store/store.ts';
import { storeUnavailableReply } from '../errors.ts';
import { header, type Req } from '../request.ts';
import { json, type Reply } from '../response.ts';
import { readBody } from './webhook.ts';

/** A handshake's challenge is echoed: Meta sends a short number; anything long is refused, not reflected. */
export const MAX_CHALLENGE_LENGTH = 256;
/** Malformed items named in one access-log line; the count is always there. */
const MAX_LOGGED_ITEMS = 10;

/**
 * GET /webhook/whatsapp: Meta's subscription handshake. `hub.challenge` comes back as text/plain when
 * `hub.mode` is `subscribe` and `hub.verify_token` is WHATSAPP_VERIFY_TOKEN; anything else is a 403.
 */
export function createWhatsAppHandshakeHandler(verifyToken: string | null): (req: Req) => Reply {
  const refuse = (reason: string): Reply =>
    json(403, { detail: 'verification failed' }, { log: { source: 'whatsapp', reason }, logLevel: 'WARNING' });
  return (req) => {
    if (verifyToken === null) return refuse('WHATSAPP_VERIFY_TOKEN is not set');
    // Each parameter exactly once: a repeated one is ambiguous, so nothing is echoed.
    const one = (name: string): string | null => {
      const all = req.query.getAll(name);
      return all.length === 1 ? (all[0] ?? null) : null;
    };
    const [mode, token, challenge] = [one('hub.mode'), one('hub.verify_token'), one('hub.challenge')];
    if (mode !== 'subscribe') return refuse('hub.mode is not subscribe');
    if (token === null || !verifyTokenMatches(token, verifyToken)) return refuse('hub.verify_token does not match');
    if (challenge === null || challenge === '' || challenge.length > MAX_CHALLENGE_LENGTH) return refuse('no usable hub.challenge');
    return { status: 200, body: challenge, contentType: 'text/plain; charset=utf-8', log: { source: 'whatsapp' } };
  };
}

export type WhatsAppDeps = {
  store: Store;
  /** WHATSAPP_APP_SECRET's secrets, current first; empty: 503. */
  appSecrets: readonly string[];
  metrics: Pick<ServiceMetrics, 'webhookResult' | 'whatsappItems' | 'whatsappStatuses'>;
};

/**
 * POST /webhook/whatsapp: size (413), app secret set (503), X-Hub-Signature-256 over the raw bytes (401),
 * Meta's envelope (422); then every message of the request in one commit, and 200 only after it. A
 * malformed item is logged and counted and the rest stored: Meta redelivers a non-2xx for days.
 */
export function createWhatsAppHandler(deps: WhatsAppDeps): (req: Req) => Promise<Reply> {
  const { store, appSecrets, metrics } = deps;
  const answer = (status: number, body: unknown, result: WebhookResult, extra: Record<string, unknown> = {}): Reply => {
    metrics.webhookResult(result, 'whatsapp');
    return json(status, body, {
      log: { source: 'whatsapp', result, ...extra },
      ...(result === 'invalid_signature' && { logLevel: 'ERROR' as const }),
      ...(status === 503 && { headers: { 'retry-after': '1' } }),
    });
  };

  return async (req) => {
    const raw = await readBody(req, answer);
    if (!Buffer.isBuffer(raw)) return raw;
    if (appSecrets.length === 0) return answer(503, { detail: 'whatsapp app secret not configured' }, 'secret_not_configured');
    // Verify before parsing: Meta signs the bytes it sends (non-ASCII escaped as \uXXXX), not a re-serialisation.
    if (!verifyHubSignature(raw, header(req, 'x-hub-signature-256'), appSecrets)) {
      return answer(401, { detail: 'invalid signature' }, 'invalid_signature', { scheme: 'x-hub-signature-256' });
    }
    const parsed = parseEnvelope(raw);
    if (!parsed.ok) return answer(422, { detail: parsed.errors }, 'validation_error');
    const envelope = parsed.value;

    let outcomes: InsertOutcome[];
    try {
      outcomes = envelope.messages.length === 0 ? [] : await store.insertMany(envelope.messages);
    } catch (err) {
      if (isStoreUnavailable(err)) {
        const { body, log } = storeUnavailableReply(err);
        return answer(503, body, 'store_unavailable', { messages: envelope.messages.length, ...log });
      }
      metrics.webhookResult('error', 'whatsapp');
      throw err;
    }
    // Fail closed: an engine that does not account for every message has not said they are stored.
    if (outcomes.length !== envelope.messages.length) throw new Error('insertMany gave no outcome for some messages');
    const reply = answer(200, { status: 'ok' }, resultOf(outcomes), summary(envelope, outcomes));
    count(metrics, envelope, outcomes);
    return envelope.malformed.length > 0 ? { ...reply, logLevel: 'WARNING' } : reply;
  };
}

/** The request's result: created when any message is new, duplicate when all were stored before. */
function resultOf(outcomes: readonly InsertOutcome[]): WebhookResult {
  if (outcomes.includes('created')) return 'created';
  return outcomes.length > 0 ? 'duplicate' : 'accepted';
}

/** The access-log fields of a stored envelope: counts, the id of a lone message, malformed items' places. */
function summary(envelope: Envelope, outcomes: readonly InsertOutcome[]): Record<string, unknown> {
  const created = outcomes.filter((o) => o === 'created').length;
  const [only] = envelope.messages;
  return {
    ...(envelope.messages.length === 1 && only && { message_id: only.messageId }),
    dup: outcomes.length > 0 && created === 0,
    messages: envelope.messages.length,
    created,
    statuses: envelope.statuses.length,
    ...(envelope.malformed.length > 0 && {
      malformed: envelope.malformed.length,
      // Where and why, never the text: the log may be read by people the messages are not for.
      malformed_items: envelope.malformed.slice(0, MAX_LOGGED_ITEMS).map((m) => ({
        loc: m.loc,
        msg: m.msg,
        ...(m.messageId !== undefined && { message_id: m.messageId }),
      })),
    }),
  };
}

function count(metrics: WhatsAppDeps['metrics'], envelope: Envelope, outcomes: readonly InsertOutcome[]): void {
  const created = outcomes.filter((o) => o === 'created').length;
  const items = { created, duplicate: outcomes.length - created, malformed: envelope.malformed.length, ignored: envelope.ignored };
  for (const [outcome, n] of Object.entries(items) as [keyof typeof items, number][]) if (n > 0) metrics.whatsappItems(outcome, n);
  const byStatus = new Map<string, number>();
  for (const s of envelope.statuses) byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
  for (const [status, n] of byStatus) metrics.whatsappStatuses(status, n);
}
