import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { header, type Req } from './request.ts';
import { json, type Reply } from './response.ts';
import type { Handler } from './router.ts';

// RFC 6750: `Bearer` (any case), then the token; the scheme name alone or another scheme is no token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * A check of `Authorization: Bearer <token>` against `tokens`: the index of the token given, or null
 * (none given, or no match). Every token is compared, in constant time.
 */
export function bearerCheck(tokens: readonly string[]): (req: Req) => { given: boolean; index: number | null } {
  const expected = tokens.map(digest);
  return (req) => {
    const given = BEARER.exec(header(req, 'authorization') ?? '')?.[1];
    // SHA-256 digests all have one length, so timingSafeEqual never throws and the time taken says
    // nothing about how much of a token was right; every token is compared, so nor which one matched.
    const candidate = digest(given ?? '');
    let index: number | null = null;
    expected.forEach((token, i) => {
      if (timingSafeEqual(token, candidate)) index = i;
    });
    return { given: given !== undefined, index: given === undefined ? null : index };
  };
}

/** The 401 of a guarded endpoint (SPEC "Read access"). */
export function notAuthenticated(given: boolean): Reply {
  return json(401, { detail: 'not authenticated' }, {
    headers: { 'www-authenticate': 'Bearer' },
    log: { auth: given ? 'invalid_token' : 'missing_token' },
    logLevel: 'WARNING',
  });
}

/**
 * `handler`, answering only requests with `Authorization: Bearer <one of tokens>`; with no tokens it is
 * `handler` itself (SPEC: unset, reads stay open). Others get 401 and `WWW-Authenticate: Bearer`.
 */
export function requireBearer(tokens: readonly string[], onFailure: () => void, handler: Handler): Handler {
  if (tokens.length === 0) return handler;
  const check = bearerCheck(tokens);
  return (req) => {
    const { given, index } = check(req);
    if (index !== null) return handler(req);
    onFailure();
    return notAuthenticated(given);
  };
}

/**
 * A short, stable name for a secret or a person's number in an audit line: the first 12 hex digits of
 * its SHA-256. An operator finds which token it was (`printf %s "$TOKEN" | sha256sum | cut -c1-12`);
 * the line itself holds neither.
 */
export function fingerprint(text: string): string {
  return digest(text).toString('hex').slice(0, 12);
}

/** True for addresses only this machine can reach: the read endpoints are then no wider exposure. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}
