import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_LIMIT, MAX_LIMIT, parseListQuery } from '../../src/domain/list-query.ts';
import { MAX_MESSAGE_ID_LENGTH, MAX_TEXT_LENGTH, parseMessage, validateMessage } from '../../src/domain/message.ts';
import { repeatedKeyFinder } from '../../src/domain/repeated-keys.ts';
import { sign, verifySignature } from '../../src/domain/signature.ts';
import { isTimestamp } from '../../src/domain/timestamp.ts';
import type { FieldError, Validated } from '../../src/domain/validation.ts';
import type { ListQuery, Message } from '../../src/store/store.ts';

const encoder = new TextEncoder();
const bytes = (s: string): Uint8Array => encoder.encode(s);

const MISSING = (field: string): FieldError => ({ loc: ['body', field], msg: 'Field required', type: 'missing' });
const NOT_STRING = (field: string): FieldError => ({
  loc: ['body', field],
  msg: 'Input should be a valid string',
  type: 'string_type',
});
const PATTERN = (field: string): FieldError => ({
  loc: ['body', field],
  msg: "String should match pattern '^\\+[0-9]{1,15}$' (E.164: '+' then 1 to 15 digits)",
  type: 'string_pattern_mismatch',
});
const TOO_LONG = (field: string, max: number): FieldError => ({
  loc: ['body', field],
  msg: `String should have at most ${max} characters`,
  type: 'string_too_long',
});
const BAD_TS = (loc: (string | number)[]): FieldError => ({
  loc,
  msg: 'Value should be a real UTC instant formatted YYYY-MM-DDTHH:MM:SS[.fraction]Z, the fraction 1 to 9 digits',
  type: 'datetime_format',
});
const NOT_OBJECT: FieldError = {
  loc: ['body'],
  msg: 'Input should be a valid dictionary or object',
  type: 'model_attributes_type',
};

function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    message_id: 'm1',
    from: '+919876543210',
    to: '+14155550100',
    ts: '2025-01-15T10:00:00Z',
    text: 'Hello',
    ...overrides,
  };
}

function accepted<T>(result: Validated<T>): T {
  if (!result.ok) assert.fail(`expected valid input, got ${JSON.stringify(result.errors)}`);
  return result.value;
}

function rejected<T>(result: Validated<T>): FieldError[] {
  if (result.ok) assert.fail(`expected errors, got ${JSON.stringify(result.value)}`);
  return result.errors;
}

describe('isTimestamp', () => {
  const good = [
    '2025-01-15T10:00:00Z',
    '2024-02-29T00:00:00Z', // leap year
    '2000-02-29T12:00:00Z', // divisible by 400
    '0001-01-01T00:00:00Z',
    '9999-12-31T23:59:59Z',
    '2025-04-30T23:59:59Z',
    '2025-01-15T10:00:00.5Z',
    '2025-01-15T10:00:00.123Z',
    '2025-01-15T10:00:00.123456789Z',
    '2025-01-15T10:00:00.000Z',
  ];
  for (const ts of good) {
    test(`accepts ${ts}`, () => assert.equal(isTimestamp(ts), true));
  }

  const bad = [
    '2023-02-29T00:00:00Z', // not a leap year
    '1900-02-29T00:00:00Z', // divisible by 100, not by 400
    '2024-02-30T00:00:00Z',
    '2025-04-31T00:00:00Z',
    '2025-00-10T00:00:00Z',
    '2025-13-10T00:00:00Z',
    '2025-01-00T00:00:00Z',
    '2025-01-32T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '2025-01-15T24:00:00Z',
    '2025-01-15T25:00:00Z',
    '2025-01-15T10:60:00Z',
    '2025-01-15T10:00:60Z', // no leap seconds
    '2025-01-15T10:00:00z', // lowercase z
    '2025-01-15t10:00:00Z',
    '2025-01-15 10:00:00Z',
    '2025-01-15T10:00:00',
    '2025-01-15T10:00:00+00:00',
    '2025-01-15T10:00:00+05:30',
    '2025-01-15T10:00:00.Z', // empty fraction
    '2025-01-15T10:00:00.1234567890Z', // a fraction of more than 9 digits
    `2025-01-15T10:00:00.${'1'.repeat(100_000)}Z`,
    '2025-01-15T10:00:00,5Z',
    '2025-01-15T10:00Z',
    '2025-1-15T10:00:00Z',
    '25-01-15T10:00:00Z',
    '+02025-01-15T10:00:00Z',
    '2025-01-15',
    ' 2025-01-15T10:00:00Z',
    '2025-01-15T10:00:00Z ',
    '2025-01-15T10:00:00Z\n',
    '２０２５-01-15T10:00:00Z', // full-width digits
    '',
  ];
  for (const ts of bad) {
    test(`rejects ${JSON.stringify(ts.length > 60 ? `${ts.slice(0, 40)}...` : ts)}`, () => assert.equal(isTimestamp(ts), false));
  }
});

