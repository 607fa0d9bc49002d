import { readFile } from 'node:fs/promises';
import type { Reply } from '../response.ts';
import type { Route } from '../router.ts';

/**
 * SPEC "GET /inbox": only this origin may serve the page anything (no inline script or style, no third
 * party), no page may frame it, and it sends no Referer anywhere.
 */
export const INBOX_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** The page's script modules (src/inbox/*.ts, compiled one for one): inbox.js imports the others. */
const MODULES = ['inbox', 'api', 'dom', 'state', 'chart', 'render', 'load', 'live', 'detail', 'export', 'erase'];

/** The page's files, as `make build` leaves them in dist/inbox/: URL path, file name, content type. */
export const FILES: readonly (readonly [string, string, string])[] = [
  ['/inbox', 'index.html', 'text/html; charset=utf-8'],
  ...MODULES.map((m) => [`/inbox/${m}.js`, `${m}.js`, 'text/javascript; charset=utf-8'] as const),
  ['/inbox/inbox.css', 'inbox.css', 'text/css; charset=utf-8'],
  ['/inbox/icon.svg', 'icon.svg', 'image/svg+xml'],
];

// Built, this module is dist/http/handlers/inbox.js and the page dist/inbox/. Run from its sources (the
// tests), it serves the same built files: the browser needs the compiled script, not inbox.ts.
const BUILT = import.meta.url.endsWith('.ts') ? '../../../dist/inbox/' : '../../inbox/';

/** GET /inbox and its assets (page, stylesheet, icon, modules), each read once from disk on first use. */
export function createInboxRoutes(dir: URL = new URL(BUILT, import.meta.url)): Route[] {
  return FILES.map(([path, file, contentType]) => {
    let body: string | null = null;
    const handler = async (): Promise<Reply> => {
      try {
        body ??= await readFile(new URL(file, dir), 'utf8');
      } catch {
        return { status: 503, body: { detail: 'inbox page not built: run make build' }, headers: INBOX_HEADERS };
      }
      return { status: 200, body, contentType, headers: INBOX_HEADERS };
    };
    return { method: 'GET', path, handler };
  });
}

/** The OpenAPI path items of those routes (the document lists every route of the table). */
export function inboxOpenApiPaths(): Record<string, object> {
  return Object.fromEntries(
    FILES.map(([path, file, contentType]) => [
      path,
      {
        get: {
          operationId: path === '/inbox' ? 'inbox' : `inbox_${file.replace(/\W/g, '_')}`,
          summary: path === '/inbox' ? 'The inbox page for people (HTML; see docs/inbox.md)' : `A file of the inbox page (${file})`,
          responses: {
            '200': { description: 'The file.', content: { [contentType]: { schema: { type: 'string' } } } },
            '503': { description: 'The page was not built (`make build`).' },
          },
        },
      },
    ]),
  );
}
