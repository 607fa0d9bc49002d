/** What a handler returns; only the server turns it into bytes on the wire. */
export type Reply = {
  status: number;
  /** A string is sent as-is with `contentType`; anything else as JSON. */
  body: unknown;
  contentType?: string;
  /** A body sent as it is produced, instead of `body` (an export, the live stream). */
  stream?: StreamedBody;
  headers?: Readonly<Record<string, string>>;
  /** Extra fields for this request's access-log line (never secrets or message text). */
  log?: Readonly<Record<string, unknown>>;
  /** Level of the access-log line; by default ERROR for 5xx, INFO otherwise. */
  logLevel?: 'INFO' | 'WARNING' | 'ERROR';
};

/**
 * Status and headers first, then each chunk as the client takes it: the server asks for the next chunk
 * only once the socket has drained, cuts a client that takes nothing for `stalledMs`, and stops the
 * iteration (its `return()`) when the client goes away. The body ends when the iteration does.
 */
export type StreamedBody = {
  /** `gone` is aborted when the client leaves or is cut: a producer waiting for data stops then. */
  chunks(gone: AbortSignal): AsyncIterable<string | Uint8Array>;
  /** How long a client may take nothing before it is cut; the server's default otherwise. */
  stalledMs?: number;
  /** Told how the body ended, once. */
  ended?(end: StreamEnd): void;
};

/** Every chunk written; the client gone first; cut for taking nothing; or the producer failing. */
export type StreamEnd = 'complete' | 'disconnected' | 'stalled' | 'failed';

export function json(status: number, body: unknown, extra?: Omit<Reply, 'status' | 'body'>): Reply {
  return { status, body, ...extra };
}

/** A streamed reply: `stream`'s chunks written with backpressure, stopped when the client disconnects. */
export function streamed(status: number, contentType: string, stream: StreamedBody, extra?: Omit<Reply, 'status' | 'body' | 'stream' | 'contentType'>): Reply {
  return { status, body: null, contentType, stream, ...extra };
}
