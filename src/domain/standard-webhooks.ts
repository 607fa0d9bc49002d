// Standard Webhooks, version 1 (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md):
// the delivery id and a unix timestamp are signed with the body, so a captured request expires.
import { createHmac, createPrivateKey, createPublicKey, createSecretKey, sign as signBytes, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

/** How far `webhook-timestamp` may be from our clock, either way, unless configured otherwise. */
export const DEFAULT_TOLERANCE_SECONDS = 300;
/**
 * Distinct `v1`/`v1a` entries checked per request, the rest ignored. A sender rotating keys sends two or
 * three; without a cap, a 16 KB header of Ed25519 entries cost 170 verifications of the whole body.
 */
export const MAX_SIGNATURE_ENTRIES = 8;

/** A key the receiver verifies with: an HMAC secret (`v1`) or an Ed25519 public key (`v1a`). */
export type StandardKey = { readonly kind: 'hmac'; readonly key: KeyObject } | { readonly kind: 'ed25519'; readonly key: KeyObject };
/** A key a sender signs with: an HMAC secret or an Ed25519 private key. */
export type SigningKey = { readonly kind: 'hmac'; readonly key: KeyObject } | { readonly kind: 'ed25519'; readonly key: KeyObject };

export type StandardHeaders = { id: string | undefined; timestamp: string | undefined; signature: string | undefined };
export type StandardVerdict = 'ok' | 'invalid_signature' | 'stale_timestamp';

export type KeyResult<K> = { ok: true; key: K } | { ok: false; error: string };

const SECRET_PREFIX = 'whsec_';
const PUBLIC_PREFIX = 'whpk_';
const SIGNING_PREFIX = 'whsk_';
const HMAC_BYTES = 32;
const ED25519_KEY_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
// Integer unix seconds, no sign, no leading zero: the signed text is the header exactly as sent.
const TIMESTAMP = /^(?:0|[1-9][0-9]{0,14})$/;
// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410), so node:crypto can load it.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * Standard base64 only, padding optional: the bytes must re-encode to the same text, so there is one
 * spelling per value (Buffer.from(x, 'base64') alone skips what it cannot read).
 */
export function decodeBase64(text: string): Buffer | null {
  const bare = text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
  if (!/^[A-Za-z0-9+/]*$/.test(bare) || bare.length % 4 === 1) return null;
  if (bare !== text && text.length % 4 !== 0) return null;
  const bytes = Buffer.from(bare, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === bare ? bytes : null;
}

/** A configured key: `whsec_<base64>` or bare base64 (HMAC secret), `whpk_<base64>` (Ed25519 public key). */
export function parseStandardKey(text: string): KeyResult<StandardKey> {
  if (text.startsWith(SIGNING_PREFIX)) {
    return { ok: false, error: 'a whsk_ signing key stays with the sender: configure its whpk_ public key' };
  }
  if (text.startsWith(PUBLIC_PREFIX)) {
    const raw = decodeBase64(text.slice(PUBLIC_PREFIX.length));
    if (raw === null || raw.length !== ED25519_KEY_BYTES) {
      return { ok: false, error: 'whpk_ must be followed by the base64 of a 32-byte Ed25519 public key' };
    }
    try {
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
      return { ok: true, key: { kind: 'ed25519', key } };
    } catch {
      // OpenSSL takes any 32 bytes today; should one ever refuse a value, it is a config error, not a crash.
      return { ok: false, error: 'whpk_ does not hold an Ed25519 public key node:crypto accepts' };
    }
  }
  const secret = decodeBase64(text.startsWith(SECRET_PREFIX) ? text.slice(SECRET_PREFIX.length) : text);
  if (secret === null || secret.length === 0) {
    return { ok: false, error: 'a whsec_ secret must be non-empty base64 (generate one with `openssl rand -base64 32`)' };
  }
  // A KeyObject: node:crypto sets up an HMAC from it several times faster than from a Buffer key.
  return { ok: true, key: { kind: 'hmac', key: createSecretKey(secret) } };
}

/** A sender's key: `whsec_<base64>` or bare base64 (HMAC), `whsk_<base64>` (a 32-byte Ed25519 seed). */
export function parseSigningKey(text: string): KeyResult<SigningKey> {
  if (!text.startsWith(SIGNING_PREFIX)) {
    const parsed = parseStandardKey(text);
    if (!parsed.ok || parsed.key.kind === 'hmac') return parsed;
    return { ok: false, error: 'a whpk_ public key can verify but not sign: give the whsk_ signing key' };
  }
  const seed = decodeBase64(text.slice(SIGNING_PREFIX.length));
  // Some tools serialise the 64-byte libsodium form (seed, then public key): its first half is the seed.
  if (seed === null || (seed.length !== ED25519_KEY_BYTES && seed.length !== 2 * ED25519_KEY_BYTES)) {
    return { ok: false, error: 'whsk_ must be followed by the base64 of a 32-byte Ed25519 seed' };
  }
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed.subarray(0, ED25519_KEY_BYTES)]);
  return { ok: true, key: { kind: 'ed25519', key: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) } };
}

