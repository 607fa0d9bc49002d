import { METRICS_CONTENT_TYPE, type Registry } from '../../observability/metrics.ts';
import type { ServiceMetrics } from '../../observability/service-metrics.ts';
import type { Store } from '../../store/store.ts';
import type { Reply } from '../response.ts';
import type { ReadinessChecks } from './health.ts';

export type MetricsDeps = {
  registry: Registry;
  metrics: ServiceMetrics;
  store: Store;
  readiness: Pick<ReadinessChecks, 'known'>;
};

/**
 * GET /metrics: one read of the store (no write probe: a scrape has no side effect on the database),
 * then every family rendered at once.
 */
export function createMetricsHandler(deps: MetricsDeps): () => Promise<Reply> {
  return async () => {
    // A database in trouble must not fail the scrape: the gauges say NaN and service_ready says 0.
    const messagesStored = await deps.store.stats(0).then(
      (s) => s.totalMessages,
      () => NaN,
    );
    const ready = deps.readiness.known(!Number.isNaN(messagesStored));
    const load = deps.store.load();
    deps.metrics.scraped({ ready, messagesStored, pendingInserts: load.pendingInserts, ...(load.pool && { pool: load.pool }) });
    return { status: 200, body: deps.registry.render(), contentType: METRICS_CONTENT_TYPE };
  };
}
