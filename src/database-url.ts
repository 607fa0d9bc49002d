// DATABASE_URL's grammar: which engine, which file or server, and how the URL may be quoted in a log.

export type Database = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

/** A SQLite URL (parseDatabaseUrl) or a PostgreSQL one: `postgres://` or `postgresql://`, parsed by URL. */
export function parseDatabase(url: string): Database | null {
  if (/^postgres(ql)?:\/\//.test(url)) {
    if (url.trim() !== url) return null;
    try {
      const parsed = new URL(url);
      return parsed.hostname === '' && !parsed.searchParams.has('host') ? null : { kind: 'postgres', url };
    } catch {
      return null;
    }
  }
  const path = parseDatabaseUrl(url);
  return path === null ? null : { kind: 'sqlite', path };
}

/**
 * The URL with its passwords hidden, for logs and error messages (any scheme: a mistyped one is quoted
 * back): everything from the first `:` of the user part to the URL's last `@`, since a password may hold
 * an `@`, a `/`, a `?` or a `#` an operator did not percent-encode; and a `password` parameter.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#]*:)[^]*@/i, '$1***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/** What the logs may say about the database: a SQLite path, or a PostgreSQL URL without its password. */
export function describeDatabase(database: Database): string {
  return database.kind === 'sqlite' ? database.path : redactUrl(database.url);
}

/** `sqlite:///rel/path` -> `rel/path`; `sqlite:////abs/path` -> `/abs/path`; `sqlite:///:memory:` -> `:memory:`. */
export function parseDatabaseUrl(url: string): string | null {
  const prefix = 'sqlite:///';
  // A stray space or newline (a copied value, a quoted .env line) would name another file: refused.
  if (!url.startsWith(prefix) || url.trim() !== url) return null;
  const path = url.slice(prefix.length);
  if (path === '' || path === '/' || path.includes('\0') || path.includes('?')) return null;
  return path;
}
