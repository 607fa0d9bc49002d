// What a PostgreSQL or driver error means for a caller: trouble that may pass (the HTTP layer answers 503
// with Retry-After) or a real failure (500). Decided by SQLSTATE class or code, never by message text.
import { storeUnavailable } from '../store.ts';

/** SQLSTATE classes that are transient as a whole: connection exception, insufficient resources. */
const TRANSIENT_CLASSES = new Set(['08', '53']);
const TRANSIENT_STATES = new Set([
  '57P01', // admin_shutdown: the server is stopping or restarting
  '57P02', // crash_shutdown: another backend crashed, the server resets
  '57P03', // cannot_connect_now: starting up, shutting down, recovering
  '57014', // query_canceled: our statement_timeout; the server is overloaded, a retry may pass
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available: our lock_timeout
  '25006', // read_only_sql_transaction: the primary failed over to a standby, or was made read-only
  '58030', // io_error on the server
]);
/** Node socket errors and the driver's own connection errors. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  // A Kubernetes Service name resolves only once it has endpoints; start-up still fails after its wait.
  'ENOTFOUND',
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

function code(err: unknown): string | null {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : null;
}

/** Errors that say the server cannot be reached at all (not one statement's trouble): fail fast until it answers. */
const UNREACHABLE_STATES = new Set(['57P01', '57P02', '57P03']);

export function isUnreachable(err: unknown): boolean {
  const c = code(err);
  if (c === null) return false;
  if (c.startsWith('08') || UNREACHABLE_STATES.has(c)) return true;
  return TRANSIENT_CODES.has(c);
}

export function isTransient(err: unknown): boolean {
  const c = code(err);
  if (c === null) return false;
  if (/^[0-9A-Z]{5}$/.test(c) && (TRANSIENT_CLASSES.has(c.slice(0, 2)) || TRANSIENT_STATES.has(c))) return true;
  return TRANSIENT_CODES.has(c);
}

/** The error a caller sees: transient trouble becomes storeUnavailable, anything else passes as it is. */
export function translate(err: unknown): unknown {
  if (!isTransient(err)) return err;
  const c = code(err);
  return storeUnavailable(`PostgreSQL unavailable (${c}): ${err instanceof Error ? err.message : String(err)}`, err);
}
