import { parseMessage } from '../../domain/message.ts';
import { verifySignature } from '../../domain/signature.ts';
import { verifyStandard, type StandardKey, type StandardVerdict } from '../../domain/standard-webhooks.ts';
import type { WebhookResult } from '../../observability/service-metrics.ts';
import { isStoreUnavailable, type Store } from '../../store/store.ts';
import { HttpError, storeUnavailableReply } from '../errors.ts';
import { header, type Req } from '../request.ts';
import { json, type Reply } from '../response.ts';

export type WebhookDeps = {
  store: Store;
  /** The seed's `X-Signature` secrets. */
  secrets: readonly string[];
  /** Standard Webhooks keys, and how far `webhook-timestamp` may be from `clock`. */
  standardKeys: readonly StandardKey[];
  toleranceSeconds: number;
  clock: () => Date;
  onResult: (result: WebhookResult) => void;
};

/** The raw body, or `answer`'s reply when it cannot be read whole (413, or the client gone). */
export async function readBody(req: Req, answer: (status: number, body: unknown, result: WebhookResult) => Reply): Promise<Buffer | Reply> {
  try {
    return await req.body();
  } catch (err) {
    if (err instanceof HttpError && err.status === 413) return answer(413, err.body, 'payload_too_large');
    // The client went away or stalled past the request timeout before its body was whole.
    if (err instanceof HttpError) return answer(err.status, err.body, 'incomplete_body');
    throw err;
  }
}

/** POST /webhook. The checks run in the contract's order; the first that fails answers. */
export function createWebhookHandler(deps: WebhookDeps): (req: Req) => Promise<Reply> {
  const { store, secrets, standardKeys, onResult } = deps;

  // SPEC: a request that carries `webhook-signature` is verified by Standard Webhooks alone, so a
  // stale or forged one cannot fall back to the seed's scheme (which signs no time).
  const verify = (raw: Buffer, req: Req): { scheme: string; verdict: StandardVerdict } => {
    if (req.headers['webhook-signature'] === undefined) {
      const ok = verifySignature(raw, header(req, 'x-signature'), secrets);
      return { scheme: 'x-signature', verdict: ok ? 'ok' : 'invalid_signature' };
    }
    const headers = {
      id: header(req, 'webhook-id'),
      timestamp: header(req, 'webhook-timestamp'),
      signature: header(req, 'webhook-signature'),
    };
    const clock = { nowSeconds: Math.floor(deps.clock().getTime() / 1000), toleranceSeconds: deps.toleranceSeconds };
    return { scheme: 'standard', verdict: verifyStandard(raw, headers, standardKeys, clock) };
  };

  const answer = (status: number, body: unknown, result: WebhookResult, extra: Record<string, unknown> = {}): Reply => {
    onResult(result);
    return json(status, body, {
      log: { result, dup: result === 'duplicate', ...extra },
      // SPEC: invalid signatures log at ERROR (someone holds a wrong or no secret).
      ...(result === 'invalid_signature' && { logLevel: 'ERROR' as const }),
      // A delayed retry or a skewed clock as often as a replay: worth a look, not an alarm.
      ...(result === 'stale_timestamp' && { logLevel: 'WARNING' as const }),
      ...(status === 503 && { headers: { 'retry-after': '1' } }),
    });
  };

  return async (req) => {
    const raw = await readBody(req, answer);
    if (!Buffer.isBuffer(raw)) return raw;
    if (secrets.length === 0 && standardKeys.length === 0) {
      return answer(503, { detail: 'webhook secret not configured' }, 'secret_not_configured');
    }
    // Verify before parsing: unsigned bytes get no further than this.
    const { scheme, verdict } = verify(raw, req);
    if (verdict === 'stale_timestamp') return answer(401, { detail: 'timestamp outside tolerance' }, verdict, { scheme });
    if (verdict === 'invalid_signature') return answer(401, { detail: 'invalid signature' }, verdict, { scheme });
    const parsed = parseMessage(raw);
    if (!parsed.ok) {
      return answer(422, { detail: parsed.errors }, 'validation_error', 'messageId' in parsed ? { message_id: parsed.messageId } : {});
    }

    const messageId = parsed.value.messageId;
    try {
      const [outcome] = await store.insertMany([parsed.value]);
      if (outcome === undefined) throw new Error('the store gave no outcome for this insert');
      return answer(200, { status: 'ok' }, outcome, { message_id: messageId });
    } catch (err) {
      if (isStoreUnavailable(err)) {
        // The server's answer to storage trouble, with this endpoint's outcome in its log line.
        const reply = storeUnavailableReply(err);
        onResult('store_unavailable');
        return { ...reply, log: { ...reply.log, result: 'store_unavailable', dup: false, message_id: messageId } };
      }
      onResult('error');
      throw err;
    }
  };
}
