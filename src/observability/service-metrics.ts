import { statSync } from 'node:fs';
import type { Registry } from './metrics.ts';

/** Every outcome of POST /webhook, each a value of webhook_requests_total{result}. */
export const WEBHOOK_RESULTS = [
  'created',
  'duplicate',
  'invalid_signature',
  'stale_timestamp',
  'validation_error',
  'payload_too_large',
  'incomplete_body',
  'secret_not_configured',
  'store_unavailable',
  'error',
  // WhatsApp: a signed envelope with no message to store (statuses only, or only malformed items).
  'accepted',
] as const;
export type WebhookResult = (typeof WEBHOOK_RESULTS)[number];

/** Where a webhook came from: absent for POST /webhook, `whatsapp` for POST /webhook/whatsapp. */
export type WebhookSource = 'whatsapp';

/** What became of each item of a WhatsApp envelope, each a value of whatsapp_items_total{outcome}. */
export const WHATSAPP_ITEM_OUTCOMES = ['created', 'duplicate', 'malformed', 'ignored'] as const;
export type WhatsAppItemOutcome = (typeof WHATSAPP_ITEM_OUTCOMES)[number];
/** Values of whatsapp_statuses_total{status}; any other status Meta sends counts as `other`. */
export const WHATSAPP_STATUSES = ['sent', 'delivered', 'read', 'failed', 'deleted', 'other'] as const;

/** The endpoints a bearer token can guard, each a value of auth_failures_total{endpoint}. */
export const AUTH_ENDPOINTS = ['messages', 'stats', 'metrics', 'export', 'erase', 'stream'] as const;
export type AuthEndpoint = (typeof AUTH_ENDPOINTS)[number];

/** Why a stream client was turned away or cut off, each a value of stream_clients_dropped_total{reason}. */
export const STREAM_DROP_REASONS = ['too_slow', 'over_capacity'] as const;
export type StreamDropReason = (typeof STREAM_DROP_REASONS)[number];

/** Seconds; spans a sub-millisecond in-memory answer to a multi-second stall. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Rows per group commit. */
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/** Seconds from BEGIN to COMMIT; an fsync on a local disk takes 0.1 to 10 ms. */
export const COMMIT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * What a scrape reads from the store and the readiness checks just before rendering. `pool`: engines with
 * a connection pool (PostgreSQL) report its use.
 */
export type ScrapeSnapshot = { ready: boolean; messagesStored: number; pendingInserts: number; pool?: { busy: number; size: number } };

/** The formats of GET /messages/export, and how an export ended (each a label value). */
export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const EXPORT_ENDS = ['complete', 'disconnected', 'failed'] as const;
export type ExportEnd = (typeof EXPORT_ENDS)[number];

export type ServiceMetrics = {
  httpRequest(event: { path: string; status: number; seconds: number }): void;
  webhookResult(result: WebhookResult, source?: WebhookSource): void;
  /** WhatsApp: items of one envelope by outcome, and its statuses by status. */
  whatsappItems(outcome: WhatsAppItemOutcome, n: number): void;
  /** `status` as Meta sent it; bounded to WHATSAPP_STATUSES here, so senders cannot grow the series. */
  whatsappStatuses(status: string, n: number): void;
  authFailure(endpoint: AuthEndpoint): void;
  commit(rows: number, seconds: number): void;
  pruned(rows: number): void;
  erased(rows: number): void;
  exportStarted(format: ExportFormat): void;
  exportFinished(format: ExportFormat, end: ExportEnd): void;
  scraped(snapshot: ScrapeSnapshot): void;
  /** GET /messages/stream: +1 when one opens, -1 when it ends. */
  streamsOpen(delta: 1 | -1): void;
  streamEvents(n: number): void;
  streamDropped(reason: StreamDropReason): void;
};

export type ServiceMetricsOptions = {
  /** The SQLite file; its size and its WAL's are exported. Omitted or ':memory:': size 0. */
  databasePath?: string;
};

export function createServiceMetrics(registry: Registry, options: ServiceMetricsOptions = {}): ServiceMetrics {
  // One group of families a function, registered in this order (the order /metrics lists them in).
  return {
    ...httpMetrics(registry),
    ...ingestMetrics(registry),
    ...storeMetrics(registry, options),
    ...exportMetrics(registry),
    ...streamMetrics(registry),
  };
}

function httpMetrics(registry: Registry): Pick<ServiceMetrics, 'httpRequest'> {
  const requests = registry.counter('http_requests_total', 'HTTP requests answered, by matched route and status.', ['path', 'status']);
  const duration = registry.histogram('http_request_duration_seconds', 'Time from request start to response written, by matched route.', LATENCY_BUCKETS, [
    'path',
  ]);
  return {
    httpRequest({ path, status, seconds }) {
      requests.inc({ path, status: String(status) });
      duration.observe({ path }, seconds);
    },
  };
}

