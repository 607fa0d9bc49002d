import type { Server } from 'node:http';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { METRICS_CONTENT_TYPE, type Registry } from '../observability/metrics.ts';
import type { ServiceMetrics } from '../observability/service-metrics.ts';
import type { Store } from '../store/store.ts';
import { createReadyHandler, live } from './handlers/health.ts';
import { createMessagesHandler } from './handlers/messages.ts';
import { createStatsHandler } from './handlers/stats.ts';
import { createWebhookHandler } from './handlers/webhook.ts';
import { createRouter, type Route } from './router.ts';
import { createHttpServer, type ServerOptions } from './server.ts';

export type AppDeps = {
  config: Pick<Config, 'secrets' | 'maxBodyBytes'>;
  store: Store;
  logger: Logger;
  registry: Registry;
  metrics: ServiceMetrics;
  timeouts?: ServerOptions['timeouts'];
};

export type App = {
  server: Server;
  /** Readiness turns 503 and responses close their connections from now on. */
  startDraining(): void;
};

/** The route table: the whole public surface of the service in one place. */
export function createApp(deps: AppDeps): App {
  const { config, store, logger, registry, metrics } = deps;
  let draining = false;
  const isDraining = (): boolean => draining;

  const routes: Route[] = [
    {
      method: 'POST',
      path: '/webhook',
      handler: createWebhookHandler({ store, secrets: config.secrets, onResult: metrics.webhookResult }),
    },
    { method: 'GET', path: '/messages', handler: createMessagesHandler(store) },
    { method: 'GET', path: '/stats', handler: createStatsHandler(store) },
    { method: 'GET', path: '/health/live', handler: live },
    {
      method: 'GET',
      path: '/health/ready',
      handler: createReadyHandler({ store, secretConfigured: config.secrets.length > 0, draining: isDraining }),
    },
    {
      method: 'GET',
      path: '/metrics',
      handler: () => ({ status: 200, body: registry.render(), contentType: METRICS_CONTENT_TYPE }),
    },
  ];

  const server = createHttpServer({
    match: createRouter(routes),
    logger,
    maxBodyBytes: config.maxBodyBytes,
    observe: metrics.httpRequest,
    draining: isDraining,
    ...(deps.timeouts && { timeouts: deps.timeouts }),
  });
  return {
    server,
    startDraining() {
      draining = true;
    },
  };
}
