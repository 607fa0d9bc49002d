/** What a handler returns; only the server turns it into bytes on the wire. */
export type Reply = {
  status: number;
  /** A string is sent as-is with `contentType`; anything else as JSON. */
  body: unknown;
  contentType?: string;
  headers?: Readonly<Record<string, string>>;
  /** Extra fields for this request's access-log line (never secrets or message text). */
  log?: Readonly<Record<string, unknown>>;
  /** Level of the access-log line; by default ERROR for 5xx, INFO otherwise. */
  logLevel?: 'INFO' | 'WARNING' | 'ERROR';
  /** A body produced over time (`body` is then ignored): the server sends the headers, then what it writes. */
  stream?: StreamedBody;
};

export type StreamedBody = {
  /** How long a write may wait for a client that stopped reading before the client is disconnected. */
  drainMs: number;
  /** Writes the body; the server ends the response when it settles. */
  produce(sink: Sink): Promise<void>;
};

export type Sink = {
  /** `written` once the socket took the chunk; `closed` when the client is gone; `too_slow` when it was disconnected for not reading. */
  write(chunk: string): Promise<'written' | 'closed' | 'too_slow'>;
  /** Aborted when the client disconnects (or was disconnected). */
  signal: AbortSignal;
};

export function json(status: number, body: unknown, extra?: Omit<Reply, 'status' | 'body'>): Reply {
  return { status, body, ...extra };
}
