import type { Reply } from './response.ts';

/** The one error type handlers may throw on purpose; the server turns it into its JSON answer. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, body: unknown, headers: Record<string, string> = {}) {
    super(typeof body === 'object' && body !== null && 'detail' in body ? String(body.detail) : `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

export function detail(status: number, message: string): HttpError {
  return new HttpError(status, { detail: message });
}

/**
 * The answer to storage trouble that may pass (StoreUnavailable: a locked or full disk, PostgreSQL
 * down): 503 with Retry-After on every endpoint, so clients and load balancers retry instead of failing.
 */
export function storeUnavailableReply(error: Error): Reply {
  return {
    status: 503,
    body: { detail: 'storage temporarily unavailable, retry later' },
    headers: { 'retry-after': '1' },
    log: { error: error.message },
  };
}
