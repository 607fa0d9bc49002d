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
};

export function json(status: number, body: unknown, extra?: Omit<Reply, 'status' | 'body'>): Reply {
  return { status, body, ...extra };
}
