import type { Server } from 'node:http';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { AuthEndpoint, ServiceMetrics } from '../observability/service-metrics.ts';
import type { Store } from '../store/store.ts';
import { requireBearer } from './auth.ts';
import { createReadiness, createReadyHandler, live } from './handlers/health.ts';
import { createEraseHandlers } from './handlers/erase.ts';
import { createExportHandler } from './handlers/export.ts';
import { createInboxRoutes } from './handlers/inbox.ts';
import { createMessagesHandler } from './handlers/messages.ts';
import { createMetricsHandler } from './handlers/metrics.ts';
import { createStatsHandler } from './handlers/stats.ts';
import { createStreamRoute, type StreamOptions } from './handlers/stream.ts';
import { createWebhookHandler } from './handlers/webhook.ts';
import { createWhatsAppHandler, createWhatsAppHandshakeHandler } from './handlers/whatsapp.ts';
import { createOpenApiDocument, type About } from './openapi.ts';
import { json } from './response.ts';
import { createRouter, servedMethods, type Route } from './router.ts';
import { createHttpServer, type ServerOptions } from './server.ts';

export type AppDeps = {
  config: Pick<Config, 'secrets' | 'maxBodyBytes' | 'standardKeys' | 'toleranceSeconds' | 'readTokens' | 'metricsTokens' | 'adminTokens' | 'whatsapp'>;
  store: Store;
  logger: Logger;
  registry: Registry;
  metrics: ServiceMetrics;
  /** Name and version for GET / and the OpenAPI document (package.json, read once at start). */
  about: About;
  timeouts?: ServerOptions['timeouts'];
  /** The time Standard Webhooks timestamps are checked against (tests inject one). */
  clock?: () => Date;
  /** GET /messages/stream's limits (tests shorten them). */
  stream?: Partial<StreamOptions>;
};

export type App = {
  server: Server;
  /** Readiness turns 503 and responses close their connections from now on. */
  startDraining(): void;
  /** Every method and path served (HEAD aside), for GET / and the test that keeps the OpenAPI document true. */
  routes: readonly { method: string; path: string }[];
};

/** The route table: the whole public surface of the service in one place. */
export function createApp(deps: AppDeps): App {
  const { config, store, logger, registry, metrics } = deps;
  let draining = false;
  const isDraining = (): boolean => draining;
  const readiness = createReadiness({ store, secretConfigured: config.secrets.length > 0 || config.standardKeys.length > 0, draining: isDraining });
  const openapi = createOpenApiDocument(deps.about);
  const stream = createStreamRoute(store, metrics, deps.stream);
  // SPEC "Read access": the bearer check sits here, in the table, so every guarded route is visible at once.
  const guarded = (tokens: readonly string[], endpoint: AuthEndpoint, handler: Route['handler']): Route['handler'] =>
    requireBearer(tokens, () => metrics.authFailure(endpoint), handler);

  const clock = deps.clock ?? (() => new Date());
  // SPEC "Erasure": admin tokens only (its own check: 403 while none is set, and the audit line names the token).
  const erase = createEraseHandlers({
    store,
    logger,
    adminTokens: config.adminTokens,
    onErased: metrics.erased,
    onAuthFailure: () => metrics.authFailure('erase'),
  });
  const exporter = createExportHandler({ store, clock, onStarted: metrics.exportStarted, onFinished: metrics.exportFinished });

  const routes: Route[] = [
    { method: 'GET', path: '/', handler: () => json(200, index) },
    { method: 'GET', path: '/openapi.json', handler: () => json(200, openapi) },
    {
      method: 'POST',
      path: '/webhook',
      handler: createWebhookHandler({
        store,
        secrets: config.secrets,
        standardKeys: config.standardKeys,
        toleranceSeconds: config.toleranceSeconds,
        clock,
        onResult: metrics.webhookResult,
      }),
    },
    { method: 'GET', path: '/webhook/whatsapp', handler: createWhatsAppHandshakeHandler(config.whatsapp.verifyToken) },
    {
      method: 'POST',
      path: '/webhook/whatsapp',
      handler: createWhatsAppHandler({ store, appSecrets: config.whatsapp.appSecrets, metrics }),
    },
    { method: 'GET', path: '/messages', handler: guarded(config.readTokens, 'messages', createMessagesHandler(store)) },
    { method: 'DELETE', path: '/messages', handler: erase.bySender },
    { method: 'GET', path: '/messages/stream', handler: guarded(config.readTokens, 'stream', stream.handler) },
    { method: 'GET', path: '/messages/export', handler: guarded(config.readTokens, 'export', exporter) },
    { method: 'DELETE', path: '/messages/{message_id}', handler: erase.byId },
    { method: 'GET', path: '/stats', handler: guarded(config.readTokens, 'stats', createStatsHandler(store)) },
    ...createInboxRoutes(),
    { method: 'GET', path: '/health/live', handler: live },
    { method: 'GET', path: '/health/ready', handler: createReadyHandler(readiness) },
    { method: 'GET', path: '/metrics', handler: guarded(config.metricsTokens, 'metrics', createMetricsHandler({ registry, metrics, store, readiness })) },
  ];
  const endpoints = routes.map((r) => ({ method: r.method, path: r.path }));
  const index = { name: deps.about.name, version: deps.about.version, docs: '/openapi.json', endpoints };

  const server = createHttpServer({
    match: createRouter(routes),
    methods: servedMethods(routes),
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
      stream.closeAll();
    },
    routes: endpoints,
  };
}
