// Meta's WhatsApp Cloud API webhooks, receiving side: the X-Hub-Signature-256 check, the handshake's
// token check, and Meta's envelope (entry[].changes[].value) read into the contract's messages.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Message } from '../store/store.ts';
import { isMessageId, MAX_TEXT_LENGTH, parseJsonBody } from './message.ts';
import { verifySignature } from './signature.ts';
import { codePointLength, type FieldError, type Validated } from './validation.ts';

/** The `object` of every WhatsApp Business Account webhook. */
export const WHATSAPP_OBJECT = 'whatsapp_business_account';
/**
 * A business-scoped user id: an ISO country code, a dot, letters and digits (`US.13491208655302741918`;
 * Meta names no maximum, a partner up to 128); a few more dot-separated parts are allowed for the parent
 * ids Meta derives from them. At most 256 characters in all, as a message id: erasure takes no longer sender.
 */
export const BUSINESS_SCOPED_ID = /^(?=.{4,256}$)[A-Z]{2}(\.[A-Za-z0-9]{1,128}){1,3}$/;
/** Meta's message types whose text is a caption (SPEC: "a caption of an image, video or document"). */
const CAPTIONED = new Set(['image', 'video', 'document']);
const PHONE_DIGITS = /^[0-9]{1,15}$/;
/** A sender's phone number: digits, with a `+` in the group messages' reference. */
const SENDER_PHONE = /^\+?([0-9]{1,15})$/;
const UNIX_SECONDS = /^[0-9]{1,12}$/;
const MESSAGE_TYPE = /^[a-z][a-z0-9_]{0,63}$/;
const SIGNATURE_PREFIX = 'sha256=';

/** True when `header` is `sha256=<hex>`, the HMAC-SHA256 of the raw bytes under one of `secrets`. */
export function verifyHubSignature(body: Uint8Array, header: string | undefined, secrets: readonly string[]): boolean {
  // Meta always sends the prefix: a bare hex is the seed's form, not Meta's.
  if (header === undefined || header.slice(0, SIGNATURE_PREFIX.length).toLowerCase() !== SIGNATURE_PREFIX) return false;
  return verifySignature(body, header, secrets);
}

