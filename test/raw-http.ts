import { connect } from 'node:net';

export type RawResponse = { status: number; headers: Map<string, string[]>; body: Buffer };

/**
 * Writes `bytes` as they are (malformed requests, duplicate headers, odd methods) and parses the first
 * response. Resolves null when the server closes or `timeoutMs` passes without a whole response.
 */
export function rawRequest(
  port: number,
  bytes: Buffer | string,
  options: { timeoutMs?: number; head?: boolean; halfClose?: boolean } = {},
): Promise<RawResponse | null> {
  const { timeoutMs = 5_000, head = false } = options;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (r: RawResponse | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    socket.on('error', () => finish(parse(buf, true, head)));
    socket.on('close', () => finish(parse(buf, true, head)));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const r = parse(buf, false, head);
      if (r) finish(r);
    });
    // halfClose: the client's end is shut once the bytes are sent (shutdown(SHUT_WR)), the socket left to read.
    socket.on('connect', () => (options.halfClose ? socket.end(bytes) : socket.write(bytes)));
  });
}

function parse(buf: Buffer, ended: boolean, head: boolean): RawResponse | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const [statusLine = '', ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) return null;
  const status = Number(m[1]);
  if (status === 100) return parse(buf.subarray(end + 4), ended, head);
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(i + 1).trim()]);
  }
  // An answer to HEAD has no body, whatever Content-Length says.
  if (head) return { status, headers, body: Buffer.alloc(0) };
  const length = Number(headers.get('content-length')?.[0] ?? NaN);
  const body = buf.subarray(end + 4);
  if (Number.isInteger(length)) {
    if (body.length < length && !ended) return null;
    return { status, headers, body: body.subarray(0, length) };
  }
  return ended ? { status, headers, body } : null;
}
