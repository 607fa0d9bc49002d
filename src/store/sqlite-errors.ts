// What a SQLite error means for a caller: trouble that may pass (answer 503, retry) or a real failure.
// Used on both sides of the writer thread; errors cross it as plain objects of the same shape.

// SQLite primary result codes that describe trouble which may pass: the caller answers 503 and retries.
const TRANSIENT_CODES = new Set([
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  7, // SQLITE_NOMEM
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  15, // SQLITE_PROTOCOL
]);

/** The fields of a node:sqlite error that survive a trip between threads. */
export type SqliteErrorInfo = { message: string; errcode?: number; errstr?: string };

export function sqliteCode(err: unknown): number | null {
  if (typeof err === 'object' && err !== null && 'errcode' in err && typeof err.errcode === 'number') {
    return err.errcode & 0xff;
  }
  return null;
}

export function isTransient(err: unknown): boolean {
  const code = sqliteCode(err);
  return code !== null && TRANSIENT_CODES.has(code);
}

export function describeSqliteError(err: unknown): string {
  return typeof err === 'object' && err !== null && 'errstr' in err ? String(err.errstr) : 'storage error';
}

export function errorInfo(err: unknown): SqliteErrorInfo {
  const info: SqliteErrorInfo = { message: err instanceof Error ? err.message : String(err) };
  if (typeof err === 'object' && err !== null) {
    if ('errcode' in err && typeof err.errcode === 'number') info.errcode = err.errcode;
    if ('errstr' in err && typeof err.errstr === 'string') info.errstr = err.errstr;
  }
  return info;
}

/** Shaped like SQLite's own SQLITE_READONLY_DBMOVED, so it is handled as the transient trouble it is. */
export function fileMoved(): Error {
  return Object.assign(new Error('database file moved or deleted'), {
    errcode: 8 | (4 << 8),
    errstr: 'the database file was moved or deleted while open; restore it or restart the service',
  });
}
