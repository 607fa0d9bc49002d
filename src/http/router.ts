import type { Req } from './request.ts';
import type { Reply } from './response.ts';

export type Handler = (req: Req) => Reply | Promise<Reply>;
export type Route = { method: string; path: string; handler: Handler };

export type Match =
  | { kind: 'found'; route: Route }
  /** The path exists but not for this method: answer 405 with these in `Allow`. */
  | { kind: 'method'; allowed: string[] }
  | null;

/** A flat table of exact paths: seven routes need no pattern matching. HEAD is served by GET routes. */
export function createRouter(routes: readonly Route[]): (method: string, path: string) => Match {
  const byPath = new Map<string, Route[]>();
  for (const r of routes) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r]);

  return (method, path) => {
    const candidates = byPath.get(path);
    if (!candidates) return null;
    const wanted = method === 'HEAD' ? 'GET' : method;
    const route = candidates.find((r) => r.method === wanted);
    if (route) return { kind: 'found', route };
    return { kind: 'method', allowed: withHead(candidates.map((r) => r.method)) };
  };
}

/** Every method some route serves, HEAD with GET: what `Allow` names for a request no route can take. */
export function servedMethods(routes: readonly Route[]): string[] {
  return withHead([...new Set(routes.map((r) => r.method))]).sort();
}

/** HEAD is served wherever GET is (by the GET route). */
function withHead(methods: string[]): string[] {
  return methods.includes('GET') ? [...methods, 'HEAD'] : methods;
}
