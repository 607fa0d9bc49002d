import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { header } from './request.ts';
import { json } from './response.ts';
import type { Handler } from './router.ts';

// RFC 6750: `Bearer` (any case), then the token; the scheme name alone or another scheme is no token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * `handler`, answering only requests with `Authorization: Bearer <one of tokens>`; with no tokens it is
 * `handler` itself (SPEC: unset, reads stay open). Others get 401 and `WWW-Authenticate: Bearer`.
 */
export function requireBearer(tokens: readonly string[], onFailure: () => void, handler: Handler): Handler {
  if (tokens.length === 0) return handler;
  const expected = tokens.map(digest);
  return (req) => {
    const given = BEARER.exec(header(req, 'authorization') ?? '')?.[1];
    // SHA-256 digests all have one length, so timingSafeEqual never throws and the time taken says
    // nothing about how much of a token was right; every token is compared, so nor which one matched.
    const candidate = digest(given ?? '');
    let ok = false;
    for (const token of expected) if (timingSafeEqual(token, candidate)) ok = true;
    if (ok && given !== undefined) return handler(req);
    onFailure();
    return json(401, { detail: 'not authenticated' }, {
      headers: { 'www-authenticate': 'Bearer' },
      log: { auth: given === undefined ? 'missing_token' : 'invalid_token' },
      logLevel: 'WARNING',
    });
  };
}

/** True for addresses only this machine can reach: the read endpoints are then no wider exposure. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}
