import { DEFAULT_LIMIT, MAX_LIMIT } from '../domain/list-query.ts';
import { MAX_TEXT_LENGTH } from '../domain/message.ts';
import { inboxOpenApiPaths } from './handlers/inbox.ts';
import { metricsSecurity, readSecurity, SECURITY_SCHEMES, SIGNATURE_HEADERS, WEBHOOK_UNAUTHORIZED } from './openapi-auth.ts';
import { ERASE_MESSAGE, ERASE_SENDER, EXPORT_MESSAGES } from './openapi-erasure.ts';
import { jsonBody, ref, respond, responses, RETRY_AFTER, schemas } from './openapi-schemas.ts';
import { WHATSAPP_PATH } from './openapi-whatsapp.ts';

export type About = { name: string; version: string };

/** The OpenAPI 3.1 description of every route in the table (test/http/openapi.test.ts keeps the two in step). */
export function createOpenApiDocument(about: About): Readonly<Record<string, unknown>> {
  return {
    openapi: '3.1.0',
    info: {
      title: about.name,
      version: about.version,
      description:
        'Receives signed messages (X-Signature HMAC-SHA256, or Standard Webhooks v1/v1a), stores each exactly once (SQLite, or PostgreSQL for several replicas), and lists, searches and counts them. ' +
        'Unknown paths answer `404 {"detail":"not found"}`; a known path with another method answers ' +
        '`405 {"detail":"method not allowed"}` with an `Allow` header. HEAD works wherever GET does. ' +
        'A request with more than one `Authorization` header answers `400` on every path.',
    },
    // One operation per route, each defined below on its own.
    paths: withRequestId({
      '/': { get: INDEX },
      '/openapi.json': { get: OPENAPI },
      '/webhook': { post: RECEIVE_WEBHOOK },
      '/webhook/whatsapp': WHATSAPP_PATH,
      '/messages': { get: LIST_MESSAGES, delete: ERASE_SENDER },
      '/messages/export': { get: EXPORT_MESSAGES },
      '/messages/{message_id}': { delete: ERASE_MESSAGE },
      '/messages/stream': { get: STREAM_MESSAGES },
      '/stats': { get: STATS },
      ...inboxOpenApiPaths(),
      '/health/live': { get: LIVE },
      '/health/ready': { get: READY },
      '/metrics': { get: METRICS },
    }),
    components: {
      schemas: { ...schemas, Readiness: READINESS },
      responses,
      securitySchemes: SECURITY_SCHEMES,
      parameters: { RequestId: REQUEST_ID_PARAMETER },
    },
  };
}

const REQUEST_ID_HEADER = {
  'X-Request-ID': {
    description: 'The caller\'s X-Request-ID when well formed (1 to 128 visible ASCII characters), else a new UUID.',
    schema: { type: 'string' },
  },
};

const REQUEST_ID_PARAMETER = {
  name: 'X-Request-ID',
  in: 'header',
  required: false,
  description: 'Kept for tracing (logged, echoed) when 1 to 128 visible ASCII characters; otherwise replaced.',
  schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$' },
};

/** A 200 with a JSON body, echoing X-Request-ID. */
const ok = (description: string, schema: unknown): object => ({ ...jsonBody(description, schema), headers: REQUEST_ID_HEADER });

const INDEX = {
  operationId: 'index',
  summary: 'Service name, version and links to the endpoints',
  responses: {
    '200': ok('About this service.', {
      type: 'object',
      required: ['name', 'version', 'docs', 'endpoints'],
      properties: {
        name: { type: 'string' },
        version: { type: 'string' },
        docs: { type: 'string', const: '/openapi.json' },
        endpoints: {
          type: 'array',
          items: { type: 'object', required: ['method', 'path'], properties: { method: { type: 'string' }, path: { type: 'string' } } },
        },
      },
    }),
    '500': respond('InternalError'),
  },
};

const OPENAPI = {
  operationId: 'openapi',
  summary: 'This document',
  responses: { '200': ok('OpenAPI 3.1 document.', { type: 'object' }), '500': respond('InternalError') },
};

const RECEIVE_WEBHOOK = {
  operationId: 'receiveWebhook',
  summary: 'Store a signed message (exactly once)',
  description:
    'Checks run in this order and the first that fails answers: size (413), secret configured (503), ' +
    'signature (401), body (422). A repeated `message_id` answers 200 and keeps the first copy.',
  parameters: SIGNATURE_HEADERS,
  requestBody: { required: true, content: { 'application/json': { schema: ref('WebhookMessage') } } },
  responses: {
    '200': ok('Stored now, or already stored (duplicate).', { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } }),
    '401': WEBHOOK_UNAUTHORIZED,
    '413': jsonBody('Body larger than MAX_BODY_BYTES: `{"detail":"payload too large"}`.', ref('Detail')),
    '422': jsonBody('Body not a JSON object, fields invalid, or a field given twice; every problem is listed.', ref('ValidationError')),
    '500': respond('InternalError'),
    '503': {
      ...jsonBody('No secret configured, or the database is locked, full, read-only or unreachable; nothing stored.', ref('Detail')),
      headers: RETRY_AFTER,
    },
  },
};

