import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { readEnvelope, readMessage, verifyHubSignature, verifyTokenMatches } from '../../src/domain/whatsapp.ts';
import { envelopeOf, metaJson, signMeta, wrapMessages } from '../../src/domain/whatsapp-envelope.ts';

const TO = '+15550783881';
const base = { from: '16505551234', id: 'wamid.A', timestamp: '1739321024' };

describe('readMessage: one item of value.messages[] -> a contract message', () => {
  test('a text message: + before the phone number, ts from unix seconds, no type', () => {
    assert.deepEqual(readMessage({ ...base, type: 'text', text: { body: 'Hi' } }, TO, []), {
      message: { messageId: 'wamid.A', from: '+16505551234', to: TO, ts: '2025-02-12T00:43:44Z', text: 'Hi' },
    });
  });

  test('timestamps: a string or an integer of unix seconds; 0 is the epoch; anything else is malformed', () => {
    const ts = (timestamp: unknown): unknown => {
      const read = readMessage({ ...base, timestamp, type: 'audio' }, TO, []);
      return 'message' in read ? read.message.ts : read.error.at;
    };
    assert.equal(ts(1739321024), '2025-02-12T00:43:44Z');
    assert.equal(ts('0'), '1970-01-01T00:00:00Z');
    // The contract's timestamps have four-digit years: the last second of 9999 is the latest.
    assert.equal(ts('253402300799'), '9999-12-31T23:59:59Z');
    for (const bad of ['-1', '1.5', '', ' 1', 1.5, -3, null, undefined, '99999999999999', '253402300800', 999999999999]) assert.deepEqual(ts(bad), ['timestamp'], String(bad));
  });

  test('captions of images, videos and documents are the text; other types have none', () => {
    const text = (type: string, content: unknown): unknown => {
      const read = readMessage({ ...base, type, [type]: content }, TO, []);
      return 'message' in read ? [read.message.type, read.message.text] : read.error;
    };
    assert.deepEqual(text('image', { id: '1', caption: 'look' }), ['image', 'look']);
    assert.deepEqual(text('video', { id: '1' }), ['video', null]);
    assert.deepEqual(text('document', { id: '1', caption: 'pdf', filename: 'a.pdf' }), ['document', 'pdf']);
    assert.deepEqual(text('reaction', { message_id: 'wamid.B', emoji: '👍' }), ['reaction', null]);
    assert.deepEqual(text('location', { latitude: 1, longitude: 2 }), ['location', null]);
    assert.deepEqual(text('image', { id: '1', caption: 7 }), { at: ['image', 'caption'], msg: 'image.caption should be a string' });
    assert.deepEqual(text('text', {}), { at: ['text', 'body'], msg: 'text.body should be a string' });
    assert.deepEqual(text('text', { body: '\ud800' }), { at: ['text', 'body'], msg: 'the text should be valid Unicode' });
    assert.deepEqual(text('text', { body: 'x'.repeat(4097) }), { at: ['text', 'body'], msg: 'the text should have at most 4096 characters' });
  });

  test('a sender without a phone number: from_user_id, else the one contact\'s user_id', () => {
    const from = (item: object, contacts: unknown[] = []): unknown => {
      const read = readMessage({ id: 'wamid.A', timestamp: '1', type: 'text', text: { body: '' }, ...item }, TO, contacts);
      return 'message' in read ? read.message.from : read.error.at;
    };
    assert.equal(from({ from_user_id: 'US.13491208655302741918' }), 'US.13491208655302741918');
    assert.equal(from({}, [{ user_id: 'IN.1648738043044942' }]), 'IN.1648738043044942');
    // Meta gives no maximum; a partner documents up to 128 letters and digits after the country code.
    const long = `BR.${'A1'.repeat(64)}`;
    assert.equal(from({ from_user_id: long }), long);
    assert.deepEqual(from({ from_user_id: `${long}x` }), ['from']);
    // Several parts, but no longer than a message id: DELETE /messages?from= takes it whole.
    assert.equal(String(from({ from_user_id: `${long}.${'B'.repeat(124)}` })).length, 256);
    assert.deepEqual(from({ from_user_id: `${long}.${'B'.repeat(125)}` }), ['from']);
    // Two contacts: which one sent it is not known, so nothing is guessed.
    assert.deepEqual(from({}, [{ user_id: 'IN.1' }, { user_id: 'IN.2' }]), ['from']);
    assert.deepEqual(from({}), ['from']);
    for (const bad of ['us.1', 'US', 'US.', 'US.1 2', 'US.1/2', '+US.1']) assert.deepEqual(from({ from_user_id: bad }), ['from'], bad);
    // A phone number wins when Meta shares both; it is 1 to 15 digits, with a + in the group messages' reference.
    assert.equal(from({ from: '447700900123', from_user_id: 'GB.1' }), '+447700900123');
    assert.equal(from({ from: '+16505551234' }), '+16505551234');
    for (const bad of ['++16505551234', '4477 009', '1234567890123456', '', '+', 12345]) assert.deepEqual(from({ from: bad }), ['from'], String(bad));
  });

  test('the id and the type are required; a type is a lower-case word', () => {
    const at = (item: object): unknown => {
      const read = readMessage({ ...base, type: 'audio', ...item }, TO, []);
      return 'message' in read ? 'ok' : read.error.at;
    };
    assert.deepEqual(at({ id: '' }), ['id']);
    assert.deepEqual(at({ id: 5 }), ['id']);
    assert.deepEqual(at({ id: 'x'.repeat(257) }), ['id']);
    assert.deepEqual(at({ type: undefined }), ['type']);
    assert.deepEqual(at({ type: 'Image' }), ['type']);
    assert.equal(at({ type: 'order' }), 'ok');
  });
});

