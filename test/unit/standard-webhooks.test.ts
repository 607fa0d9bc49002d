import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeBase64,
  MAX_SIGNATURE_ENTRIES,
  parseSigningKey,
  parseStandardKey,
  publicKeyOf,
  signStandard,
  verifyStandard,
  type SigningKey,
  type StandardHeaders,
  type StandardKey,
} from '../../src/domain/standard-webhooks.ts';

// The specification's own vectors (standard-webhooks/standard-webhooks, its libraries' tests).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SEED = 'whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TIMESTAMP = '1614265330';
const PAYLOAD = '{"test": 2432232314}';
const V1 = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const V1A = 'v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==';
const AT_VECTOR = { nowSeconds: Number(TIMESTAMP), toleranceSeconds: 300 };

function key(text: string): StandardKey {
  const parsed = parseStandardKey(text);
  assert.ok(parsed.ok, text);
  return parsed.key;
}

function signingKey(text: string): SigningKey {
  const parsed = parseSigningKey(text);
  assert.ok(parsed.ok, text);
  return parsed.key;
}

const PUBLIC = publicKeyOf(signingKey(SEED)) ?? '';
const body = Buffer.from(PAYLOAD);
const headers = (signature: string, over: Partial<StandardHeaders> = {}): StandardHeaders => ({ id: ID, timestamp: TIMESTAMP, signature, ...over });
const check = (h: StandardHeaders, keys: StandardKey[] = [key(SECRET)], clock = AT_VECTOR, raw: Uint8Array = body): string =>
  verifyStandard(raw, h, keys, clock);

describe('Standard Webhooks: the specification vectors', () => {
  test('v1: HMAC-SHA256 of id.timestamp.body under the base64-decoded whsec_ secret', () => {
    assert.equal(signStandard(signingKey(SECRET), ID, TIMESTAMP, PAYLOAD), V1);
    assert.equal(check(headers(V1)), 'ok');
  });

  test('v1a: Ed25519 under the seed, verified with its whpk_ public key', () => {
    assert.equal(signStandard(signingKey(SEED), ID, TIMESTAMP, PAYLOAD), V1A);
    assert.equal(check(headers(V1A), [key(PUBLIC)]), 'ok');
  });

  test('the whsec_ prefix is optional on input', () => {
    assert.equal(check(headers(V1), [key(SECRET.slice('whsec_'.length))]), 'ok');
  });
});

describe('Standard Webhooks: verification', () => {
  test('several signatures: any one entry matching any key verifies; unknown versions are ignored', () => {
    const wrong = 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=';
    assert.equal(check(headers(`${wrong} v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ${V1} ${wrong}`)), 'ok');
    assert.equal(check(headers(`${V1A} ${V1}`), [key(PUBLIC)]), 'ok');
    assert.equal(check(headers(`v2,${V1.slice(3)} v1b,${V1A.slice(4)}`), [key(SECRET), key(PUBLIC)]), 'invalid_signature');
  });

  test('a rotated key: either configured key verifies, a third does not', () => {
    const older = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
    const keys = [key('whsec_' + Buffer.alloc(32, 1).toString('base64')), key(SECRET)];
    assert.equal(check(headers(V1), keys), 'ok');
    assert.equal(check(headers(signStandard(signingKey(older), ID, TIMESTAMP, PAYLOAD)), keys), 'invalid_signature');
  });

  test('a tampered id, timestamp or body fails', () => {
    assert.equal(check(headers(V1, { id: `${ID}x` })), 'invalid_signature');
    assert.equal(check(headers(V1, { timestamp: String(Number(TIMESTAMP) + 1) })), 'invalid_signature');
    assert.equal(check(headers(V1), undefined, AT_VECTOR, Buffer.from('{"test": 2432232315}')), 'invalid_signature');
    assert.equal(check(headers(V1A), [key(PUBLIC)], AT_VECTOR, Buffer.from(`${PAYLOAD} `)), 'invalid_signature');
  });

  test('a timestamp more than the tolerance away, either way, is stale; the edges pass', () => {
    const at = (offset: number): { nowSeconds: number; toleranceSeconds: number } => ({ ...AT_VECTOR, nowSeconds: AT_VECTOR.nowSeconds + offset });
    assert.equal(check(headers(V1), undefined, at(300)), 'ok');
    assert.equal(check(headers(V1), undefined, at(-300)), 'ok');
    assert.equal(check(headers(V1), undefined, at(301)), 'stale_timestamp');
    assert.equal(check(headers(V1), undefined, at(-301)), 'stale_timestamp');
    assert.equal(check(headers(V1), undefined, { nowSeconds: AT_VECTOR.nowSeconds + 11, toleranceSeconds: 10 }), 'stale_timestamp');
  });

  test('missing, empty or garbage headers fail', () => {
    for (const signature of ['', ' ', 'garbage', 'v1', 'v1,', 'v1,!!!!', V1.slice(0, 8), `${V1}=`, V1.replace('v1,', 'v1 ')]) {
      assert.equal(check(headers(signature)), 'invalid_signature', signature);
    }
    assert.equal(check({ id: undefined, timestamp: TIMESTAMP, signature: V1 }), 'invalid_signature');
    assert.equal(check({ id: ID, timestamp: undefined, signature: V1 }), 'invalid_signature');
    assert.equal(check({ id: ID, timestamp: TIMESTAMP, signature: undefined }), 'invalid_signature');
    assert.equal(check(headers(V1, { id: '' })), 'invalid_signature');
  });

  test('a timestamp that is not plain integer seconds is malformed, not stale', () => {
    for (const timestamp of ['hello', `${TIMESTAMP}.5`, '1'.repeat(16), `0${TIMESTAMP}`, `-${TIMESTAMP}`, `+${TIMESTAMP}`, `${TIMESTAMP}abc`, '1e9']) {
      assert.equal(check(headers(V1, { timestamp })), 'invalid_signature', timestamp);
    }
  });

  test('a version checks only its own kind of key', () => {
    assert.equal(check(headers(V1), [key(PUBLIC)]), 'invalid_signature');
    assert.equal(check(headers(V1A), [key(SECRET)]), 'invalid_signature');
    assert.equal(check(headers(V1), []), 'invalid_signature');
  });
});

