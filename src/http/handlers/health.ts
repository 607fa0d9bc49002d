import type { Store } from '../../store/store.ts';
import { json, type Reply } from '../response.ts';

/** GET /health/live: the process serves HTTP. */
export function live(): Reply {
  return json(200, { status: 'ok' });
}

export type ReadinessDeps = {
  store: Store;
  secretConfigured: boolean;
  draining: () => boolean;
};

export type Readiness = { ready: boolean; checks: { database: string; secret: string; shutdown: string } };

export type ReadinessChecks = {
  /** Every check, the database's by the store's ping (on SQLite a read and a write probe): what GET /health/ready answers. */
  check(): Promise<Readiness>;
  /**
   * Ready as far as is known without writing (the `service_ready` metric, read at every scrape): the
   * database answered a read just now, the last full check found it writable, a secret, no shutdown.
   */
  known(databaseAnswered: boolean): boolean;
};

export function createReadiness(deps: ReadinessDeps): ReadinessChecks {
  let lastDatabaseOk = true;
  return {
    async check() {
      let database = 'ok';
      try {
        await deps.store.ping();
      } catch (err) {
        database = `unavailable: ${err instanceof Error ? err.message : 'unknown error'}`;
      }
      lastDatabaseOk = database === 'ok';
      const checks = {
        database,
        secret: deps.secretConfigured ? 'ok' : 'missing: set WEBHOOK_SECRET, WEBHOOK_SECRET_FILE or STANDARD_WEBHOOKS_SECRET',
        shutdown: deps.draining() ? 'in progress' : 'no',
      };
      return { ready: lastDatabaseOk && deps.secretConfigured && !deps.draining(), checks };
    },
    known: (databaseAnswered) => databaseAnswered && lastDatabaseOk && deps.secretConfigured && !deps.draining(),
  };
}

/** GET /health/ready: 200 only when the database answers on its schema, a secret is set and we are not stopping. */
export function createReadyHandler(readiness: Pick<ReadinessChecks, 'check'>): () => Promise<Reply> {
  return async () => {
    const { ready, checks } = await readiness.check();
    return json(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
  };
}
