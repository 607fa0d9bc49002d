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

/** GET /health/ready: 200 only when the database answers on its schema, a secret is set and we are not stopping. */
export function createReadyHandler(deps: ReadinessDeps): () => Promise<Reply> {
  return async () => {
    let database = 'ok';
    try {
      await deps.store.ping();
    } catch (err) {
      database = `unavailable: ${err instanceof Error ? err.message : 'unknown error'}`;
    }
    const checks = {
      database,
      secret: deps.secretConfigured ? 'ok' : 'missing: set WEBHOOK_SECRET or WEBHOOK_SECRET_FILE',
      shutdown: deps.draining() ? 'in progress' : 'no',
    };
    const ready = database === 'ok' && deps.secretConfigured && !deps.draining();
    return json(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
  };
}
