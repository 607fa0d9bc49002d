// The components of the OpenAPI document (openapi.ts) that several operations share.
import { MAX_MESSAGE_ID_LENGTH, MAX_TEXT_LENGTH, MSISDN } from '../domain/message.ts';
import { BUSINESS_SCOPED_ID } from '../domain/whatsapp.ts';
import { NOT_AUTHENTICATED } from './openapi-auth.ts';

// Shapes shared by several operations; `$ref`s below point here.
export const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });
export const respond = (name: string): { $ref: string } => ({ $ref: `#/components/responses/${name}` });
export const jsonBody = (description: string, schema: unknown): object => ({
  description,
  content: { 'application/json': { schema } },
});
/** The header of every 503 the service answers. */
export const RETRY_AFTER = { 'Retry-After': { description: 'Seconds before a retry.', schema: { type: 'string' } } };

const TIMESTAMP_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$';
const MSISDN_PATTERN = MSISDN.source;

export const schemas = {
  Detail: {
    type: 'object',
    required: ['detail'],
    properties: { detail: { type: 'string' } },
    example: { detail: 'invalid signature' },
  },
  ValidationError: {
    type: 'object',
    required: ['detail'],
    properties: {
      detail: {
        type: 'array',
        items: {
          type: 'object',
          required: ['loc', 'msg', 'type'],
          properties: {
            loc: { type: 'array', items: { type: 'string' }, example: ['body', 'from'] },
            msg: { type: 'string' },
            type: { type: 'string', example: 'string_pattern_mismatch' },
          },
        },
      },
    },
  },
  Timestamp: {
    type: 'string',
    pattern: TIMESTAMP_PATTERN,
    description: 'UTC instant `YYYY-MM-DDTHH:MM:SS[.fraction]Z` naming a real calendar time; the fraction has 1 to 9 digits.',
    example: '2025-01-15T10:00:00Z',
  },
  Msisdn: { type: 'string', pattern: MSISDN_PATTERN, example: '+919876543210' },
  Sender: {
    description: 'A phone number, or a WhatsApp business-scoped user id for a sender Meta names only by it.',
    oneOf: [ref('Msisdn'), { type: 'string', pattern: BUSINESS_SCOPED_ID.source, example: 'US.13491208655302741918' }],
  },
  WebhookMessage: {
    type: 'object',
    required: ['message_id', 'from', 'to', 'ts'],
    description: 'Unknown fields are ignored.',
    properties: {
      message_id: { type: 'string', minLength: 1, maxLength: MAX_MESSAGE_ID_LENGTH },
      from: ref('Msisdn'),
      to: ref('Msisdn'),
      ts: ref('Timestamp'),
      text: { type: ['string', 'null'], maxLength: MAX_TEXT_LENGTH },
    },
  },
  Message: {
    type: 'object',
    required: ['message_id', 'from', 'to', 'ts', 'text'],
    properties: {
      message_id: { type: 'string' },
      from: ref('Sender'),
      to: ref('Msisdn'),
      ts: { type: 'string', description: 'Exactly as the sender sent it.' },
      text: { type: ['string', 'null'], description: 'The text, or the caption of a WhatsApp image, video or document.' },
      type: {
        type: 'string',
        description: "Only on WhatsApp messages that are not text: Meta's type (`image`, `reaction`, `location`, ...).",
        example: 'image',
      },
    },
  },
};

export const responses = {
  InternalError: jsonBody('Unexpected failure; the log line carries the request id.', ref('Detail')),
  QueryInvalid: jsonBody('A query parameter is invalid or given twice.', ref('ValidationError')),
  NotAuthenticated: NOT_AUTHENTICATED,
  StoreUnavailable: {
    ...jsonBody('The database is locked, full, read-only or unreachable: `{"detail":"storage temporarily unavailable, retry later"}`.', ref('Detail')),
    headers: RETRY_AFTER,
  },
};
