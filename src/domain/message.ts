import type { Message } from '../store/store.ts';
import { repeatedKeyFinder } from './repeated-keys.ts';
import { isTimestamp } from './timestamp.ts';
import { codePointLength, type FieldError, type Validated } from './validation.ts';

export const MAX_MESSAGE_ID_LENGTH = 256;
export const MAX_TEXT_LENGTH = 4096;
export const MSISDN = /^\+[0-9]{1,15}$/;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
/** The message's own fields: one given twice is refused (JSON.parse would keep the last one silently). */
const repeatedFields = repeatedKeyFinder(['message_id', 'from', 'to', 'ts', 'text']);

/**
 * A Message, or every field problem at once; with the problems, the message_id when it was valid itself
 * (the access log names it, SPEC: "message_id (when known)").
 */
export type ParsedMessage = Validated<Message> | { ok: false; errors: FieldError[]; messageId: string };

/** Raw request bytes -> a Message, or every field problem at once. */
export function parseMessage(body: Uint8Array): ParsedMessage {
  const decoded = decodeJson(body);
  if (!decoded.ok) return decoded;
  const { value: parsed, text } = decoded.value;
  const validated = validateMessage(parsed);
  const repeated = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? repeatedFields(text) : [];
  if (repeated.length === 0) return validated;
  const errors = repeated.map((name): FieldError => ({ loc: ['body', name], msg: 'Field given more than once', type: 'duplicate_field' }));
  errors.push(...(validated.ok ? [] : validated.errors));
  const messageId = validated.ok ? validated.value.messageId : 'messageId' in validated ? validated.messageId : undefined;
  // Which message_id it was is unknown when it came twice.
  return messageId !== undefined && !repeated.includes('message_id') ? { ok: false, errors, messageId } : invalid(errors);
}

/** Raw request bytes -> the JSON value they hold, or why they hold none (strict UTF-8). */
export function parseJsonBody(body: Uint8Array): Validated<unknown> {
  const decoded = decodeJson(body);
  return decoded.ok ? { ok: true, value: decoded.value.value } : decoded;
}

function decodeJson(body: Uint8Array): Validated<{ value: unknown; text: string }> {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { ok: false, errors: [{ loc: ['body'], msg: 'Body is not valid UTF-8', type: 'json_invalid' }] };
  }
  try {
    // JSON.parse makes `__proto__` an own data property; it never changes a prototype.
    return { ok: true, value: { value: JSON.parse(text) as unknown, text } };
  } catch (err) {
    const detail = err instanceof Error ? err.message : 'invalid JSON';
    return { ok: false, errors: [{ loc: ['body'], msg: `JSON decode error: ${detail}`, type: 'json_invalid' }] };
  }
}

/** What a message_id can be: non-empty, well-formed Unicode, at most MAX_MESSAGE_ID_LENGTH code points. */
export function isMessageId(id: string): boolean {
  return id.length > 0 && id.isWellFormed() && codePointLength(id) <= MAX_MESSAGE_ID_LENGTH;
}

export function validateMessage(input: unknown): ParsedMessage {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return invalid([{ loc: ['body'], msg: 'Input should be a valid dictionary or object', type: 'model_attributes_type' }]);
  }
  const errors: FieldError[] = [];
  const field = (name: string): unknown => (Object.hasOwn(input, name) ? (input as Record<string, unknown>)[name] : undefined);

  const messageId = requiredString(field('message_id'), 'message_id', errors);
  // The checks of isMessageId, one at a time, each with its own error.
  if (messageId !== null && !isMessageId(messageId)) {
    if (messageId.length === 0) errors.push(tooShort('message_id'));
    else if (!messageId.isWellFormed()) errors.push(malformed('message_id'));
    else if (codePointLength(messageId) > MAX_MESSAGE_ID_LENGTH) errors.push(tooLong('message_id', MAX_MESSAGE_ID_LENGTH));
  }

  const from = requiredString(field('from'), 'from', errors);
  if (from !== null && !MSISDN.test(from)) errors.push(msisdnError('from'));
  const to = requiredString(field('to'), 'to', errors);
  if (to !== null && !MSISDN.test(to)) errors.push(msisdnError('to'));

  const ts = requiredString(field('ts'), 'ts', errors);
  if (ts !== null && !isTimestamp(ts)) errors.push(timestampError(['body', 'ts']));

  const rawText = field('text');
  let text: string | null = null;
  if (rawText !== undefined && rawText !== null) {
    if (typeof rawText !== 'string') {
      errors.push({ loc: ['body', 'text'], msg: 'Input should be a valid string or null', type: 'string_type' });
    } else if (!rawText.isWellFormed()) {
      errors.push(malformed('text'));
    } else if (codePointLength(rawText) > MAX_TEXT_LENGTH) {
      errors.push(tooLong('text', MAX_TEXT_LENGTH));
    } else {
      text = rawText;
    }
  }

  if (errors.length > 0 || messageId === null || from === null || to === null || ts === null) {
    return messageId !== null && isMessageId(messageId) ? { ok: false, errors, messageId } : invalid(errors);
  }
  return { ok: true, value: { messageId, from, to, ts, text } };
}

export function timestampError(loc: (string | number)[]): FieldError {
  return {
    loc,
    msg: 'Value should be a real UTC instant formatted YYYY-MM-DDTHH:MM:SS[.fraction]Z, the fraction 1 to 9 digits',
    type: 'datetime_format',
  };
}

function requiredString(value: unknown, name: string, errors: FieldError[]): string | null {
  if (value === undefined) {
    errors.push({ loc: ['body', name], msg: 'Field required', type: 'missing' });
    return null;
  }
  if (typeof value !== 'string') {
    // No coercion: 123 is not the message id "123".
    errors.push({ loc: ['body', name], msg: 'Input should be a valid string', type: 'string_type' });
    return null;
  }
  return value;
}

function tooShort(name: string): FieldError {
  return { loc: ['body', name], msg: 'String should have at least 1 character', type: 'string_too_short' };
}

function tooLong(name: string, max: number): FieldError {
  return { loc: ['body', name], msg: `String should have at most ${max} characters`, type: 'string_too_long' };
}

// A lone surrogate ("\ud800" in JSON) has no UTF-8 form: SQLite would store U+FFFD instead, altering the
// text and making distinct ids collide. Refused rather than silently changed.
function malformed(name: string): FieldError {
  return { loc: ['body', name], msg: 'String should be valid Unicode (no unpaired surrogates)', type: 'string_unicode' };
}

function msisdnError(name: string): FieldError {
  return {
    loc: ['body', name],
    msg: "String should match pattern '^\\+[0-9]{1,15}$' (E.164: '+' then 1 to 15 digits)",
    type: 'string_pattern_mismatch',
  };
}

function invalid(errors: FieldError[]): Validated<Message> {
  return { ok: false, errors };
}
