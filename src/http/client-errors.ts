// What never reaches a handler: requests Node's parser gives up on (malformed, headers too large, a
// timeout) and CONNECT. Each gets a JSON answer, one log line and one count, like any other request.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger.ts';

/** How long a refused socket (malformed request, CONNECT) may linger for the client to read and close. */
export const REFUSED_SOCKET_LINGER_MS = 1_000;
/** The `path` label and log value shared by every request that matches no route. */
export const UNMATCHED_PATH = 'unmatched';

/** A request whose handler runs, as its socket's error handler sees it. */
export type InFlight = {
  req: IncomingMessage;
  requestId: string;
  /** The status refuse() answered it with, when its reading was cut off. */
  refused?: number;
  /** Close the connection after its answer: bad bytes followed it. */
  closeAfter?: boolean;
};

export type ClientErrorDeps = {
  logger: Logger;
  observe: (event: { path: string; status: number; seconds: number }) => void;
  /** Every method some route serves (a CONNECT is told these in `Allow`). */
  methods: readonly string[];
  /** The server's requests being answered, by socket. */
  inFlight: WeakMap<Socket, InFlight>;
};

/** The 'clientError' and 'connect' listeners of one server, with that server's own state. */
export function createClientErrors(deps: ClientErrorDeps): {
  clientError(err: NodeJS.ErrnoException, socket: Socket): void;
  connect(req: IncomingMessage, socket: Socket): void;
} {
  const { logger, observe, inFlight } = deps;
  // Sockets answered by refuse(): whatever they send afterwards is not a request.
  const refused = new WeakSet<Socket>();

  // A JSON answer written straight to the socket, which is then closed.
  const refuse = (socket: Socket, status: number, text: string, headers: Record<string, string>): void => {
    refused.add(socket);
    const body = JSON.stringify({ detail: text });
    const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `${extra}Connection: close\r\n\r\n${body}`,
    );
    // end() only half-closes. Such sockets are outside the server's connection tracking, so one left
    // waiting for the client's FIN would block server.close() (and shutdown) for ever: read to EOF, and
    // cut it off if the client never finishes.
    socket.resume();
    setTimeout(() => socket.destroy(), REFUSED_SOCKET_LINGER_MS).unref();
  };

  return {
    clientError(err, socket) {
      const [status, text] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'request header fields too large']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'request timeout']
            : [400, 'bad request'];
      // Already answered and closing: the client's end of it (an EOF mid-request) is no new request.
      if (refused.has(socket)) return;
      // The client gone (a reset, idle or mid-body): no request to answer. One being read fails its body
      // read, and its handler logs and counts it under its route.
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      const current = inFlight.get(socket);
      if (current && !current.req.complete) {
        // The request being read was cut off (a timeout, a broken body): this is its answer, which its
        // handler logs and counts under its route once its body read fails.
        current.refused = status;
        refuse(socket, status, text, { 'X-Request-ID': current.requestId });
        return;
      }
      if (current) {
        // Bad bytes after a whole request still being answered (a stored message, say): that answer goes
        // out first, then the connection closes; the bytes get no answer, so no count of their own.
        current.closeAfter = true;
        logger.log('WARNING', 'bad bytes after a request: the connection closes after its answer', { request_id: current.requestId, error: err.code ?? 'unknown' });
        return;
      }
      const requestId = randomUUID();
      observe({ path: UNMATCHED_PATH, status, seconds: 0 });
      // What the parser gave up on has no method or path to log.
      logger.log('WARNING', 'client error', { request_id: requestId, method: null, path: null, status, latency_ms: 0, error: err.code ?? 'unknown' });
      refuse(socket, status, text, { 'X-Request-ID': requestId });
    },

    connect(_req, socket) {
      const requestId = randomUUID();
      observe({ path: UNMATCHED_PATH, status: 405, seconds: 0 });
      logger.log('WARNING', 'client error', { request_id: requestId, method: 'CONNECT', path: null, status: 405, latency_ms: 0, error: 'CONNECT' });
      refuse(socket, 405, 'method not allowed', { Allow: deps.methods.join(', '), 'X-Request-ID': requestId });
    },
  };
}