describe('validateMessage', () => {
  test('a valid message maps to the store shape', () => {
    assert.deepEqual(accepted(validateMessage(valid())), {
      messageId: 'm1',
      from: '+919876543210',
      to: '+14155550100',
      ts: '2025-01-15T10:00:00Z',
      text: 'Hello',
    } satisfies Message);
  });

  test('text may be missing or null; both store null', () => {
    const { text: _, ...withoutText } = valid();
    assert.equal(accepted(validateMessage(withoutText)).text, null);
    assert.equal(accepted(validateMessage(valid({ text: null }))).text, null);
  });

  test('an empty text is kept as the empty string, not null', () => {
    assert.equal(accepted(validateMessage(valid({ text: '' }))).text, '');
  });

  test('ts is kept exactly as sent', () => {
    assert.equal(accepted(validateMessage(valid({ ts: '2025-01-15T10:00:00.500Z' }))).ts, '2025-01-15T10:00:00.500Z');
  });

  test('unknown fields are ignored and not copied', () => {
    const value = accepted(validateMessage(valid({ extra: 1, priority: 'high' })));
    assert.deepEqual(Object.keys(value).sort(), ['from', 'messageId', 'text', 'to', 'ts']);
  });

  test('a number message_id is not coerced to a string', () => {
    assert.deepEqual(rejected(validateMessage(valid({ message_id: 123 }))), [NOT_STRING('message_id')]);
  });

  for (const [name, value] of [
    ['true', true],
    ['an array', ['m1']],
    ['an object', { id: 'm1' }],
    ['null', null],
  ] as const) {
    test(`message_id as ${name} is a string_type error`, () => {
      assert.deepEqual(rejected(validateMessage(valid({ message_id: value }))), [NOT_STRING('message_id')]);
    });
  }

  test('an empty message_id is too short', () => {
    assert.deepEqual(rejected(validateMessage(valid({ message_id: '' }))), [
      { loc: ['body', 'message_id'], msg: 'String should have at least 1 character', type: 'string_too_short' },
    ]);
  });

  test('message_id: 256 characters pass, 257 fail', () => {
    assert.equal(MAX_MESSAGE_ID_LENGTH, 256);
    assert.equal(accepted(validateMessage(valid({ message_id: 'a'.repeat(256) }))).messageId.length, 256);
    assert.deepEqual(rejected(validateMessage(valid({ message_id: 'a'.repeat(257) }))), [TOO_LONG('message_id', 256)]);
  });

  test('message_id length counts code points: 256 emoji (512 UTF-16 units) pass, 257 fail', () => {
    const id = '😀'.repeat(256);
    assert.equal(id.length, 512);
    assert.equal(accepted(validateMessage(valid({ message_id: id }))).messageId, id);
    assert.deepEqual(rejected(validateMessage(valid({ message_id: '😀'.repeat(257) }))), [
      TOO_LONG('message_id', 256),
    ]);
  });

  test('text: 4096 code points pass (emoji included), 4097 fail', () => {
    assert.equal(MAX_TEXT_LENGTH, 4096);
    const emoji = '😀'.repeat(4096);
    assert.equal(accepted(validateMessage(valid({ text: emoji }))).text, emoji);
    assert.equal(accepted(validateMessage(valid({ text: 'x'.repeat(4096) }))).text?.length, 4096);
    assert.deepEqual(rejected(validateMessage(valid({ text: 'x'.repeat(4097) }))), [TOO_LONG('text', 4096)]);
    assert.deepEqual(rejected(validateMessage(valid({ text: '😀'.repeat(4097) }))), [TOO_LONG('text', 4096)]);
  });

  for (const value of [42, false, ['hi'], { body: 'hi' }]) {
    test(`text as ${JSON.stringify(value)} is rejected`, () => {
      assert.deepEqual(rejected(validateMessage(valid({ text: value }))), [
        { loc: ['body', 'text'], msg: 'Input should be a valid string or null', type: 'string_type' },
      ]);
    });
  }

  const msisdnOk = ['+1', '+123456789012345', '+919876543210'];
  for (const value of msisdnOk) {
    test(`from/to ${value} is accepted`, () => {
      const m = accepted(validateMessage(valid({ from: value, to: value })));
      assert.deepEqual([m.from, m.to], [value, value]);
    });
  }

  const msisdnBad = [
    '+',
    '+1234567890123456', // 16 digits
    '919876543210',
    '++919876543210',
    '+91 98765 43210',
    '+91-9876543210',
    '+91987654321a',
    '+919876543210\n', // `$` must not match before a trailing newline
    ' +919876543210',
    '+٩١٩٨٧', // Arabic-Indic digits are not ASCII digits
    '',
  ];
  for (const value of msisdnBad) {
    test(`from/to ${JSON.stringify(value)} is a pattern error`, () => {
      assert.deepEqual(rejected(validateMessage(valid({ from: value, to: value }))), [PATTERN('from'), PATTERN('to')]);
    });
  }

  test('a number from is not coerced', () => {
    assert.deepEqual(rejected(validateMessage(valid({ from: 919876543210 }))), [NOT_STRING('from')]);
  });

  for (const ts of ['2025-02-30T10:00:00Z', '2025-01-15T25:00:00Z', '2025-01-15T10:00:00+00:00', '2025-01-15']) {
    test(`ts ${ts} is a datetime_format error`, () => {
      assert.deepEqual(rejected(validateMessage(valid({ ts }))), [BAD_TS(['body', 'ts'])]);
    });
  }

  test('a number ts (epoch seconds) is not accepted', () => {
    assert.deepEqual(rejected(validateMessage(valid({ ts: 1736935200 }))), [NOT_STRING('ts')]);
  });

  test('an empty object reports every required field at once', () => {
    assert.deepEqual(rejected(validateMessage({})), [
      MISSING('message_id'),
      MISSING('from'),
      MISSING('to'),
      MISSING('ts'),
    ]);
  });

  test('every field error is reported together, each with loc, msg and type', () => {
    const errors = rejected(
      validateMessage({ message_id: 7, from: '12345', to: '+1234567890123456', ts: '2025-02-30T00:00:00Z', text: 1 }),
    );
    assert.deepEqual(errors, [
      NOT_STRING('message_id'),
      PATTERN('from'),
      PATTERN('to'),
      BAD_TS(['body', 'ts']),
      { loc: ['body', 'text'], msg: 'Input should be a valid string or null', type: 'string_type' },
    ]);
  });

  for (const [name, value] of [
    ['null', null],
    ['an array', [valid()]],
    ['a string', 'hello'],
    ['a number', 42],
    ['a boolean', true],
    ['undefined', undefined],
  ] as const) {
    test(`${name} is not a JSON object`, () => {
      assert.deepEqual(rejected(validateMessage(value)), [NOT_OBJECT]);
    });
  }

  test('fields inherited through the prototype are not read', () => {
    const inherited: unknown = Object.create(valid());
    assert.deepEqual(rejected(validateMessage(inherited)), [
      MISSING('message_id'),
      MISSING('from'),
      MISSING('to'),
      MISSING('ts'),
    ]);
  });

  test('an object without a prototype is accepted', () => {
    const bare: unknown = Object.assign(Object.create(null) as object, valid());
    assert.equal(accepted(validateMessage(bare)).messageId, 'm1');
  });
});

