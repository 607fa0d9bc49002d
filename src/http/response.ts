/** What a handler returns; only the server turns it into bytes on the wire. */
export type Reply = {
  status: number;
  /** A string is sent as-is with `contentType`; anything else as JSON. */
  body: unknown;
  contentType?: string;
  /**
   * A body sent as it is produced, instead of `body` (status and headers first, then each chunk as the
   * client takes it): the server waits for the socket to drain before asking for the next chunk, and stops
   * the iterable (its `return()`) when the client goes away.
   */
  stream?: AsyncIterable<string>;
  headers?: Readonly<Record<string, string>>;
  /** Extra fields for this request's access-log line (never secrets or message text). */
  log?: Readonly<Record<string, unknown>>;
  /** Level of the access-log line; by default ERROR for 5xx, INFO otherwise. */
  logLevel?: 'INFO' | 'WARNING' | 'ERROR';
  /**
   * Server-sent events (`body` is then ignored): the server sends the headers, then what the producer
   * writes, pushed as the store reports new rows; a client that stops reading is cut after `drainMs`.
   */
  events?: StreamedBody;
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

/** A streamed reply: `chunks` written with backpressure, stopped when the client disconnects. */
export function streamed(status: number, contentType: string, chunks: AsyncIterable<string>, extra?: Omit<Reply, 'status' | 'body' | 'stream' | 'contentType'>): Reply {
  return { status, body: null, contentType, stream: chunks, ...extra };
}
