// Every call the PostgreSQL store makes to the server goes through here: counted (pool use), refused at
// once when too many wait, bounded by a deadline, its errors translated (errors.ts: 503 or 500), and held
// back while the server cannot be reached.
import { storeUnavailable } from '../store.ts';
import { isUnreachable, translate } from './errors.ts';

/** Requests waiting for a connection beyond this are refused at once (503) rather than queued for ever. */
export const MAX_WAITING = 500;

export type CallOptions = {
  /** A readiness ping: tries the server even while other calls are held back. */
  probe?: boolean;
  /** Refused (503) when the server has not answered by then; the statement may still finish. */
  deadlineMs?: number;
};

export type Calls = {
  run<T>(fn: () => Promise<T>, options?: CallOptions): Promise<T>;
  /** Calls under way (on a connection or waiting for one). */
  active(): number;
  /** Refuses every later call. */
  close(): void;
};

export function createCalls(poolSize: number): Calls {
  let active = 0;
  let closed = false;
  // While the server cannot be reached, calls do not queue in the driver for its reconnects: one call at a
  // time (or a readiness ping) tries the server, and the calls arriving meanwhile wait for its outcome
  // (bounded by its deadline): refused at once (503) if it failed, sent if it got through.
  let unreachable = false;
  let trial: Promise<boolean> | null = null;

  const run = async <T>(fn: () => Promise<T>, { probe = false, deadlineMs }: CallOptions = {}): Promise<T> => {
    if (closed) throw new Error('store is closed');
    if (active >= poolSize + MAX_WAITING) throw storeUnavailable('PostgreSQL pool saturated: too many requests waiting');
    let settle: ((ok: boolean) => void) | null = null;
    if (unreachable && !probe) {
      if (trial !== null) {
        if (!(await trial)) throw storeUnavailable('PostgreSQL unreachable: retrying');
      } else {
        trial = new Promise<boolean>((resolve) => (settle = resolve));
      }
    }
    active += 1;
    let ok = false;
    try {
      const value = await (deadlineMs === undefined ? fn() : withDeadline(deadlineMs, fn()));
      unreachable = false;
      ok = true;
      return value;
    } catch (err) {
      if (isUnreachable(err)) unreachable = true;
      else ok = true; // the server answered, with an error of its own
      throw translate(err);
    } finally {
      active -= 1;
      if (settle !== null) {
        trial = null;
        (settle as (ok: boolean) => void)(ok);
      }
    }
  };
  return { run, active: () => active, close: () => void (closed = true) };
}

/** The call's answer, or a 503 once `ms` passes without one (the statement may still finish). */
export function withDeadline<T>(ms: number, call: PromiseLike<T>, what = 'PostgreSQL did not answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(storeUnavailable(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(call), late]).finally(() => clearTimeout(timer));
}
