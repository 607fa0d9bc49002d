import { METRICS_CONTENT_TYPE, type Registry } from '../../observability/metrics.ts';
import type { ServiceMetrics } from '../../observability/service-metrics.ts';
import type { Store } from '../../store/store.ts';
import type { Reply } from '../response.ts';
import type { Readiness } from './health.ts';

export type MetricsDeps = {
  registry: Registry;
  metrics: ServiceMetrics;
  store: Store;
  readiness: () => Promise<Readiness>;
};

/** GET /metrics: reads the store and readiness first (both async), then renders every family at once. */
export function createMetricsHandler(deps: MetricsDeps): () => Promise<Reply> {
  return async () => {
    const [readiness, messagesStored] = await Promise.all([
      deps.readiness(),
      // A database in trouble must not fail the scrape: the gauges say NaN and service_ready says 0.
      deps.store.stats(0).then(
        (s) => s.totalMessages,
        () => NaN,
      ),
    ]);
    const load = deps.store.load();
    deps.metrics.scraped({ ready: readiness.ready, messagesStored, pendingInserts: load.pendingInserts, ...(load.pool && { pool: load.pool }) });
    return { status: 200, body: deps.registry.render(), contentType: METRICS_CONTENT_TYPE };
  };
}