describe('parseMessage (raw bytes)', () => {
  test('valid JSON bytes give the message', () => {
    assert.deepEqual(accepted(parseMessage(bytes(JSON.stringify(valid({ text: 'héllo 😀' }))))), {
      messageId: 'm1',
      from: '+919876543210',
      to: '+14155550100',
      ts: '2025-01-15T10:00:00Z',
      text: 'héllo 😀',
    });
  });

  test('`__proto__` and `constructor` keys change no prototype', () => {
    const body =
      '{"__proto__":{"polluted":"yes","message_id":"from-proto"},' +
      '"constructor":{"prototype":{"polluted":"yes"}},' +
      '"message_id":"m1","from":"+1","to":"+2","ts":"2025-01-15T10:00:00Z"}';
    const value = accepted(parseMessage(bytes(body)));
    assert.deepEqual(value, { messageId: 'm1', from: '+1', to: '+2', ts: '2025-01-15T10:00:00Z', text: null });
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal(Object.hasOwn(value, 'polluted'), false);
    assert.equal(Reflect.get(value, 'polluted'), undefined);
    assert.equal(Reflect.get({}, 'polluted'), undefined);
    assert.equal(Reflect.get(Object.prototype, 'polluted'), undefined);
  });

  test('a required field given only under `__proto__` is still missing', () => {
    const body = '{"__proto__":{"message_id":"m1"},"from":"+1","to":"+2","ts":"2025-01-15T10:00:00Z"}';
    assert.deepEqual(rejected(parseMessage(bytes(body))), [MISSING('message_id')]);
    assert.equal(Reflect.get({}, 'message_id'), undefined);
  });

  test('invalid UTF-8 bytes are rejected as invalid JSON, not replaced with U+FFFD', () => {
    const prefix = bytes('{"message_id":"m');
    const suffix = bytes('","from":"+1","to":"+2","ts":"2025-01-15T10:00:00Z"}');
    const body = new Uint8Array([...prefix, 0xff, 0xfe, ...suffix]);
    assert.deepEqual(rejected(parseMessage(body)), [
      { loc: ['body'], msg: 'Body is not valid UTF-8', type: 'json_invalid' },
    ]);
  });

  test('a truncated multi-byte sequence is rejected too', () => {
    const emoji = bytes('😀');
    const body = new Uint8Array([...bytes('{"message_id":"'), ...emoji.subarray(0, 2), ...bytes('"}')]);
    assert.deepEqual(rejected(parseMessage(body)), [
      { loc: ['body'], msg: 'Body is not valid UTF-8', type: 'json_invalid' },
    ]);
  });

  for (const body of ['', '{', '{"message_id":', "{'message_id':'m1'}", 'nul', '{"a":1}x']) {
    test(`malformed JSON ${JSON.stringify(body)} is one json_invalid error on the body`, () => {
      const errors = rejected(parseMessage(bytes(body)));
      assert.equal(errors.length, 1);
      const [error] = errors;
      assert.deepEqual(error?.loc, ['body']);
      assert.equal(error?.type, 'json_invalid');
      assert.match(error?.msg ?? '', /^JSON decode error: /);
    });
  }

  for (const body of ['[]', '"m1"', '42', 'null', 'true', '[{"message_id":"m1"}]']) {
    test(`non-object JSON ${body} is rejected`, () => {
      assert.deepEqual(rejected(parseMessage(bytes(body))), [NOT_OBJECT]);
    });
  }

  test('a repeated unknown key is no problem: the message is accepted', () => {
    const body = '{"message_id":"first","x":1,"x":2,"from":"+1","to":"+2","ts":"2025-01-15T10:00:00Z"}';
    assert.equal(accepted(parseMessage(bytes(body))).messageId, 'first');
  });
});

