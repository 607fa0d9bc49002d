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

export function detail(status: number, message: string, headers?: Record<string, string>): HttpError {
  return new HttpError(status, { detail: message }, headers);
}