describe('Standard Webhooks: a header of many entries costs no more than a few', () => {
  /**
   * `count` distinct entries of `version` that match nothing here: real signatures of other deliveries, so
   * each one costs a whole verification (a random Ed25519 value is refused before the body is hashed).
   */
  const wrong = (version: 'v1' | 'v1a', count: number): string[] =>
    Array.from({ length: count }, (_, i) => signStandard(signingKey(version === 'v1' ? SECRET : SEED), `other-${i}`, TIMESTAMP, PAYLOAD));

  test(`at most ${MAX_SIGNATURE_ENTRIES} distinct entries are checked: a right one after them is not looked at; repeats count once`, () => {
    const cases: ['v1' | 'v1a', string, StandardKey[]][] = [
      ['v1', V1, [key(SECRET)]],
      ['v1a', V1A, [key(PUBLIC)]],
    ];
    for (const [version, right, keys] of cases) {
      const filler = wrong(version, MAX_SIGNATURE_ENTRIES - 1);
      assert.equal(check(headers([...filler, right].join(' ')), keys), 'ok', version);
      assert.equal(check(headers([...wrong(version, MAX_SIGNATURE_ENTRIES), right].join(' ')), keys), 'invalid_signature', version);
      const copies = Array.from({ length: 300 }, () => filler[0] ?? '');
      assert.equal(check(headers([...copies, right].join(' ')), keys), 'ok', `${version}: 300 copies of one entry`);
      // Unknown versions and malformed entries cost nothing and use up no place.
      assert.equal(check(headers([...Array.from({ length: 50 }, (_, i) => `v9,${i}`), 'v1a,???', right].join(' ')), keys), 'ok');
    }
  });

  test('170 distinct Ed25519 entries over a 256 KB body take a few times one entry, not 170 times (ratio in the same run)', () => {
    const big = Buffer.alloc(256 * 1024, 0x61);
    const keys = [key(PUBLIC)];
    const time = (signature: string): number => {
      const started = process.hrtime.bigint();
      assert.equal(check(headers(signature), keys, AT_VECTOR, big), 'invalid_signature');
      return Number(process.hrtime.bigint() - started);
    };
    const one = wrong('v1a', 1).join(' ');
    const many = wrong('v1a', 170).join(' ');
    // The fastest of several rounds, taken alternately: another process's burst inflates a round, never deflates it.
    let [oneBest, manyBest] = [Infinity, Infinity];
    for (let round = 0; round < 5; round += 1) {
      oneBest = Math.min(oneBest, time(one));
      manyBest = Math.min(manyBest, time(many));
    }
    const ratio = manyBest / oneBest;
    // Capped: about MAX_SIGNATURE_ENTRIES (8); uncapped: about 170. The bar sits far from both.
    assert.ok(ratio < 40, `170 entries took ${ratio.toFixed(1)} times one entry`);
  });
});

describe('Standard Webhooks: keys and base64', () => {
  test('configured keys: whsec_ or bare base64 is HMAC, whpk_ is Ed25519; bad ones say why without the key', () => {
    assert.equal(key(SECRET).kind, 'hmac');
    assert.equal(key(PUBLIC).kind, 'ed25519');
    for (const [text, pattern] of [
      ['whsec_', /non-empty base64/],
      ['whsec_not base64!', /non-empty base64/],
      ['whpk_' + Buffer.alloc(31).toString('base64'), /32-byte Ed25519 public key/],
      ['whpk_???', /32-byte Ed25519 public key/],
      [SEED, /whsk_ signing key.*whpk_ public key/],
    ] as const) {
      const parsed = parseStandardKey(text);
      assert.ok(!parsed.ok, text);
      assert.match(parsed.error, pattern);
      if (text.length > 8) assert.ok(!parsed.error.includes(text.slice(6)), 'the key is not echoed');
    }
  });

  test('signing keys: whsk_ is an Ed25519 seed (32 bytes, or 64 with the public key after it); whpk_ cannot sign', () => {
    const seed = Buffer.from(SEED.slice('whsk_'.length), 'base64');
    const raw = Buffer.from(PUBLIC.slice('whpk_'.length), 'base64');
    const long = signingKey('whsk_' + Buffer.concat([seed, raw]).toString('base64'));
    assert.equal(signStandard(long, ID, TIMESTAMP, PAYLOAD), V1A);
    const verifyOnly = parseSigningKey(PUBLIC);
    assert.ok(!verifyOnly.ok);
    assert.match(verifyOnly.error, /can verify but not sign/);
    assert.equal(parseSigningKey('whsk_' + Buffer.alloc(16).toString('base64')).ok, false);
  });

  test('base64 is strict: standard alphabet, one spelling per value, padding optional', () => {
    assert.deepEqual(decodeBase64('aGk='), Buffer.from('hi'));
    assert.deepEqual(decodeBase64('aGk'), Buffer.from('hi'));
    assert.deepEqual(decodeBase64(''), Buffer.alloc(0));
    for (const bad of ['aGl=', 'aG', 'a', 'aGk==', 'aGk=x', 'aG-_', 'aGk =', '====']) assert.equal(decodeBase64(bad), null, bad);
  });
});