describe('repeated message fields', () => {
  const repeatedKeys = repeatedKeyFinder(['message_id', 'from', 'to', 'ts', 'text']);
  const base = '"from":"+1","to":"+2","ts":"2025-01-01T00:00:00Z"';

  test('a field given twice at the top level is found, escaped spellings included', () => {
    assert.deepEqual(repeatedKeys(`{"message_id":"a",${base},"message_id":"b"}`), ['message_id']);
    assert.deepEqual(repeatedKeys(`{"message_id":"a",${base},"message\\u005fid":"b"}`), ['message_id']);
    assert.deepEqual(repeatedKeys(`{"text":1, ${base} , "text" :2,"to":"+3","text":3}`), ['text', 'to']);
  });

  test('repeats elsewhere are not: other keys, nested objects, arrays, keys inside strings', () => {
    const nested = `{"message_id":"a",${base},"x":1,"x":2,"meta":{"message_id":"b","message_id":"c"},"list":[{"to":1},{"to":2}]}`;
    assert.deepEqual(repeatedKeys(nested), []);
    const inStrings = `{"message_id":"a, \\"message_id\\":\\"b\\"",${base},"text":"\\\\","note":"\\"to\\""}`;
    assert.equal(typeof JSON.parse(inStrings), 'object');
    assert.deepEqual(repeatedKeys(inStrings), []);
  });

  test('parseMessage answers 422 naming the field, with the other problems; message_id known only when given once', () => {
    const twice = parseMessage(Buffer.from(`{"message_id":"a",${base},"from":"+9"}`));
    assert.deepEqual(twice, {
      ok: false,
      messageId: 'a',
      errors: [{ loc: ['body', 'from'], msg: 'Field given more than once', type: 'duplicate_field' }],
    });
    const idTwice = parseMessage(Buffer.from(`{"message_id":"a",${base},"message_id":"b","text":7}`));
    assert.ok(!idTwice.ok && !('messageId' in idTwice));
    assert.deepEqual(idTwice.ok ? [] : idTwice.errors.map((e) => [e.loc, e.type]), [
      [['body', 'message_id'], 'duplicate_field'],
      [['body', 'text'], 'string_type'],
    ]);
  });
});