const LIST_PARAMETERS = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT } },
  { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 } },
  {
    name: 'from',
    in: 'query',
    description: 'Exact sender; a leading space followed by digits is read as `+` (an unencoded `+`).',
    schema: { type: 'string' },
  },
  { name: 'since', in: 'query', description: 'Messages at or after this instant.', schema: ref('Timestamp') },
  {
    name: 'q',
    in: 'query',
    description: 'Case-insensitive substring of `text`; `%` and `_` are literal.',
    schema: { type: 'string', maxLength: MAX_TEXT_LENGTH },
  },
  {
    name: 'cursor',
    in: 'query',
    description: 'Opaque position from a previous answer\'s `next_cursor`: the page starts after that message in the requested order (keyset paging); `offset` counts from there.',
    schema: { type: 'string' },
  },
  {
    name: 'order',
    in: 'query',
    description: '`desc`: newest first, the exact reverse of the ascending order. Repeat it with `cursor`, as the filters.',
    schema: { type: 'string', enum: ['asc', 'desc'], default: 'asc' },
  },
];

const LIST_MESSAGES = {
  operationId: 'listMessages',
  summary: 'Page through messages ordered by the instant of `ts`, then `message_id` (ascending, or with `order=desc` newest first)',
  security: readSecurity,
  parameters: LIST_PARAMETERS,
  responses: {
    '200': ok('One page and the total of all matches.', {
      type: 'object',
      required: ['data', 'total', 'limit', 'offset', 'next_cursor'],
      properties: {
        data: { type: 'array', items: ref('Message') },
        total: { type: 'integer', minimum: 0 },
        limit: { type: 'integer' },
        offset: { type: 'integer' },
        next_cursor: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null when no message follows.' },
      },
    }),
    '401': respond('NotAuthenticated'),
    '422': respond('QueryInvalid'),
    '500': respond('InternalError'),
    '503': respond('StoreUnavailable'),
  },
};

const STREAM_MESSAGES = {
  operationId: 'streamMessages',
  summary: 'Follow new messages live: server-sent events in the order they are stored',
  description:
    'One event per message stored after the stream starts, in arrival order (not `ts` order), never twice: `id:` an opaque position, ' +
    '`data:` the message as in `/messages`. Resume with `Last-Event-ID` (or `after`) without gap or repeat. A comment line at least every 15 s. ' +
    'A client that stops reading is disconnected; above the cap on streams new ones get 503. Shutdown ends every stream.',
  security: readSecurity,
  parameters: [
    ...LIST_PARAMETERS.filter((p) => p.name === 'from' || p.name === 'q'),
    { name: 'after', in: 'query', required: false, description: 'Start after this event id (an `id:` this service sent).', schema: { type: 'string' } },
    { name: 'Last-Event-ID', in: 'header', required: false, description: 'As `after`; wins over it (EventSource sends it when it reconnects).', schema: { type: 'string' } },
  ],
  responses: {
    '200': {
      description: 'The stream: `id: <position>` and `data: <message JSON>` lines, a blank line after each event; `:` comment lines as heartbeats.',
      headers: REQUEST_ID_HEADER,
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    },
    '401': respond('NotAuthenticated'),
    '422': respond('QueryInvalid'),
    '500': respond('InternalError'),
    '503': { ...jsonBody('Too many streams open, shutting down, or storage unavailable; retry after `Retry-After`.', ref('Detail')), headers: RETRY_AFTER },
  },
};

const STATS = {
  operationId: 'stats',
  summary: 'Totals, the top 10 senders, first and last timestamps',
  security: readSecurity,
  responses: {
    '200': ok('Counts over all stored messages.', {
      type: 'object',
      required: ['total_messages', 'senders_count', 'messages_per_sender', 'first_message_ts', 'last_message_ts'],
      properties: {
        total_messages: { type: 'integer', minimum: 0 },
        senders_count: { type: 'integer', minimum: 0 },
        messages_per_sender: {
          type: 'array',
          maxItems: 10,
          items: { type: 'object', required: ['from', 'count'], properties: { from: ref('Sender'), count: { type: 'integer', minimum: 1 } } },
        },
        first_message_ts: { type: ['string', 'null'] },
        last_message_ts: { type: ['string', 'null'] },
      },
    }),
    '401': respond('NotAuthenticated'),
    '500': respond('InternalError'),
    '503': respond('StoreUnavailable'),
  },
};

const LIVE = {
  operationId: 'live',
  summary: 'Liveness: the process serves HTTP',
  responses: { '200': ok('Alive.', { type: 'object', properties: { status: { const: 'ok' } } }) },
};

const READY = {
  operationId: 'ready',
  summary: 'Readiness: database answers, secret configured, not shutting down',
  responses: {
    '200': ok('Ready.', ref('Readiness')),
    '503': jsonBody('Not ready; `checks` says which check failed.', ref('Readiness')),
  },
};

const READINESS = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { enum: ['ready', 'not ready'] },
    checks: {
      type: 'object',
      required: ['database', 'secret', 'shutdown'],
      properties: {
        database: { type: 'string', example: 'ok' },
        secret: { type: 'string', example: 'ok' },
        shutdown: { type: 'string', enum: ['no', 'in progress'] },
      },
    },
  },
};

const METRICS = {
  operationId: 'metrics',
  summary: 'Prometheus text exposition format 0.0.4',
  security: metricsSecurity,
  responses: {
    '200': {
      description: 'Every metric family listed in docs/operations.md.',
      content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } },
    },
    '401': respond('NotAuthenticated'),
    '500': respond('InternalError'),
  },
};

/** Every operation accepts X-Request-ID; declared once per path rather than in each operation. */
function withRequestId(paths: Record<string, object>): Record<string, object> {
  const parameters = [{ $ref: '#/components/parameters/RequestId' }];
  return Object.fromEntries(Object.entries(paths).map(([path, item]) => [path, { parameters, ...item }]));
}
