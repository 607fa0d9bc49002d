import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger.ts';
import { isStoreUnavailable } from '../store/store.ts';
import { detail, HttpError, storeUnavailableReply } from './errors.ts';
import { collectBody, originForm, type Req } from './request.ts';
import type { Reply, StreamedBody, StreamEnd } from './response.ts';
import { createClientErrors, UNMATCHED_PATH, type InFlight } from './client-errors.ts';
import type { Match } from './router.ts';

/** A client must send all headers within this time. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A client must send the whole request (headers and body) within this time. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection is closed after this time. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/**
 * A streamed reply whose client takes nothing for this long is cut: a reader that stalls for good
 * would otherwise hold its connection (and its export, paused) for ever.
 */
export const STALLED_STREAM_MS = 60_000;
/** How often Node checks HEADERS_TIMEOUT_MS and REQUEST_TIMEOUT_MS. */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** Total request-header bytes accepted; more gets 431. Keeps memory per connection bounded. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Connections held at once; past this new sockets are refused, so memory stays bounded. */
export const MAX_CONNECTIONS = 4096;

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const MAX_LOGGED_PATH = 256;

type HttpObserver = (event: { path: string; status: number; seconds: number }) => void;

export type ServerOptions = {
  match: (method: string, path: string) => Match;
  /** Every method some route serves (a CONNECT is told these in `Allow`). */
  methods: readonly string[];
  logger: Logger;
  maxBodyBytes: number;
  /** Called once per answered request, for http metrics. */
  observe: HttpObserver;
  /** True once shutdown began: responses then close their connection. */
  draining: () => boolean;
  timeouts?: Partial<{ headersMs: number; requestMs: number; keepAliveMs: number; checkIntervalMs: number; stalledStreamMs: number }>;
};

/** The only place that writes responses: request id, timing, body cap, catch-all, access log, http metrics. */
export function createHttpServer(options: ServerOptions): Server {
  const t = options.timeouts ?? {};
  // The request a socket is being answered for: a timeout that cuts it off (Node answers it through
  // 'clientError') is then that request's answer, logged and counted once, on its own line.
  const inFlight = new WeakMap<Socket, InFlight>();
  const handle = createRequestHandler(options, inFlight);

  const server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    requireHostHeader: false, // answered in JSON by the handler instead of Node's empty 400
    headersTimeout: t.headersMs ?? HEADERS_TIMEOUT_MS,
    requestTimeout: t.requestMs ?? REQUEST_TIMEOUT_MS,
    keepAliveTimeout: t.keepAliveMs ?? KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: t.checkIntervalMs ?? TIMEOUT_CHECK_INTERVAL_MS,
  });
  server.maxConnections = MAX_CONNECTIONS;
  // A client may half-close once its request is sent (shutdown(SHUT_WR)): Node would then drop the
  // answer of a request still being handled, a stored message's 200 among them. Answer, then close.
  // (Node's own switch for it, a property of every http.Server that @types/node does not declare.)
  Object.assign(server, { httpAllowHalfOpen: true });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void handle(req, res, false));
  // `Expect: 100-continue`: the limit is checked before the client is invited to send the body.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => void handle(req, res, true));
  // Any other expectation is ignored (RFC 9110 lets a server answer 417, which Node would do unlogged).
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => void handle(req, res, false));
  const clientErrors = createClientErrors({ logger: options.logger, observe: options.observe, methods: options.methods, inFlight });
  server.on('clientError', clientErrors.clientError);
  // CONNECT bypasses 'request'; without this listener Node drops the socket without a word.
  server.on('connect', clientErrors.connect);
  return server;
}

type Target = { method: string; path: string; query: URLSearchParams };