describe('parseListQuery', () => {
  const q = (s: string): Validated<ListQuery> => parseListQuery(new URLSearchParams(s));
  const intError = (name: string): FieldError => ({
    loc: ['query', name],
    msg: 'Input should be a valid integer',
    type: 'int_parsing',
  });
  const geError = (name: string, min: number): FieldError => ({
    loc: ['query', name],
    msg: `Input should be greater than or equal to ${min}`,
    type: 'greater_than_equal',
  });
  const leError = (name: string, max: number): FieldError => ({
    loc: ['query', name],
    msg: `Input should be less than or equal to ${max}`,
    type: 'less_than_equal',
  });

  test('no parameters: the defaults', () => {
    assert.equal(DEFAULT_LIMIT, 50);
    assert.equal(MAX_LIMIT, 100);
    assert.deepEqual(accepted(q('')), { limit: 50, offset: 0 });
  });

  test('all parameters together', () => {
    assert.deepEqual(accepted(q('limit=10&offset=20&from=%2B919876543210&since=2025-01-15T10:00:00Z&q=Hello')), {
      limit: 10,
      offset: 20,
      from: '+919876543210',
      since: '2025-01-15T10:00:00Z',
      q: 'Hello',
    });
  });

  test('unknown parameters are ignored', () => {
    assert.deepEqual(accepted(q('sort=desc&LIMIT=7&page=2')), { limit: 50, offset: 0 });
  });

  const limits: [string, number | FieldError][] = [
    ['1', 1],
    ['100', 100],
    ['007', 7],
    ['0', geError('limit', 1)],
    ['-0', geError('limit', 1)],
    ['-1', geError('limit', 1)],
    ['101', leError('limit', 100)],
    ['99999999999999999999999', leError('limit', 100)],
    ['1e3', intError('limit')],
    ['1e1', intError('limit')],
    ['10.0', intError('limit')],
    ['0x10', intError('limit')],
    [' 5', intError('limit')],
    ['5 ', intError('limit')],
    ['+5', intError('limit')],
    ['', intError('limit')],
    ['five', intError('limit')],
    ['Infinity', intError('limit')],
    ['٥', intError('limit')],
  ];
  for (const [raw, expected] of limits) {
    test(`limit=${JSON.stringify(raw)}`, () => {
      const result = parseListQuery(new URLSearchParams({ limit: raw }));
      if (typeof expected === 'number') assert.deepEqual(accepted(result), { limit: expected, offset: 0 });
      else assert.deepEqual(rejected(result), [expected]);
    });
  }

  const offsets: [string, number | FieldError][] = [
    ['0', 0],
    ['5', 5],
    ['1000000', 1_000_000],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
    ['9007199254740992', leError('offset', Number.MAX_SAFE_INTEGER)],
    ['-1', geError('offset', 0)],
    ['1e3', intError('offset')],
    [' 5', intError('offset')],
    ['', intError('offset')],
    ['5.5', intError('offset')],
  ];
  for (const [raw, expected] of offsets) {
    test(`offset=${JSON.stringify(raw)}`, () => {
      const result = parseListQuery(new URLSearchParams({ offset: raw }));
      if (typeof expected === 'number') assert.deepEqual(accepted(result), { limit: 50, offset: expected });
      else assert.deepEqual(rejected(result), [expected]);
    });
  }

  test('offset=-0 is zero, not negative zero', () => {
    const { offset } = accepted(q('offset=-0'));
    assert.equal(Object.is(offset, 0), true);
  });

  test('a repeated parameter is an error, not a silent pick', () => {
    assert.deepEqual(rejected(q('limit=5&limit=6&from=%2B1&from=%2B2')), [
      { loc: ['query', 'limit'], msg: 'Parameter given more than once', type: 'duplicate_parameter' },
      { loc: ['query', 'from'], msg: 'Parameter given more than once', type: 'duplicate_parameter' },
    ]);
  });

  test('every problem is reported at once', () => {
    assert.deepEqual(rejected(q('limit=0&offset=x&since=yesterday&q=' + 'a'.repeat(4097))), [
      geError('limit', 1),
      intError('offset'),
      BAD_TS(['query', 'since']),
      { loc: ['query', 'q'], msg: 'String should have at most 4096 characters', type: 'string_too_long' },
    ]);
  });

  test('an unencoded + in from (decoded to a space) becomes +', () => {
    assert.equal(accepted(q('from=+919876543210')).from, '+919876543210');
    assert.equal(accepted(q('from=%20919876543210')).from, '+919876543210');
  });

  test('an encoded + in from is kept', () => {
    assert.equal(accepted(q('from=%2B14155550100')).from, '+14155550100');
  });

  test('other from values are an exact match, untouched', () => {
    assert.equal(accepted(q('from=919876543210')).from, '919876543210');
    assert.equal(accepted(q('from=++1')).from, '  1');
    assert.equal(accepted(q('from=+91+98')).from, ' 91 98');
  });

  test('an empty from is no filter', () => {
    assert.deepEqual(accepted(q('from=')), { limit: 50, offset: 0 });
  });

  test('since accepts the ts format, fraction included, and is kept exactly', () => {
    assert.equal(accepted(q('since=2025-01-15T10:00:00.250Z')).since, '2025-01-15T10:00:00.250Z');
  });

  for (const since of ['2025-01-15T10:00:00.1234567890Z', '2025-02-30T00:00:00Z', '2025-01-15', '2025-01-15T10:00:00+00:00', '2025-01-15T10:00:00z', '']) {
    test(`since=${JSON.stringify(since)} is a datetime_format error`, () => {
      assert.deepEqual(rejected(parseListQuery(new URLSearchParams({ since }))), [BAD_TS(['query', 'since'])]);
    });
  }

  test('q is kept verbatim, % and _ included; an empty q is no filter', () => {
    assert.equal(accepted(q('q=50%25_off')).q, '50%_off');
    assert.deepEqual(accepted(q('q=')), { limit: 50, offset: 0 });
  });

  test('q: 4096 characters pass, 4097 fail', () => {
    assert.equal(accepted(parseListQuery(new URLSearchParams({ q: 'a'.repeat(4096) }))).q?.length, 4096);
    assert.deepEqual(rejected(parseListQuery(new URLSearchParams({ q: 'a'.repeat(4097) }))), [
      { loc: ['query', 'q'], msg: 'String should have at most 4096 characters', type: 'string_too_long' },
    ]);
  });

  test('q length counts code points like text does: a stored 4096-emoji text can be searched for', () => {
    const text = '😀'.repeat(4096);
    assert.equal(accepted(validateMessage(valid({ text }))).text, text);
    assert.equal(accepted(parseListQuery(new URLSearchParams({ q: text }))).q, text);
  });
});

