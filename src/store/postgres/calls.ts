// Every call the PostgreSQL store makes goes through here: counted (the pool's use), refused at once when
// too many wait, bounded by a deadline, and its error mapped: trouble that may pass becomes
// storeUnavailable (503 with Retry-After), anything else passes as it is (500).
import { storeUnavailable } from '../store.ts';

/** Requests waiting for a connection beyond this are refused at once (503) rather than queued for ever. */
const MAX_WAITING = 500;

// By SQLSTATE, never by message text: connection exception (08), insufficient resources (53), the server
// stopping, crashing or starting (57P0x), our statement_timeout (57014) or lock_timeout (55P03),
// serialization failure, deadlock, a read-only server after a failover (25006), an I/O error there.
const TRANSIENT_STATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[123]|57014|55P03|40001|40P01|25006|58030)$/;
// Socket errors and the driver's own. ENOTFOUND too: a Kubernetes Service resolves only once it has endpoints.
const TRANSIENT_CODE = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND|CONNECT_TIMEOUT|CONNECTION_(CLOSED|DESTROYED))$/;

const codeOf = (err: unknown): string => (typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '');

export function isTransient(err: unknown): boolean {
  return TRANSIENT_STATE.test(codeOf(err)) || TRANSIENT_CODE.test(codeOf(err));
}

export function translate(err: unknown): unknown {
  if (!isTransient(err)) return err;
  return storeUnavailable(`PostgreSQL unavailable (${codeOf(err)}): ${err instanceof Error ? err.message : String(err)}`, err);
}

/** The call's answer, or a 503 once `ms` passes without one (the statement may still finish). */
export function withDeadline<T>(ms: number, call: PromiseLike<T>, what = 'PostgreSQL did not answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(storeUnavailable(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(call), late]).finally(() => clearTimeout(timer));
}

export type Calls = {
  run<T>(fn: () => Promise<T>, deadlineMs?: number): Promise<T>;
  /** Calls under way (on a connection or waiting for one). */
  active(): number;
  /** Refuses every later call. */
  close(): void;
};

export function createCalls(poolSize: number): Calls {
  let active = 0;
  let closed = false;
  const run = async <T>(fn: () => Promise<T>, deadlineMs?: number): Promise<T> => {
    if (closed) throw storeUnavailable('store is closed');
    if (active >= poolSize + MAX_WAITING) throw storeUnavailable('PostgreSQL pool saturated: too many requests waiting');
    active += 1;
    try {
      return await (deadlineMs === undefined ? fn() : withDeadline(deadlineMs, fn()));
    } catch (err) {
      throw translate(err);
    } finally {
      active -= 1;
    }
  };
  return { run, active: () => active, close: () => void (closed = true) };
}
