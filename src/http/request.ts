import type { IncomingHttpHeaders } from 'node:http';

export type Req = {
  method: string;
  /** The URL path without the query string, as received. */
  path: string;
  query: URLSearchParams;
  /** The matched route's `{name}` segment, percent-decoded (router.ts). */
  params: Readonly<Record<string, string>>;
  headers: IncomingHttpHeaders;
  requestId: string;
  /** Reads the whole body, at most the configured limit; throws HttpError 413 beyond it. */
  body(): Promise<Buffer>;
};

/** A single header value; repeated headers count as malformed rather than silently picking one. */
export function header(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}
