import type { ListPosition, ListQuery } from '../store/store.ts';
import { isMessageId, MAX_TEXT_LENGTH, timestampError } from './message.ts';
import { isTimestamp } from './timestamp.ts';
import { codePointLength, repeatedParameter, type FieldError, type Validated } from './validation.ts';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 100;
const KNOWN = ['limit', 'offset', 'from', 'since', 'q', 'cursor', 'order'] as const;
const INTEGER = /^-?[0-9]+$/;

/** `GET /messages` query -> ListQuery, or every problem at once (422). Unknown parameters are ignored. */
export function parseListQuery(params: URLSearchParams): Validated<ListQuery> {
  const errors: FieldError[] = [];
  const values: Partial<Record<(typeof KNOWN)[number], string>> = {};
  for (const name of KNOWN) {
    const all = params.getAll(name);
    if (all.length > 1) {
      errors.push(repeatedParameter(name));
    } else if (all.length === 1) {
      values[name] = all[0];
    }
  }

  const limit = integer(values.limit, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT, errors);
  const offset = integer(values.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER, errors);

  const query: ListQuery = { limit, offset };
  if (values.from !== undefined && values.from !== '') {
    query.from = senderParam(values.from);
  }
  if (values.since !== undefined) {
    if (isTimestamp(values.since)) query.since = values.since;
    else errors.push(timestampError(['query', 'since']));
  }
  if (values.q !== undefined && values.q !== '') {
    if (codePointLength(values.q) > MAX_TEXT_LENGTH) {
      errors.push({
        loc: ['query', 'q'],
        msg: `String should have at most ${MAX_TEXT_LENGTH} characters`,
        type: 'string_too_long',
      });
    } else {
      query.q = values.q;
    }
  }
  if (values.order === 'desc') query.descending = true;
  else if (values.order !== undefined && values.order !== 'asc') {
    errors.push({ loc: ['query', 'order'], msg: "Input should be 'asc' or 'desc'", type: 'enum' });
  }
  if (values.cursor !== undefined && values.cursor !== '') {
    const after = decodeCursor(values.cursor);
    if (after) query.after = after;
    else errors.push({ loc: ['query', 'cursor'], msg: CURSOR_ERROR, type: 'cursor_invalid' });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: query };
}

/** A `from` as the query string gave it: an unencoded `+` decodes to a space, so ' 9198…' is the sender '+9198…'. */
export function senderParam(raw: string): string {
  return /^ [0-9]+$/.test(raw) ? '+' + raw.slice(1) : raw;
}

const CURSOR_ERROR = 'Invalid cursor: pass the next_cursor of a previous response unchanged';

/**
 * The opaque `cursor` of a page's last message: its place in the sort order (ts as sent, message_id),
 * base64url-encoded JSON. A position, not a snapshot, so it stays valid while messages arrive; the
 * client repeats its filters and `order` with it.
 */
export function encodeCursor(last: ListPosition): string {
  return Buffer.from(JSON.stringify([last.ts, last.messageId])).toString('base64url');
}

function decodeCursor(cursor: string): ListPosition | null {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 2) return null;
  const [ts, messageId]: unknown[] = value;
  if (typeof ts !== 'string' || !isTimestamp(ts)) return null;
  if (typeof messageId !== 'string' || !isMessageId(messageId)) return null;
  return { ts, messageId };
}

function integer(
  raw: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
  errors: FieldError[],
): number {
  if (raw === undefined) return fallback;
  if (!INTEGER.test(raw)) {
    errors.push({ loc: ['query', name], msg: 'Input should be a valid integer', type: 'int_parsing' });
    return fallback;
  }
  const n = Number(raw);
  if (n < min) {
    errors.push({ loc: ['query', name], msg: `Input should be greater than or equal to ${min}`, type: 'greater_than_equal' });
    return fallback;
  }
  if (n > max) {
    errors.push({ loc: ['query', name], msg: `Input should be less than or equal to ${max}`, type: 'less_than_equal' });
    return fallback;
  }
  return n === 0 ? 0 : n; // '-0' is zero, not negative zero
}
