// What a SQLite error means to a caller: trouble that may pass (503, retry) or a real failure.
import { storeUnavailable } from '../store.ts';

// Primary result codes of trouble that may pass: busy, locked, out of memory, read-only, I/O, full,
// cannot open, WAL protocol.
const TRANSIENT_CODES = new Set([5, 6, 7, 8, 10, 13, 14, 15]);

/** The file moved away while open: trouble SQLite itself cannot see, which may pass all the same. */
export function fileGone(): Error {
  return Object.assign(new Error('database file moved or deleted'), {
    errstr: 'the database file was moved or deleted while open; restore it or restart the service',
    passing: true,
  });
}

export function isTransient(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if ('passing' in err && err.passing === true) return true;
  return 'errcode' in err && typeof err.errcode === 'number' && TRANSIENT_CODES.has(err.errcode & 0xff);
}

/** Why, in the operator's words: SQLite's own description where it has one. */
export function reason(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'errstr' in err && typeof err.errstr === 'string') return err.errstr;
  return err instanceof Error ? err.message : String(err);
}

/** Trouble that may pass becomes StoreUnavailable (503 with Retry-After); anything else stays as it is. */
export function toError(err: unknown): Error {
  if (isTransient(err)) return storeUnavailable(`database unavailable: ${reason(err)}`, err);
  return err instanceof Error ? err : new Error(String(err));
}
