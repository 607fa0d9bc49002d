// Meta's WhatsApp Cloud API webhooks, sending side (the sender CLI, tests, the bench): a contract message
// wrapped in Meta's envelope, serialised and signed the way Meta does it.
import { BUSINESS_SCOPED_ID, WHATSAPP_OBJECT } from './whatsapp.ts';
import { sign } from './signature.ts';

/** A message as POST /webhook takes it; `to` is the business number. */
export type ContractMessage = { message_id: string; from: string; to: string; ts: string; text: string | null };

/** The business phone number id Meta would put beside the number; any digits do for a receiver. */
const PHONE_NUMBER_ID = '106540352242922';
const ACCOUNT_ID = '102290129340398';

/**
 * JSON the way Meta sends it: every non-ASCII character escaped as `\uXXXX` (lower-case hex, UTF-16
 * units, so an emoji is two) and `/` as `\/`. Meta signs exactly these bytes.
 */
export function metaJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replaceAll('/', '\\/');
}

/** The X-Hub-Signature-256 value of `raw` under the app secret. */
export function signMeta(raw: string | Uint8Array, appSecret: string): string {
  return `sha256=${sign(raw, appSecret)}`;
}

/** Unix seconds of a contract timestamp (a fraction is dropped: Meta's are whole seconds). */
function unixSeconds(ts: string): string {
  return String(Math.floor(Date.parse(ts) / 1000));
}

/**
 * One item of `value.messages[]` for `m`: a text message from a phone number, or from a business-scoped
 * user id (`from_user_id`, no `from`) when `m.from` is one.
 */
function metaMessage(m: ContractMessage): Record<string, unknown> {
  const sender = BUSINESS_SCOPED_ID.test(m.from) ? { from_user_id: m.from } : { from: m.from.replace(/^\+/, '') };
  return { ...sender, id: m.message_id, timestamp: unixSeconds(m.ts), type: 'text', text: { body: m.text } };
}

/** Meta's envelope around `items` (already in Meta's shape), all to the business number `to`. */
export function envelopeOf(to: string, items: readonly unknown[], contacts: readonly unknown[] = []): Record<string, unknown> {
  const value = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: to.replace(/^\+/, ''), phone_number_id: PHONE_NUMBER_ID },
    ...(contacts.length > 0 && { contacts }),
    messages: items,
  };
  return { object: WHATSAPP_OBJECT, entry: [{ id: ACCOUNT_ID, changes: [{ value, field: 'messages' }] }] };
}

/** The contact Meta lists beside a message from `from`: its phone number (wa_id) or its user id. */
function contactOf(from: string, name = 'Sender'): Record<string, unknown> {
  return BUSINESS_SCOPED_ID.test(from) ? { profile: { name }, user_id: from } : { profile: { name }, wa_id: from.replace(/^\+/, '') };
}

/** Contract messages (one business number) -> Meta's envelope, each with its contact. */
export function wrapMessages(messages: readonly ContractMessage[]): Record<string, unknown> {
  const to = messages[0]?.to ?? '+0';
  const senders = [...new Set(messages.map((m) => m.from))];
  return envelopeOf(to, messages.map(metaMessage), senders.map((s) => contactOf(s)));
}
