// The parts of the OpenAPI document about a person's data (SPEC: Erasure, GET /messages/export).
import { MAX_MESSAGE_ID_LENGTH, MAX_TEXT_LENGTH } from '../domain/message.ts';
import { adminSecurity, NOT_AUTHENTICATED, readSecurity } from './openapi-auth.ts';
import { jsonBody, ref, respond } from './openapi-schemas.ts';

const deleted = (description: string): object =>
  jsonBody(description, { type: 'object', required: ['deleted'], properties: { deleted: { type: 'integer', minimum: 0 } } });

const ADMIN_RESPONSES = {
  '401': { ...NOT_AUTHENTICATED, description: 'No matching `Authorization: Bearer` admin token (read tokens do not count): `{"detail":"not authenticated"}`.' },
  '403': jsonBody('ADMIN_TOKENS is unset: `{"detail":"erasure disabled: set ADMIN_TOKENS"}`.', ref('Detail')),
  '500': respond('InternalError'),
  '503': respond('StoreUnavailable'),
};

export const ERASE_MESSAGE = {
  operationId: 'eraseMessage',
  summary: 'Erase one message (right to erasure); one audit line at WARNING',
  security: adminSecurity,
  parameters: [{ name: 'message_id', in: 'path', required: true, description: 'URL-encoded.', schema: { type: 'string' } }],
  responses: {
    '200': deleted('Erased: `{"deleted":1}`.'),
    '404': jsonBody('No message with this id: `{"detail":"message not found"}`.', ref('Detail')),
    ...ADMIN_RESPONSES,
  },
};

export const ERASE_SENDER = {
  operationId: 'eraseSender',
  summary: "Erase every message of one sender (right to erasure); one audit line at WARNING",
  security: adminSecurity,
  parameters: [
    {
      name: 'from',
      in: 'query',
      required: true,
      description: 'The sender; there is no way to erase everything at once.',
      schema: { type: 'string', minLength: 1, maxLength: MAX_MESSAGE_ID_LENGTH },
    },
  ],
  responses: {
    '200': deleted('How many messages went (0 when the sender had none).'),
    '422': jsonBody('`from` missing, empty, too long or given twice.', ref('ValidationError')),
    ...ADMIN_RESPONSES,
  },
};

export const EXPORT_MESSAGES = {
  operationId: 'exportMessages',
  summary: 'Every match of from/since/q in listing order, streamed as NDJSON or CSV (a file download)',
  security: readSecurity,
  parameters: [
    { name: 'format', in: 'query', schema: { enum: ['ndjson', 'csv'], default: 'ndjson' } },
    { name: 'from', in: 'query', description: 'As for GET /messages.', schema: { type: 'string' } },
    { name: 'since', in: 'query', description: 'As for GET /messages.', schema: ref('Timestamp') },
    { name: 'q', in: 'query', description: 'As for GET /messages.', schema: { type: 'string', maxLength: MAX_TEXT_LENGTH } },
  ],
  responses: {
    '200': {
      description:
        'NDJSON: one message object a line, as in GET /messages. CSV (RFC 4180): header `message_id,from,to,ts,text,type`, every field quoted, ' +
        '`type` `text` for text messages, a null text an empty field. `Content-Disposition: attachment` names the file.',
      headers: { 'Content-Disposition': { description: '`attachment; filename="messages-<time>.ndjson"` (or `.csv`).', schema: { type: 'string' } } },
      content: { 'application/x-ndjson': { schema: { type: 'string' } }, 'text/csv': { schema: { type: 'string' } } },
    },
    '401': respond('NotAuthenticated'),
    '422': jsonBody('A filter is invalid or given twice, `format` is unknown, or `limit`, `offset`, `cursor` or `order` was given.', ref('ValidationError')),
    '500': respond('InternalError'),
    '503': respond('StoreUnavailable'),
  },
};