describe('verifySignature and sign', () => {
  const SECRET = 'test-secret';
  const body = bytes('{"message_id":"m1","from":"+1","to":"+2","ts":"2025-01-15T10:00:00Z","text":"Hi"}');
  const good = createHmac('sha256', SECRET).update(body).digest('hex');

  test('sign is the lowercase hex HMAC-SHA256 of the body under the secret', () => {
    assert.equal(sign(body, SECRET), good);
    assert.match(good, /^[0-9a-f]{64}$/);
    assert.equal(sign(new TextDecoder().decode(body), SECRET), good);
  });

  test('a known HMAC-SHA256 test vector (RFC 4231 case 2)', () => {
    assert.equal(
      sign('what do ya want for nothing?', 'Jefe'),
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  test('a valid signature verifies', () => {
    assert.equal(verifySignature(body, good, [SECRET]), true);
  });

  test('hex is case-insensitive', () => {
    assert.equal(verifySignature(body, good.toUpperCase(), [SECRET]), true);
  });

  test('a sha256= prefix is accepted, in any case', () => {
    assert.equal(verifySignature(body, `sha256=${good}`, [SECRET]), true);
    assert.equal(verifySignature(body, `SHA256=${good.toUpperCase()}`, [SECRET]), true);
  });

  test('surrounding whitespace is tolerated', () => {
    assert.equal(verifySignature(body, ` ${good} `, [SECRET]), true);
  });

  test('a missing header fails', () => {
    assert.equal(verifySignature(body, undefined, [SECRET]), false);
    assert.equal(verifySignature(body, '', [SECRET]), false);
  });

  test('the wrong secret fails', () => {
    assert.equal(verifySignature(body, good, ['other-secret']), false);
  });

  test('no configured secret fails even a well-formed signature', () => {
    assert.equal(verifySignature(body, good, []), false);
  });

  test('a different body fails', () => {
    const other = bytes('{"message_id":"m2","from":"+1","to":"+2","ts":"2025-01-15T10:00:00Z","text":"Hi"}');
    assert.equal(verifySignature(other, good, [SECRET]), false);
  });

  test('wrong lengths fail without throwing', () => {
    assert.equal(verifySignature(body, good.slice(0, 62), [SECRET]), false);
    assert.equal(verifySignature(body, good + '00', [SECRET]), false);
    assert.equal(verifySignature(body, good.slice(0, 63), [SECRET]), false);
    assert.equal(verifySignature(body, 'ab', [SECRET]), false);
  });

  test('non-hex characters fail even when Buffer.from(hex) would silently accept a prefix', () => {
    // Buffer.from stops at the first bad pair: the right 64 hex digits followed by junk would decode to
    // exactly the right 32 bytes, so only a strict hex check rejects these.
    assert.equal(verifySignature(body, good + 'zz', [SECRET]), false);
    assert.equal(verifySignature(body, good + 'g', [SECRET]), false);
    assert.equal(verifySignature(body, `sha256=${good}-`, [SECRET]), false);
    assert.equal(verifySignature(body, good.slice(0, 62) + 'zz', [SECRET]), false);
    assert.equal(verifySignature(body, good.slice(0, 63) + 'g', [SECRET]), false);
    assert.equal(verifySignature(body, 'z'.repeat(64), [SECRET]), false);
  });

  test('a base64 signature of the right HMAC fails (hex only)', () => {
    const b64 = createHmac('sha256', SECRET).update(body).digest('base64');
    assert.equal(verifySignature(body, b64, [SECRET]), false);
  });

  test('other prefixes or a doubled prefix fail', () => {
    assert.equal(verifySignature(body, `sha1=${good}`, [SECRET]), false);
    assert.equal(verifySignature(body, `sha256=sha256=${good}`, [SECRET]), false);
    assert.equal(verifySignature(body, `sha256 ${good}`, [SECRET]), false);
    assert.equal(verifySignature(body, 'sha256=', [SECRET]), false);
  });

  test('rotation: a body signed with either configured secret verifies', () => {
    const secrets = ['new-secret', 'old-secret'];
    assert.equal(verifySignature(body, sign(body, 'new-secret'), secrets), true);
    assert.equal(verifySignature(body, sign(body, 'old-secret'), secrets), true);
    assert.equal(verifySignature(body, sign(body, 'older-secret'), secrets), false);
  });

  test('a signature over re-serialised JSON does not verify the raw bytes', () => {
    const raw = bytes('{ "message_id": "m1",\n  "from": "+1", "to": "+2", "ts": "2025-01-15T10:00:00Z" }');
    const reserialised = JSON.stringify(JSON.parse(new TextDecoder().decode(raw)));
    const wrong = sign(reserialised, SECRET);
    assert.equal(verifySignature(raw, wrong, [SECRET]), false);
    assert.equal(verifySignature(raw, sign(raw, SECRET), [SECRET]), true);
  });

  test('the HMAC covers the bytes: the same text in another encoding does not verify', () => {
    const text = '{"text":"é"}';
    const latin1 = new Uint8Array(Buffer.from(text, 'latin1'));
    assert.equal(verifySignature(latin1, sign(text, SECRET), [SECRET]), false);
  });
});
