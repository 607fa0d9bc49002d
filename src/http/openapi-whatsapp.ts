// The OpenAPI description of GET and POST /webhook/whatsapp (SPEC: POST /webhook/whatsapp).
import { MAX_CHALLENGE_LENGTH } from './handlers/whatsapp.ts';
import { jsonBody, ref, respond, RETRY_AFTER } from './openapi-schemas.ts';

const QUERY = (name: string, description: string, schema: object = { type: 'string' }): object => ({ name, in: 'query', required: true, description, schema });

export const WHATSAPP_PATH = {
  get: {
    operationId: 'whatsappHandshake',
    summary: "Meta's subscription handshake: echo hub.challenge when the verify token matches",
    parameters: [
      QUERY('hub.mode', 'Always `subscribe`.'),
      QUERY('hub.verify_token', 'Compared in constant time with WHATSAPP_VERIFY_TOKEN.'),
      QUERY('hub.challenge', 'Echoed back as the whole body.', { type: 'string', minLength: 1, maxLength: MAX_CHALLENGE_LENGTH }),
    ],
    responses: {
      '200': { description: 'The challenge, verbatim.', content: { 'text/plain; charset=utf-8': { schema: { type: 'string' } } } },
      '403': jsonBody(
        'Wrong or missing token, another mode, no challenge, a parameter given twice, or WHATSAPP_VERIFY_TOKEN unset: `{"detail":"verification failed"}`.',
        ref('Detail'),
      ),
    },
  },
  post: {
    operationId: 'receiveWhatsApp',
    summary: "Store the messages of a WhatsApp Cloud API webhook (Meta's envelope), each exactly once",
    description:
      'Checks in this order: size (413), app secret configured (503), `X-Hub-Signature-256` over the raw body (401), ' +
      "Meta's envelope (422). Every item of `entry[].changes[].value.messages[]` is stored as one message, all of the " +
      'request in one commit; statuses and changes of other fields are counted, not stored; a malformed item is logged ' +
      'and counted while the rest is stored. A redelivered message answers 200 and keeps the first copy.',
    parameters: [
      {
        name: 'X-Hub-Signature-256',
        in: 'header',
        required: true,
        description: '`sha256=` and the hex HMAC-SHA256 of the exact body bytes under one of WHATSAPP_APP_SECRET\'s secrets.',
        schema: { type: 'string', pattern: '^[Ss][Hh][Aa]256=[0-9a-fA-F]{64}$' },
      },
    ],
    requestBody: {
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['object', 'entry'],
            description: "Meta's webhook envelope; fields not described here are ignored.",
            properties: {
              object: { const: 'whatsapp_business_account' },
              entry: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' },
                    changes: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, value: { type: 'object' } } } },
                  },
                },
              },
            },
          },
        },
      },
    },
    responses: {
      '200': jsonBody('Every readable message committed (or already stored).', {
        type: 'object',
        required: ['status'],
        properties: { status: { const: 'ok' } },
      }),
      '401': jsonBody('Signature missing, malformed or wrong: `{"detail":"invalid signature"}`.', ref('Detail')),
      '413': jsonBody('Body larger than MAX_BODY_BYTES: `{"detail":"payload too large"}`.', ref('Detail')),
      '422': jsonBody("Not Meta's envelope (not JSON, no `entry` list, another `object`).", ref('ValidationError')),
      '500': respond('InternalError'),
      '503': { ...jsonBody('No app secret configured, or the database is unavailable; nothing stored.', ref('Detail')), headers: RETRY_AFTER },
    },
  },
};