/** One request from start to access-log line: dispatch to its route, answer, count, log. */
function createRequestHandler(
  options: ServerOptions,
  inFlight: WeakMap<Socket, InFlight>,
): (raw: IncomingMessage, res: ServerResponse, expectContinue: boolean) => Promise<void> {
  const { logger, match, maxBodyBytes, observe, draining } = options;

  // What a handler threw: its HttpError, a 503 for storage trouble that may pass (fail closed, every
  // endpoint), or the catch-all: JSON for the client and one log line, no stack.
  const failureReply = (err: unknown, requestId: string): Reply => {
    if (err instanceof HttpError) return { status: err.status, body: err.body, headers: err.headers };
    if (isStoreUnavailable(err)) return storeUnavailableReply(err);
    logger.error('unhandled error', { request_id: requestId, error: describeError(err) });
    return { status: 500, body: { detail: 'internal server error' } };
  };

  // The route's reply, or the answer to whatever stops the request before or inside it.
  const dispatch = async (raw: IncomingMessage, res: ServerResponse, expectContinue: boolean, target: Target, found: Match, requestId: string): Promise<Reply> => {
    try {
      if (hostMissing(raw)) throw detail(400, 'missing Host header');
      // Node keeps the first of two Authorization headers, a proxy in front may act on the last: refused.
      if (repeatsAuthorization(raw)) throw detail(400, 'more than one Authorization header');
      if (found === null) throw detail(404, 'not found');
      if (found.kind === 'method') throw new HttpError(405, { detail: 'method not allowed' }, { allow: found.allowed.join(', ') });
      const body = (): Promise<Buffer> => collectBody(raw, maxBodyBytes, expectContinue ? res : null);
      const req: Req = { ...target, params: found.params, headers: raw.headers, requestId, body };
      return await found.route.handler(req);
    } catch (err) {
      return failureReply(err, requestId);
    }
  };

  const turn = inTurn();
  return async (raw, res, expectContinue) => {
    const answered = await turn(raw.socket);
    if (answered === null) return;
    const started = process.hrtime.bigint();
    const requestId = requestIdOf(raw);
    const target = requestTarget(raw);
    const found = match(target.method, target.path);
    const slot: InFlight = { req: raw, requestId };
    inFlight.set(raw.socket, slot);
    const reply = await dispatch(raw, res, expectContinue, target, found, requestId);

    // A body left unread (413, a 404/405 with a body, a failed read) would have to be drained to keep the
    // connection: close it instead, so an oversized upload is never read to the end.
    const close = !raw.complete || hostMissing(raw) || draining() || slot.closeAfter === true;
    if (inFlight.get(raw.socket) === slot) inFlight.delete(raw.socket);
    // Cut off meanwhile: the client got that answer (written by refuse), not this one.
    const status = slot.refused ?? reply.status;
    const stalledMs = reply.stream?.stalledMs ?? options.timeouts?.stalledStreamMs ?? STALLED_STREAM_MS;
    let body: Promise<StreamOutcome> | null = null;
    if (slot.refused === undefined) {
      if (reply.stream === undefined || target.method === 'HEAD') send(res, reply, target.method, requestId, close);
      else body = sendStream(res, reply, reply.stream, { requestId, close, stalledMs });
    }
    answered(close || slot.refused !== undefined);

    const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    // The route's pattern, never the raw URL: a `{message_id}` path is one series, not one per id.
    const pattern = found === null ? UNMATCHED_PATH : found.kind === 'found' ? found.route.path : found.pattern;
    // Timed to the answer's head: a streamed body lasts as long as its client wants, which is no latency.
    observe({ path: pattern, status, seconds: elapsed() });
    const streamed = body && (await body);
    const failed = streamed?.error !== undefined;
    const level = failed ? 'ERROR' : (reply.logLevel ?? (status >= 500 ? 'ERROR' : status === 408 ? 'WARNING' : 'INFO'));
    logger.log(level, 'request', {
      request_id: requestId,
      method: target.method.slice(0, 16),
      path: target.path.slice(0, MAX_LOGGED_PATH),
      status,
      latency_ms: Math.round(elapsed() * 1e6) / 1e3,
      ...reply.log,
      ...(streamed && { stream: streamed.end, ...(failed && { error: streamed.error }) }),
    });
  };
}

/**
 * Pipelined requests: each waits for the answer before it on its connection (told whether that answer
 * closes it), and is not run at all once one did: it would be stored, and its 200 never sent.
 */
function inTurn(): (socket: Socket) => Promise<((closes: boolean) => void) | null> {
  const answered = new WeakMap<Socket, Promise<boolean>>();
  return async (socket) => {
    const before = answered.get(socket);
    let done = (_closes: boolean): void => {};
    answered.set(socket, new Promise((resolve) => (done = resolve)));
    if (before === undefined || !(await before)) return done;
    done(true);
    return null;
  };
}

