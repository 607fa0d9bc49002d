import type { Req } from './request.ts';
import type { Reply } from './response.ts';

export type Handler = (req: Req) => Reply | Promise<Reply>;
/** `path` is exact, or ends in one `{name}` segment, which matches one non-empty segment of the URL. */
export type Route = { method: string; path: string; handler: Handler };

export type Match =
  /** `params`: the route's `{name}` segment, percent-decoded. */
  | { kind: 'found'; route: Route; params: Readonly<Record<string, string>> }
  /** The path exists but not for this method: answer 405 with these in `Allow`. */
  | { kind: 'method'; allowed: string[]; pattern: string }
  | null;

const PARAM = /^(.*\/)\{([a-z_]+)\}$/;

/**
 * A flat table of exact paths, plus paths whose last segment is a parameter (`/messages/{message_id}`),
 * tried after the exact path: for a method it lacks too (`DELETE /messages/stream` erases the message
 * whose id is `stream`). HEAD is served by GET routes.
 */
export function createRouter(routes: readonly Route[]): (method: string, path: string) => Match {
  const byPath = new Map<string, Route[]>();
  for (const r of routes) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r]);
  const patterns = [...byPath.keys()].flatMap((path) => {
    const m = PARAM.exec(path);
    return m ? [{ path, prefix: m[1] ?? '', name: m[2] ?? '' }] : [];
  });

  return (method, path) => {
    // The paths this one matches, the exact one first, each with its routes and parameter.
    const matches = byPath.has(path) ? [{ pattern: path, params: {} }] : [];
    for (const p of patterns) {
      const rest = path.slice(p.prefix.length);
      const value = path.startsWith(p.prefix) && rest !== '' && !rest.includes('/') ? decoded(rest) : null;
      if (value === null) continue;
      matches.push({ pattern: p.path, params: { [p.name]: value } });
      break;
    }
    const wanted = method === 'HEAD' ? 'GET' : method;
    for (const { pattern, params } of matches) {
      const route = byPath.get(pattern)?.find((r) => r.method === wanted);
      if (route) return { kind: 'found', route, params };
    }
    const first = matches[0];
    if (first === undefined) return null;
    const allowed = new Set(matches.flatMap((m) => (byPath.get(m.pattern) ?? []).map((r) => r.method)));
    return { kind: 'method', allowed: withHead([...allowed]), pattern: first.pattern };
  };
}

/** A path segment percent-decoded; null when its encoding is malformed (then no route matches). */
function decoded(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** Every method some route serves, HEAD with GET: what `Allow` names for a request no route can take. */
export function servedMethods(routes: readonly Route[]): string[] {
  return withHead([...new Set(routes.map((r) => r.method))]).sort();
}

/** HEAD is served wherever GET is (by the GET route). */
function withHead(methods: string[]): string[] {
  return methods.includes('GET') ? [...methods, 'HEAD'] : methods;
}
