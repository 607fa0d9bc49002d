import type { Message, MessageFilter } from '../store/store.ts';
import { parseListQuery, senderParam } from './list-query.ts';
import { MAX_MESSAGE_ID_LENGTH } from './message.ts';
import { codePointLength, repeatedParameter, type FieldError, type Validated } from './validation.ts';

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export type ExportQuery = { format: ExportFormat; filter: MessageFilter };

// The export returns every match in the listing order: a page size, a position or another order would
// silently be ignored, so each is refused.
const PAGING = ['limit', 'offset', 'cursor', 'order'] as const;

/** `GET /messages/export` query: `format` and the filters of /messages, checked as /messages checks them. */
export function parseExportQuery(params: URLSearchParams): Validated<ExportQuery> {
  const errors: FieldError[] = [];
  for (const name of PAGING) {
    if (params.has(name)) errors.push({ loc: ['query', name], msg: 'Not accepted by the export, which returns every match', type: 'extra_forbidden' });
  }
  const formats = params.getAll('format');
  const format = formats[0] ?? 'ndjson';
  if (formats.length > 1) errors.push(repeatedParameter('format'));
  else if (!EXPORT_FORMATS.some((f) => f === format)) errors.push({ loc: ['query', 'format'], msg: "Input should be 'ndjson' or 'csv'", type: 'enum' });
  const filters = new URLSearchParams([...params].filter(([name]) => !(PAGING as readonly string[]).includes(name)));
  const list = parseListQuery(filters);
  if (!list.ok) errors.push(...list.errors);
  if (errors.length > 0 || !list.ok) return { ok: false, errors };
  const { from, since, q } = list.value;
  const filter: MessageFilter = { ...(from !== undefined && { from }), ...(since !== undefined && { since }), ...(q !== undefined && { q }) };
  return { ok: true, value: { format: format === 'csv' ? 'csv' : 'ndjson', filter } };
}

/** `DELETE /messages?from=`: the sender (required, and only it; a `+` that arrived as a space restored). */
export function parseEraseQuery(params: URLSearchParams): Validated<{ from: string }> {
  const all = params.getAll('from');
  const raw = all[0] ?? '';
  if (all.length > 1) return { ok: false, errors: [repeatedParameter('from')] };
  const error = (msg: string, type: string): Validated<{ from: string }> => ({ ok: false, errors: [{ loc: ['query', 'from'], msg, type }] });
  if (raw === '') return error('Field required: the sender whose messages are erased', 'missing');
  // A sender is a number or a business-scoped id: at most as long as a message id.
  if (codePointLength(raw) > MAX_MESSAGE_ID_LENGTH) return error(`String should have at most ${MAX_MESSAGE_ID_LENGTH} characters`, 'string_too_long');
  return { ok: true, value: { from: senderParam(raw) } };
}

/** A message as /messages shows it: the seed's five fields, plus `type` when the message has one. */
export function messageJson(m: Message): Record<string, string | null> {
  return { message_id: m.messageId, from: m.from, to: m.to, ts: m.ts, text: m.text, ...(m.type !== undefined && { type: m.type }) };
}

export const CSV_HEADER = 'message_id,from,to,ts,text,type\r\n';

/**
 * One CSV record (RFC 4180): every field quoted, quotes doubled, CRLF at the end; a null text is an empty
 * field and a text message's type is `text`. Values are written exactly as stored (see
 * docs/erasure-and-export.md on spreadsheets and cells that begin with = + - @).
 */
export function csvRecord(m: Message): string {
  const fields = [m.messageId, m.from, m.to, m.ts, m.text ?? '', m.type ?? 'text'];
  return fields.map((f) => `"${f.replaceAll('"', '""')}"`).join(',') + '\r\n';
}
