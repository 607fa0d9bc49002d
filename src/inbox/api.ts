// The service's JSON endpoints as the page calls them: same origin, by path (so the page works unchanged
// behind the load balancer), with the read token as a bearer header and never in a URL.

export type Message = { message_id: string; from: string; to: string; ts: string; text: string | null; type?: string };
export type Stats = {
  total_messages: number;
  senders_count: number;
  messages_per_sender: { from: string; count: number }[];
  first_message_ts: string | null;
  last_message_ts: string | null;
};
export type Listing = { data: Message[]; total: number; next_cursor: string | null };
export type Failure = { status: number; detail: string };
export type Answer<T> = { ok: true; body: T } | { ok: false; failure: Failure };

const TOKEN_KEY = 'lyftr-inbox-token';

/** The read token: in this tab's sessionStorage only (gone with the tab, never sent to another origin). */
export const readToken = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string): void => sessionStorage.setItem(TOKEN_KEY, t),
  forget: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export function bearer(token: string | null): Record<string, string> {
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

export function authHeaders(): Record<string, string> {
  return bearer(readToken.get());
}

export function withQuery(path: string, params: URLSearchParams | null): string {
  return params && params.size > 0 ? `${path}?${params}` : path;
}

/** A request whose JSON answer `guard` accepts; any other outcome is a Failure (status 0: no answer). */
export async function api<T>(path: string, guard: (v: unknown) => v is T, init: RequestInit = {}): Promise<Answer<T>> {
  let res: Response;
  try {
    res = await fetch(path, { headers: authHeaders(), cache: 'no-store', ...init });
  } catch {
    return { ok: false, failure: { status: 0, detail: 'the service could not be reached' } };
  }
  const body = await jsonOrNull(res);
  if (res.ok && guard(body)) return { ok: true, body };
  return { ok: false, failure: { status: res.ok ? 502 : res.status, detail: detailOf(body) } };
}

/** The answer's JSON body, or null when it has none (a proxy's HTML error page: the status says enough). */
export async function jsonOrNull(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/** The `detail` of an error body: a string, or FastAPI-style items whose messages are joined. */
export function detailOf(body: unknown): string {
  if (!isRecord(body)) return '';
  const d = body.detail;
  if (typeof d === 'string') return d;
  if (Array.isArray(d)) return d.map((e: unknown) => (isRecord(e) && typeof e.msg === 'string' ? e.msg : '')).filter(Boolean).join('; ');
  return '';
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isMessage(v: unknown): v is Message {
  return (
    isRecord(v) &&
    typeof v.message_id === 'string' &&
    typeof v.from === 'string' &&
    typeof v.to === 'string' &&
    typeof v.ts === 'string' &&
    (typeof v.text === 'string' || v.text === null)
  );
}

export function isListing(v: unknown): v is Listing {
  return (
    isRecord(v) &&
    Array.isArray(v.data) &&
    v.data.every(isMessage) &&
    typeof v.total === 'number' &&
    (typeof v.next_cursor === 'string' || v.next_cursor === null)
  );
}

export function isStats(v: unknown): v is Stats {
  return isRecord(v) && typeof v.total_messages === 'number' && Array.isArray(v.messages_per_sender);
}