/** The `whpk_` public key that verifies what an Ed25519 signing key signs; null for an HMAC secret. */
export function publicKeyOf(signing: SigningKey): string | null {
  if (signing.kind === 'hmac') return null;
  const jwk = createPublicKey(signing.key).export({ format: 'jwk' });
  return PUBLIC_PREFIX + Buffer.from(jwk.x ?? '', 'base64url').toString('base64');
}

/** `id.timestamp.body` over the raw body bytes: re-serialised JSON would differ. */
function signedContent(id: string, timestamp: string, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]);
}

/** One `webhook-signature` entry: `v1,<base64 HMAC-SHA256>` or `v1a,<base64 Ed25519 signature>`. */
export function signStandard(key: SigningKey, id: string, timestamp: string, body: string | Uint8Array): string {
  const content = signedContent(id, timestamp, typeof body === 'string' ? Buffer.from(body) : body);
  if (key.kind === 'hmac') return `v1,${createHmac('sha256', key.key).update(content).digest('base64')}`;
  return `v1a,${signBytes(null, content, key.key).toString('base64')}`;
}

/**
 * The specification's check: all three headers present, the timestamp within `toleranceSeconds` of
 * `nowSeconds` (either way), then any `v1`/`v1a` entry matching any key; other versions are ignored.
 * The timestamp comes first, as in the reference library: a replay costs no signature check. At most
 * MAX_SIGNATURE_ENTRIES distinct entries are checked, so no header costs more than that many.
 */
export function verifyStandard(
  body: Uint8Array,
  headers: StandardHeaders,
  keys: readonly StandardKey[],
  clock: { nowSeconds: number; toleranceSeconds: number },
): StandardVerdict {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature || !TIMESTAMP.test(timestamp)) return 'invalid_signature';
  if (Math.abs(clock.nowSeconds - Number(timestamp)) > clock.toleranceSeconds) return 'stale_timestamp';
  const content = signedContent(id, timestamp, body);
  const macs = keys.flatMap((k) => (k.kind === 'hmac' ? [createHmac('sha256', k.key).update(content).digest()] : []));
  const publicKeys = keys.flatMap((k) => (k.kind === 'ed25519' ? [k.key] : []));
  let ok = false;
  const checked = new Set<string>();
  // Every entry against every key, so the time taken does not tell which one matched.
  // Entries are space-separated; repeated headers arrive joined with ", " (request.ts).
  for (const entry of signature.split(/,? /)) {
    if (checked.size === MAX_SIGNATURE_ENTRIES) break;
    if (checked.has(entry)) continue;
    const comma = entry.indexOf(',');
    const version = entry.slice(0, comma);
    const given = comma === -1 ? null : decodeBase64(entry.slice(comma + 1));
    if (given === null) continue;
    if (version === 'v1' && given.length === HMAC_BYTES) {
      checked.add(entry);
      for (const mac of macs) if (timingSafeEqual(mac, given)) ok = true;
    } else if (version === 'v1a' && given.length === ED25519_SIGNATURE_BYTES) {
      checked.add(entry);
      for (const key of publicKeys) if (verify(null, content, key, given)) ok = true;
    }
  }
  return ok ? 'ok' : 'invalid_signature';
}