/** What senders and readers are told: webhook outcomes, WhatsApp items and statuses, refused tokens. */
function ingestMetrics(registry: Registry): Pick<ServiceMetrics, 'webhookResult' | 'whatsappItems' | 'whatsappStatuses' | 'authFailure'> {
  const webhook = registry.counter('webhook_requests_total', 'POST /webhook outcomes; source="whatsapp" for POST /webhook/whatsapp.', [
    'result',
    'source',
  ]);
  // Every outcome exists from the start, so rate() and alerts work before the first occurrence.
  for (const result of WEBHOOK_RESULTS) webhook.inc({ result }, 0);
  for (const result of WEBHOOK_RESULTS) webhook.inc({ result, source: 'whatsapp' }, 0);
  const whatsappItems = registry.counter(
    'whatsapp_items_total',
    'Items of WhatsApp envelopes: messages created or duplicate, malformed (logged, not stored), changes of other fields ignored.',
    ['outcome'],
  );
  for (const outcome of WHATSAPP_ITEM_OUTCOMES) whatsappItems.inc({ outcome }, 0);
  const whatsappStatuses = registry.counter('whatsapp_statuses_total', 'Delivery statuses in WhatsApp envelopes (counted, not stored).', ['status']);
  for (const status of WHATSAPP_STATUSES) whatsappStatuses.inc({ status }, 0);
  const authFailures = registry.counter('auth_failures_total', 'Requests to a token-guarded endpoint refused for a missing or wrong bearer token.', [
    'endpoint',
  ]);
  for (const endpoint of AUTH_ENDPOINTS) authFailures.inc({ endpoint }, 0);
  return {
    webhookResult(result, source) {
      webhook.inc(source === undefined ? { result } : { result, source });
    },
    whatsappItems(outcome, n) {
      whatsappItems.inc({ outcome }, n);
    },
    whatsappStatuses(status, n) {
      whatsappStatuses.inc({ status: WHATSAPP_STATUSES.find((s) => s === status) ?? 'other' }, n);
    },
    authFailure(endpoint) {
      authFailures.inc({ endpoint });
    },
  };
}

/** The database: group commits, what a scrape reads of it, retention, erasure, the file's size. */
function storeMetrics(registry: Registry, options: ServiceMetricsOptions): Pick<ServiceMetrics, 'commit' | 'pruned' | 'erased' | 'scraped'> {
  const batchSize = registry.histogram('store_commit_batch_size', 'Messages written per group-commit transaction.', BATCH_SIZE_BUCKETS);
  const commitDuration = registry.histogram('store_commit_duration_seconds', 'Time from BEGIN to a durable COMMIT of one group-commit transaction.', COMMIT_BUCKETS);
  // Set by `scraped` just before each render, so both are as fresh as the scrape itself.
  let snapshot: ScrapeSnapshot = { ready: false, messagesStored: NaN, pendingInserts: NaN };
  registry.gauge('service_ready', '1 when the database answers reads, the last readiness check found it writable (SQLite) or answering (PostgreSQL), a secret is set and no shutdown is under way; else 0.', () =>
    snapshot.ready ? 1 : 0,
  );
  registry.gauge('messages_stored', 'Messages in the database (NaN when the database does not answer).', () => snapshot.messagesStored);
  registry.gauge('store_pending_inserts', 'Inserts accepted and waiting for their group commit; grows when the database cannot keep up.', () => snapshot.pendingInserts);
  // 0 on SQLite, which has no pool. Busy at the size for long means requests are queueing for a connection.
  registry.gauge('store_pool_connections_busy', 'PostgreSQL: connections of the pool running a statement (0 without a pool).', () => snapshot.pool?.busy ?? 0);
  registry.gauge('store_pool_connections', 'PostgreSQL: the most connections the pool opens (0 without a pool).', () => snapshot.pool?.size ?? 0);
  const pruned = registry.counter('messages_pruned_total', 'Messages deleted by retention (RETENTION_DAYS).', []);
  const erased = registry.counter('messages_erased_total', 'Messages deleted by erasure requests (DELETE /messages).', []);
  const path = options.databasePath;
  registry.gauge('database_size_bytes', 'Size of the SQLite database file plus its write-ahead log, in bytes.', () =>
    path === undefined || path === ':memory:' ? 0 : fileSize(path) + fileSize(`${path}-wal`),
  );
  return {
    commit(rows, seconds) {
      batchSize.observe({}, rows);
      commitDuration.observe({}, seconds);
    },
    pruned(rows) {
      pruned.inc({}, rows);
    },
    erased(rows) {
      erased.inc({}, rows);
    },
    scraped(next) {
      snapshot = next;
    },
  };
}

function exportMetrics(registry: Registry): Pick<ServiceMetrics, 'exportStarted' | 'exportFinished'> {
  const started = registry.counter('exports_started_total', 'GET /messages/export responses begun, by format.', ['format']);
  const finished = registry.counter(
    'exports_finished_total',
    'GET /messages/export responses ended, by format and how: complete, disconnected (the client left first) or failed.',
    ['format', 'end'],
  );
  for (const format of EXPORT_FORMATS) {
    started.inc({ format }, 0);
    for (const end of EXPORT_ENDS) finished.inc({ format, end }, 0);
  }
  return {
    exportStarted(format) {
      started.inc({ format });
    },
    exportFinished(format, end) {
      finished.inc({ format, end });
    },
  };
}

function streamMetrics(registry: Registry): Pick<ServiceMetrics, 'streamsOpen' | 'streamEvents' | 'streamDropped'> {
  let open = 0;
  registry.gauge('streams_open', 'GET /messages/stream connections open now.', () => open);
  const events = registry.counter('stream_events_sent_total', 'Messages sent as events to GET /messages/stream clients.', []);
  const dropped = registry.counter(
    'stream_clients_dropped_total',
    'Stream clients cut off for not reading (too_slow) or refused with 503 above the cap on streams (over_capacity).',
    ['reason'],
  );
  for (const reason of STREAM_DROP_REASONS) dropped.inc({ reason }, 0);
  return {
    streamsOpen(delta) {
      open += delta;
    },
    streamEvents(n) {
      events.inc({}, n);
    },
    streamDropped(reason) {
      dropped.inc({ reason });
    },
  };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // No WAL yet (or after a checkpoint that removed it) means zero bytes, not an error.
  }
}