describe('readEnvelope', () => {
  test('the business number: digits of display_phone_number, whatever the formatting', () => {
    const to = (display: unknown): unknown => {
      const value = { metadata: { display_phone_number: display }, messages: [{ ...base, type: 'audio' }] };
      const read = readEnvelope({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value }] }] });
      assert.ok(read.ok);
      return read.value.messages[0]?.to ?? read.value.malformed[0]?.loc.at(-1);
    };
    assert.equal(to('15550783881'), '+15550783881');
    assert.equal(to('+1 555-078-3881'), '+15550783881');
    assert.equal(to('1234567890123456'), 'display_phone_number');
    assert.equal(to(undefined), 'display_phone_number');
  });

  test('not an envelope -> every problem; an unreadable entry or change is one malformed item', () => {
    assert.deepEqual(readEnvelope({ object: 'page', entry: {} }), {
      ok: false,
      errors: [
        { loc: ['body', 'object'], msg: "Input should be 'whatsapp_business_account'", type: 'literal_error' },
        { loc: ['body', 'entry'], msg: 'Input should be a valid list', type: 'list_type' },
      ],
    });
    const read = readEnvelope({ object: 'whatsapp_business_account', entry: [null, { changes: [5, { field: 'messages', value: { messages: {} } }] }] });
    assert.ok(read.ok);
    assert.deepEqual(read.value.malformed.map((m) => m.loc), [
      ['entry', 0, 'changes'],
      ['entry', 1, 'changes', 0],
      ['entry', 1, 'changes', 1, 'value', 'messages'],
    ]);
    assert.deepEqual(readEnvelope({ object: 'whatsapp_business_account', entry: [] }), {
      ok: true,
      value: { messages: [], malformed: [], statuses: [], ignored: 0 },
    });
  });

  test('__proto__ in a body changes no prototype and is no field', () => {
    const raw = '{"object":"whatsapp_business_account","entry":[],"__proto__":{"polluted":true}}';
    const read = readEnvelope(JSON.parse(raw));
    assert.ok(read.ok);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("Meta's serialisation and signature", () => {
  test('metaJson escapes non-ASCII as lower-case \\u units and / as \\/, and parses back to the same value', () => {
    const value = { text: 'äöå 😀 日本 a/b "q"' };
    const raw = metaJson(value);
    assert.equal(raw, '{"text":"\\u00e4\\u00f6\\u00e5 \\ud83d\\ude00 \\u65e5\\u672c a\\/b \\"q\\""}');
    assert.deepEqual(JSON.parse(raw), value);
  });

  test('verifyHubSignature: sha256=<hex> over the exact bytes, under any of the secrets; hex in any case', () => {
    const raw = metaJson({ a: 'é' });
    const header = signMeta(raw, 'k2');
    assert.equal(verifyHubSignature(Buffer.from(raw), header, ['k1', 'k2']), true);
    assert.equal(verifyHubSignature(Buffer.from(raw), `SHA256=${header.slice(7).toUpperCase()}`, ['k2']), true);
    assert.equal(verifyHubSignature(Buffer.from(raw), header, ['k1']), false);
    assert.equal(verifyHubSignature(Buffer.from(raw), header.slice(7), ['k2']), false);
    assert.equal(verifyHubSignature(Buffer.from(JSON.stringify({ a: 'é' })), header, ['k2']), false);
    assert.equal(verifyHubSignature(Buffer.from(raw), undefined, ['k2']), false);
    assert.equal(verifyHubSignature(Buffer.from(raw), `${header}00`, ['k2']), false);
  });

  test('verifyTokenMatches compares whole tokens', () => {
    assert.equal(verifyTokenMatches('tok', 'tok'), true);
    assert.equal(verifyTokenMatches('to', 'tok'), false);
    assert.equal(verifyTokenMatches('tok ', 'tok'), false);
    assert.equal(verifyTokenMatches('', 'tok'), false);
  });

  test('wrapMessages -> readEnvelope gives the contract messages back (ts to the whole second)', () => {
    const messages = [
      { message_id: 'm1', from: '+919876543210', to: TO, ts: '2025-01-15T10:00:00.750Z', text: 'नमस्ते' },
      { message_id: 'm2', from: 'US.13491208655302741918', to: TO, ts: '2025-01-15T10:00:01Z', text: 'hi' },
    ];
    const read = readEnvelope(JSON.parse(metaJson(wrapMessages(messages))));
    assert.ok(read.ok);
    assert.deepEqual(read.value.messages, [
      { messageId: 'm1', from: '+919876543210', to: TO, ts: '2025-01-15T10:00:00Z', text: 'नमस्ते' },
      { messageId: 'm2', from: 'US.13491208655302741918', to: TO, ts: '2025-01-15T10:00:01Z', text: 'hi' },
    ]);
  });
});

describe('WHATSAPP_* configuration', () => {
  const files: Record<string, string> = { '/run/secrets/app': 'new-secret old-secret\n', '/run/secrets/empty': '\n' };
  const load = (env: Record<string, string>): ReturnType<typeof loadConfig> =>
    loadConfig({ DATABASE_URL: 'sqlite:///:memory:', ...env }, (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      return text;
    });

  test('unset: no secrets, no token (the endpoint answers 503, the handshake 403)', () => {
    const loaded = load({});
    assert.ok(loaded.ok);
    assert.deepEqual(loaded.config.whatsapp, { appSecrets: [], verifyToken: null });
  });

  test('space-separated secrets for rotation, from the variable or its file; the token as given', () => {
    const direct = load({ WHATSAPP_APP_SECRET: ' a  b a ', WHATSAPP_VERIFY_TOKEN: 'my token' });
    assert.ok(direct.ok);
    assert.deepEqual(direct.config.whatsapp, { appSecrets: ['a', 'b'], verifyToken: 'my token' });
    const file = load({ WHATSAPP_APP_SECRET_FILE: '/run/secrets/app' });
    assert.ok(file.ok);
    assert.deepEqual(file.config.whatsapp.appSecrets, ['new-secret', 'old-secret']);
  });

  test('set but holding nothing, both forms at once, or an unreadable file: a configuration error', () => {
    const errors = (env: Record<string, string>): string[] => {
      const loaded = load(env);
      return loaded.ok ? [] : loaded.errors;
    };
    assert.deepEqual(errors({ WHATSAPP_APP_SECRET: '   ' }), ['WHATSAPP_APP_SECRET is set but holds no secret; unset it or give at least one']);
    assert.deepEqual(errors({ WHATSAPP_APP_SECRET_FILE: '/run/secrets/empty' }), [
      'WHATSAPP_APP_SECRET_FILE is set but holds no secret; unset it or give at least one',
    ]);
    assert.deepEqual(errors({ WHATSAPP_VERIFY_TOKEN: '  ' }), ['WHATSAPP_VERIFY_TOKEN is set but holds no secret; unset it or give the secret']);
    assert.deepEqual(errors({ WHATSAPP_APP_SECRET: 'a', WHATSAPP_APP_SECRET_FILE: '/run/secrets/app' }), [
      'WHATSAPP_APP_SECRET and WHATSAPP_APP_SECRET_FILE are both set; set only one',
    ]);
    assert.deepEqual(errors({ WHATSAPP_APP_SECRET_FILE: '/nope' }), ['WHATSAPP_APP_SECRET_FILE: cannot read "/nope" (ENOENT)']);
  });

  test('an app secret with a body limit under the 3 MB of a Meta webhook: one warning giving the setting', () => {
    const small = load({ WHATSAPP_APP_SECRET: 'an-app-secret-0123456789' });
    assert.ok(small.ok);
    assert.deepEqual(small.warnings.filter((w) => w.startsWith('MAX_BODY_BYTES')), [
      'MAX_BODY_BYTES (1048576) is below the 3 MB a WhatsApp webhook may have; Meta sends a refused (413) one again for days: set MAX_BODY_BYTES=3145728',
    ]);
    const enough = load({ WHATSAPP_APP_SECRET: 'an-app-secret-0123456789', MAX_BODY_BYTES: '3145728' });
    assert.deepEqual(enough.ok && enough.warnings, []);
    const noWhatsApp = load({ MAX_BODY_BYTES: '1000' });
    assert.deepEqual(noWhatsApp.ok && noWhatsApp.warnings, []);
  });

  test('a verify token without an app secret starts, with a warning', () => {
    const loaded = load({ WHATSAPP_VERIFY_TOKEN: 't' });
    assert.ok(loaded.ok);
    assert.ok(loaded.warnings.some((w) => w.includes('WHATSAPP_APP_SECRET')));
  });
});
