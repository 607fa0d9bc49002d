// What a SQLite error means to a caller: trouble that may pass (503, retry) or a real failure. Errors
// cross the writer thread as plain objects of the same shape.
import { storeUnavailable } from '../store.ts';

// Primary result codes of trouble that may pass: busy, locked, out of memory, read-only, I/O, full,
// cannot open, WAL protocol.
const TRANSIENT_CODES = new Set([5, 6, 7, 8, 10, 13, 14, 15]);

/**
 * The fields of a node:sqlite error that survive a trip between threads. `passing`: trouble SQLite itself
 * cannot see (the file moved away, the writer thread gone), which may pass all the same.
 */
export type SqliteErrorInfo = { message: string; errcode?: number; errstr?: string; passing?: true };

export function errorInfo(err: unknown): SqliteErrorInfo {
  const info: SqliteErrorInfo = { message: err instanceof Error ? err.message : String(err) };
  if (typeof err === 'object' && err !== null) {
    if ('errcode' in err && typeof err.errcode === 'number') info.errcode = err.errcode;
    if ('errstr' in err && typeof err.errstr === 'string') info.errstr = err.errstr;
    if ('passing' in err && err.passing === true) info.passing = true;
  }
  return info;
}

export function isTransient(info: SqliteErrorInfo): boolean {
  return info.passing === true || (info.errcode !== undefined && TRANSIENT_CODES.has(info.errcode & 0xff));
}

/** Trouble that may pass becomes StoreUnavailable (503 with Retry-After); anything else stays an error. */
export function toError(info: SqliteErrorInfo): Error {
  if (isTransient(info)) return storeUnavailable(`database unavailable: ${info.errstr ?? info.message}`, info);
  return Object.assign(new Error(info.message), info);
}
