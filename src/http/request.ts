// The request as handlers see it (Req), and the two parts of it that the server reads for them: the
// target and the body.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { detail } from './errors.ts';

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

/**
 * A header's value. Node joins a repeated header with `, ` (a few, such as Host, keep the first): for the
 * signature headers that is a value no check accepts, but for `webhook-signature`, a list of entries anyway.
 */
export function header(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** Collects the body up to `limit` bytes. A declared or actual size beyond it is refused without reading on. */
export function collectBody(req: IncomingMessage, limit: number, continueTo: ServerResponse | null): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(detail(413, 'payload too large'));
  }
  continueTo?.writeContinue();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(detail(413, 'payload too large'));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      reject(detail(400, 'request body could not be read'));
    };
    const onAborted = onError;
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/**
 * The path and query of a request target. RFC 9112 has servers accept the absolute form
 * (`http://host/path?q`), which clients send through proxies: its scheme and authority are dropped.
 */
export function originForm(target: string): string {
  const prefix = /^https?:\/\/[^/?#]*/i.exec(target);
  if (prefix === null) return target;
  const rest = target.slice(prefix[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}