/** A well-formed caller id is kept for tracing; anything else is replaced, never echoed or logged. */
function requestIdOf(raw: IncomingMessage): string {
  const incoming = raw.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

function requestTarget(raw: IncomingMessage): Target {
  const url = originForm(raw.url ?? '/');
  const q = url.indexOf('?');
  return {
    method: raw.method ?? 'GET',
    path: q === -1 ? url : url.slice(0, q),
    query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
  };
}

// RFC 9112 requires Host on HTTP/1.1; checked here (not by Node) so the 400 is JSON, logged and counted.
function hostMissing(raw: IncomingMessage): boolean {
  return raw.httpVersion === '1.1' && raw.headers.host === undefined;
}

function repeatsAuthorization(raw: IncomingMessage): boolean {
  let seen = 0;
  const names = raw.rawHeaders;
  for (let i = 0; i < names.length; i += 2) if (names[i]?.length === 13 && names[i]?.toLowerCase() === 'authorization') seen += 1;
  return seen > 1;
}

/** How a streamed body ended, and the producer's error when it failed. */
type StreamOutcome = { end: StreamEnd; error?: string };

/**
 * Status and headers, then each chunk as the client takes it: after a write the socket's buffer is full
 * for, the next chunk is asked for only once it drains, so a slow reader holds one chunk, not the whole
 * body, and one that takes nothing for `stalledMs` is cut. A client that goes away (or is cut) aborts
 * the producer's signal and ends the iteration (its `return()` runs, so the producer stops). A producer
 * that fails part-way cuts the connection: the client sees a truncated body, never a false end.
 */
async function sendStream(
  res: ServerResponse,
  reply: Reply,
  body: StreamedBody,
  { requestId, close, stalledMs }: { requestId: string; close: boolean; stalledMs: number },
): Promise<StreamOutcome> {
  // No content-length: Node sends the body chunked.
  res.writeHead(reply.status, headersOf(reply, reply.contentType ?? 'application/octet-stream', requestId, close));
  const gone = new AbortController();
  const leave = (): void => gone.abort();
  res.on('close', leave);
  if (res.destroyed) leave();
  // The server keeps half-open sockets (httpAllowHalfOpen above) so that an answer still goes out; a
  // client that closes its side before or while a body streams to it has gone, and would otherwise be
  // noticed only at a failed write, which for a quiet live stream may be long.
  const hangUp = (): void => void res.destroy();
  const socket = res.socket;
  socket?.once('end', hangUp);
  if (socket?.readableEnded) hangUp();
  let stalled = false;
  let outcome: StreamOutcome = { end: 'disconnected' };
  try {
    for await (const chunk of body.chunks(gone.signal)) {
      if (!gone.signal.aborted && !res.write(chunk)) {
        const timer = setTimeout(() => ((stalled = true), res.destroy()), stalledMs);
        await once(res, 'drain', { signal: gone.signal }).catch(() => {});
        clearTimeout(timer);
      }
      // Leaving the loop ends the producer: a query stops with its client.
      if (gone.signal.aborted) break;
    }
    // Ended by the client going first too, or this would wait for a 'finish' that never comes.
    if (!gone.signal.aborted) await new Promise<void>((resolve) => (gone.signal.addEventListener('abort', () => resolve()), res.end(resolve)));
    if (res.writableFinished) outcome = { end: 'complete' };
  } catch (err) {
    res.destroy();
    if (!gone.signal.aborted) outcome = { end: 'failed', error: describeError(err) };
  } finally {
    res.off('close', leave);
    socket?.off('end', hangUp);
  }
  if (stalled) outcome = { end: 'stalled' };
  body.ended?.(outcome.end);
  return outcome;
}

function send(res: ServerResponse, reply: Reply, method: string, requestId: string, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const isText = typeof reply.body === 'string';
  const headers = headersOf(reply, reply.contentType ?? (isText ? 'text/plain; charset=utf-8' : 'application/json'), requestId, close);
  // HEAD of a streamed answer: its headers alone, since GET's length is known only once it is sent.
  if (reply.stream !== undefined) return void res.writeHead(reply.status, headers).end();
  const payload = isText ? (reply.body as string) : JSON.stringify(reply.body);
  res.writeHead(reply.status, { ...headers, 'content-length': Buffer.byteLength(payload) });
  res.end(method === 'HEAD' ? undefined : payload);
}

/** The headers of every answer, then the reply's own. */
function headersOf(reply: Reply, contentType: string, requestId: string, close: boolean): Record<string, string> {
  return {
    'content-type': contentType,
    'x-request-id': requestId,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
    ...reply.headers,
    ...(close && { connection: 'close' }),
  };
}

function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  try {
    return `non-error thrown: ${JSON.stringify(err)}`;
  } catch {
    return 'non-error thrown';
  }
}
