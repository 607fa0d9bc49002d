// The parts of the OpenAPI document about signatures and bearer tokens (SPEC: POST /webhook, Read access).

/** The two signature schemes' headers; a request carrying `webhook-signature` is judged by Standard Webhooks alone. */
export const SIGNATURE_HEADERS = [
  {
    name: 'X-Signature',
    in: 'header',
    required: false,
    description:
      'The seed\'s scheme (WEBHOOK_SECRET): hex HMAC-SHA256 of the exact body bytes; any case; `sha256=` prefix accepted. ' +
      'Needed unless the request is signed the Standard Webhooks way.',
    schema: { type: 'string', pattern: '^([Ss][Hh][Aa]256=)?[0-9a-fA-F]{64}$' },
  },
  {
    name: 'webhook-id',
    in: 'header',
    required: false,
    description: 'Standard Webhooks (STANDARD_WEBHOOKS_SECRET): the delivery id, signed with the body.',
    schema: { type: 'string', example: 'msg_p5jXN8AQM9LWM0D4loKWxJek' },
  },
  {
    name: 'webhook-timestamp',
    in: 'header',
    required: false,
    description: 'Standard Webhooks: unix seconds of the attempt; more than WEBHOOK_TOLERANCE_SECONDS (300) from our clock, either way, is a 401.',
    schema: { type: 'string', pattern: '^[0-9]+$' },
  },
  {
    name: 'webhook-signature',
    in: 'header',
    required: false,
    description:
      'Standard Webhooks: space-separated `v1,<base64 HMAC-SHA256>` and `v1a,<base64 Ed25519>` signatures of ' +
      '`webhook-id.webhook-timestamp.body`; one matching any configured key is enough, unknown versions are ignored, ' +
      'and at most 8 distinct v1/v1a entries are checked.',
    schema: { type: 'string', example: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' },
  },
];

export const WEBHOOK_UNAUTHORIZED = {
  description:
    'Signature missing, malformed or wrong: `{"detail":"invalid signature"}`; a Standard Webhooks timestamp outside the ' +
    'tolerance: `{"detail":"timestamp outside tolerance"}`.',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Detail' } } },
};

export const SECURITY_SCHEMES = {
  readToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'One of READ_TOKENS (GET /messages, /messages/stream, /messages/export, /stats). Unset on the service: these endpoints are open.',
  },
  metricsToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'METRICS_TOKEN (GET /metrics). Unset on the service: the endpoint is open.',
  },
  adminToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'One of ADMIN_TOKENS (the DELETE endpoints). Unset on the service: erasure is disabled (403).',
  },
};

/** A token when the service is configured with one, else none (the empty requirement). */
export const readSecurity = [{ readToken: [] }, {}];
export const metricsSecurity = [{ metricsToken: [] }, {}];
export const adminSecurity = [{ adminToken: [] }];

export const NOT_AUTHENTICATED = {
  description: 'A token is configured and the request has no matching `Authorization: Bearer` token: `{"detail":"not authenticated"}`.',
  headers: { 'WWW-Authenticate': { description: 'Always `Bearer`.', schema: { type: 'string', const: 'Bearer' } } },
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Detail' } } },
};
