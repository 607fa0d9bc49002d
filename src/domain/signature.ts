import { createHmac, timingSafeEqual } from 'node:crypto';

const SIGNATURE_HEX = /^[0-9a-f]{64}$/i;
const PREFIX = 'sha256=';

/**
 * True when `header` is the hex HMAC-SHA256 of the raw body bytes under one of `secrets`.
 * HMAC over raw bytes: re-serialised JSON would differ. The hex is checked before decoding because
 * Buffer.from(x, 'hex') silently drops what it cannot parse.
 */
export function verifySignature(body: Uint8Array, header: string | undefined, secrets: readonly string[]): boolean {
  if (header === undefined) return false;
  let hex = header.trim();
  if (hex.slice(0, PREFIX.length).toLowerCase() === PREFIX) hex = hex.slice(PREFIX.length);
  if (!SIGNATURE_HEX.test(hex)) return false;
  const given = Buffer.from(hex, 'hex');
  let ok = false;
  // Every secret is tried, so the time taken does not tell which one matched.
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(body).digest();
    if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}

/** The header value a sender puts in `X-Signature`. */
export function sign(body: string | Uint8Array, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}