/** The handshake's token check, in constant time whatever the lengths (digests are compared). */
export function verifyTokenMatches(given: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** An item that cannot be stored: where it is in the body and why; its id when that was readable. */
export type MalformedItem = { loc: (string | number)[]; msg: string; messageId?: string };

export type Envelope = {
  /** Every readable item of `value.messages[]`, in the order of the body. */
  messages: Message[];
  malformed: MalformedItem[];
  /** The `status` of each item of `value.statuses[]` ('' when it has none): counted, never stored. */
  statuses: string[];
  /** Changes of another `field` than `messages` (account or template updates): counted, never stored. */
  ignored: number;
};

/** Raw bytes -> Meta's envelope read into messages; not an envelope at all -> every problem (422). */
export function parseEnvelope(body: Uint8Array): Validated<Envelope> {
  const json = parseJsonBody(body);
  return json.ok ? readEnvelope(json.value) : json;
}

export function readEnvelope(input: unknown): Validated<Envelope> {
  if (!isRecord(input)) {
    return { ok: false, errors: [{ loc: ['body'], msg: "Input should be Meta's webhook envelope, a JSON object", type: 'model_attributes_type' }] };
  }
  const errors: FieldError[] = [];
  if (input.object !== WHATSAPP_OBJECT) {
    errors.push({ loc: ['body', 'object'], msg: `Input should be '${WHATSAPP_OBJECT}'`, type: 'literal_error' });
  }
  if (!Array.isArray(input.entry)) errors.push({ loc: ['body', 'entry'], msg: 'Input should be a valid list', type: 'list_type' });
  if (errors.length > 0 || !Array.isArray(input.entry)) return { ok: false, errors };

  const out: Envelope = { messages: [], malformed: [], statuses: [], ignored: 0 };
  input.entry.forEach((entry: unknown, e) => {
    const loc = ['entry', e];
    if (!isRecord(entry) || !Array.isArray(entry.changes)) {
      out.malformed.push({ loc: [...loc, 'changes'], msg: 'an entry should hold a list of changes' });
      return;
    }
    entry.changes.forEach((change: unknown, c) => readChange(change, [...loc, 'changes', c], out));
  });
  return { ok: true, value: out };
}

function readChange(change: unknown, loc: (string | number)[], out: Envelope): void {
  if (!isRecord(change) || typeof change.field !== 'string' || !isRecord(change.value)) {
    out.malformed.push({ loc, msg: 'a change should have a field and a value object' });
    return;
  }
  if (change.field !== 'messages') {
    out.ignored += 1;
    return;
  }
  const { value } = change;
  if (Array.isArray(value.statuses)) {
    for (const s of value.statuses as unknown[]) out.statuses.push(statusOf(s));
  }
  if (value.messages === undefined) return;
  if (!Array.isArray(value.messages)) {
    out.malformed.push({ loc: [...loc, 'value', 'messages'], msg: 'messages should be a list' });
    return;
  }
  const to = businessNumber(value.metadata);
  const contacts: unknown[] = Array.isArray(value.contacts) ? value.contacts : [];
  value.messages.forEach((item: unknown, m) => {
    const itemLoc = [...loc, 'value', 'messages', m];
    if (to === null) {
      out.malformed.push({ loc: [...loc, 'value', 'metadata', 'display_phone_number'], msg: 'the business number should have 1 to 15 digits', ...idOf(item) });
      return;
    }
    const read = readMessage(item, to, contacts);
    if ('error' in read) out.malformed.push({ loc: [...itemLoc, ...read.error.at], msg: read.error.msg, ...idOf(item) });
    else out.messages.push(read.message);
  });
}

type Read = { message: Message } | { error: { at: string[]; msg: string } };

/** One item of `value.messages[]` -> a contract message, or the first problem found. */
export function readMessage(item: unknown, to: string, contacts: readonly unknown[]): Read {
  const fail = (at: string[], msg: string): Read => ({ error: { at, msg } });
  if (!isRecord(item)) return fail([], 'a message should be an object');
  const id = item.id;
  if (typeof id !== 'string' || !isMessageId(id)) return fail(['id'], 'the id should be a string of 1 to 256 characters');
  const from = senderOf(item, contacts);
  if (from === null) {
    return fail(['from'], 'the sender should be a phone number of 1 to 15 digits (from) or a business-scoped user id (from_user_id)');
  }
  const ts = timestampOf(item.timestamp);
  if (ts === null) return fail(['timestamp'], 'the timestamp should be unix seconds');
  const type = item.type;
  if (typeof type !== 'string' || !MESSAGE_TYPE.test(type)) return fail(['type'], 'the type should be a lower-case word');
  const text = textOf(item, type);
  if (typeof text === 'object' && text !== null) return fail(text.at, text.msg);
  return { message: { messageId: id, from, to, ts, text, ...(type !== 'text' && { type }) } };
}

/**
 * `+` and the phone number when Meta shares it; otherwise the business-scoped user id, from the message
 * (`from_user_id`) or the one contact of the change (`user_id`), stored as it is.
 */
function senderOf(item: Record<string, unknown>, contacts: readonly unknown[]): string | null {
  if (item.from !== undefined) {
    const digits = typeof item.from === 'string' ? SENDER_PHONE.exec(item.from)?.[1] : undefined;
    return digits === undefined ? null : `+${digits}`;
  }
  const [only] = contacts;
  const scoped = item.from_user_id ?? (contacts.length === 1 && isRecord(only) ? only.user_id : undefined);
  return typeof scoped === 'string' && BUSINESS_SCOPED_ID.test(scoped) ? scoped : null;
}

/** The last second of year 9999: later instants have no four-digit year. */
const LAST_SECOND = 253_402_300_799;

/** Unix seconds (Meta sends a string of digits) -> `YYYY-MM-DDTHH:MM:SSZ`. */
function timestampOf(raw: unknown): string | null {
  const text = typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 ? String(raw) : raw;
  if (typeof text !== 'string' || !UNIX_SECONDS.test(text) || Number(text) > LAST_SECOND) return null;
  return `${new Date(Number(text) * 1000).toISOString().slice(0, 19)}Z`;
}

/** The text body, or the caption of an image, video or document; null for every other type. */
function textOf(item: Record<string, unknown>, type: string): string | null | { at: string[]; msg: string } {
  if (type !== 'text' && !CAPTIONED.has(type)) return null;
  const content = item[type];
  const key = type === 'text' ? 'body' : 'caption';
  const value = isRecord(content) ? content[key] : undefined;
  if (type !== 'text' && (value === undefined || value === null)) return null;
  if (typeof value !== 'string') return { at: [type, key], msg: `${type}.${key} should be a string` };
  // A lone surrogate has no UTF-8 form, and the contract's texts are at most MAX_TEXT_LENGTH long.
  if (!value.isWellFormed()) return { at: [type, key], msg: 'the text should be valid Unicode' };
  if (codePointLength(value) > MAX_TEXT_LENGTH) return { at: [type, key], msg: `the text should have at most ${MAX_TEXT_LENGTH} characters` };
  return value;
}

/** `+` and the digits of `metadata.display_phone_number` (Meta may format it with spaces or dashes). */
function businessNumber(metadata: unknown): string | null {
  const raw = isRecord(metadata) ? metadata.display_phone_number : undefined;
  if (typeof raw !== 'string' && typeof raw !== 'number') return null;
  const digits = String(raw).replace(/[^0-9]/g, '');
  return PHONE_DIGITS.test(digits) ? `+${digits}` : null;
}

function statusOf(item: unknown): string {
  return isRecord(item) && typeof item.status === 'string' ? item.status : '';
}

/** The item's id for the log, when it is one. */
function idOf(item: unknown): { messageId?: string } {
  return isRecord(item) && typeof item.id === 'string' && isMessageId(item.id) ? { messageId: item.id } : {};
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
