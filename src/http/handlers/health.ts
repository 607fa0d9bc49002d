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

/** The readiness checks, shared by GET /health/ready and the `service_ready` metric. */
export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  let database = 'ok';
  try {
    await deps.store.ping();
  } catch (err) {
    database = `unavailable: ${err instanceof Error ? err.message : 'unknown error'}`;
  }
  const checks = {
    database,
    secret: deps.secretConfigured ? 'ok' : 'missing: set WEBHOOK_SECRET, WEBHOOK_SECRET_FILE or STANDARD_WEBHOOKS_SECRET',
    shutdown: deps.draining() ? 'in progress' : 'no',
  };
  return { ready: database === 'ok' && deps.secretConfigured && !deps.draining(), checks };
}

/** GET /health/ready: 200 only when the database answers on its schema, a secret is set and we are not stopping. */
export function createReadyHandler(deps: ReadinessDeps): () => Promise<Reply> {
  return async () => {
    const { ready, checks } = await checkReadiness(deps);
    return json(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
  };
}
