import type { Registry } from './metrics.ts';

/** Every outcome of POST /webhook, each a value of webhook_requests_total{result}. */
export const WEBHOOK_RESULTS = [
  'created',
  'duplicate',
  'invalid_signature',
  'validation_error',
  'payload_too_large',
  'secret_not_configured',
  'store_unavailable',
  'error',
] as const;
export type WebhookResult = (typeof WEBHOOK_RESULTS)[number];

/** Seconds; spans a sub-millisecond in-memory answer to a multi-second stall. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type ServiceMetrics = {
  httpRequest(event: { path: string; status: number; seconds: number }): void;
  webhookResult(result: WebhookResult): void;
};

export function createServiceMetrics(registry: Registry): ServiceMetrics {
  const requests = registry.counter('http_requests_total', 'HTTP requests answered, by matched route and status.', [
    'path',
    'status',
  ]);
  const duration = registry.histogram(
    'http_request_duration_seconds',
    'Time from request start to response written, by matched route.',
    LATENCY_BUCKETS,
    ['path'],
  );
  const webhook = registry.counter('webhook_requests_total', 'POST /webhook outcomes.', ['result']);
  // Every outcome exists from the start, so rate() and alerts work before the first occurrence.
  for (const result of WEBHOOK_RESULTS) webhook.inc({ result }, 0);

  return {
    httpRequest({ path, status, seconds }) {
      requests.inc({ path, status: String(status) });
      duration.observe({ path }, seconds);
    },
    webhookResult(result) {
      webhook.inc({ result });
    },
  };
}
