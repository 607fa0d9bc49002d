// loadConfig for Standard Webhooks keys, the tolerance and the bearer tokens (issue 16).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig, type Config, type ConfigResult } from '../../src/config.ts';

const HMAC = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const PUBLIC = `whpk_${Buffer.alloc(32, 9).toString('base64')}`;

function ok(result: ConfigResult): Readonly<Config> {
  if (!result.ok) assert.fail(`expected a valid config, got errors: ${JSON.stringify(result.errors)}`);
  return result.config;
}

function errors(result: ConfigResult): string[] {
  if (result.ok) assert.fail('expected configuration errors');
  return result.errors;
}

const noFile = (path: string): string => {
  throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
};

describe('loadConfig: Standard Webhooks', () => {
  test('space-separated keys: whsec_ or bare base64 is HMAC, whpk_ is Ed25519', () => {
    const config = ok(loadConfig({ STANDARD_WEBHOOKS_SECRET: ` ${HMAC}  ${HMAC.slice(6)}\n${PUBLIC} ` }));
    assert.deepEqual(
      config.standardKeys.map((k) => k.kind),
      ['hmac', 'hmac', 'ed25519'],
    );
    assert.equal(Object.isFrozen(config.standardKeys), true);
    assert.equal(config.toleranceSeconds, 300);
  });

  test('every bad key is reported by position, without echoing it, with the other problems', () => {
    const result = loadConfig({
      STANDARD_WEBHOOKS_SECRET: `${HMAC} whsec_%%%% whpk_AAAA whsk_${Buffer.alloc(32).toString('base64')}`,
      WEBHOOK_TOLERANCE_SECONDS: '0',
    });
    const list = errors(result);
    assert.deepEqual(
      list.map((e) => e.replace(/(:| must) .*$/, '')),
      [
        'STANDARD_WEBHOOKS_SECRET key 2 of 4',
        'STANDARD_WEBHOOKS_SECRET key 3 of 4',
        'STANDARD_WEBHOOKS_SECRET key 4 of 4',
        'WEBHOOK_TOLERANCE_SECONDS',
      ],
    );
    assert.ok(!JSON.stringify(list).includes('%%%%') && !JSON.stringify(list).includes('AAAA'));
  });

  test('WEBHOOK_TOLERANCE_SECONDS is a positive integer', () => {
    assert.equal(ok(loadConfig({ WEBHOOK_TOLERANCE_SECONDS: ' 60 ' })).toleranceSeconds, 60);
    for (const raw of ['0', '-5', '1.5', 'five', '1e3']) {
      assert.deepEqual(errors(loadConfig({ WEBHOOK_TOLERANCE_SECONDS: raw })), [
        `WEBHOOK_TOLERANCE_SECONDS must be an integer from 1 to 31536000, got ${JSON.stringify(raw)}`,
      ]);
    }
  });
});

describe('loadConfig: bearer tokens', () => {
  test('READ_TOKENS holds several tokens (rotation); METRICS_TOKEN one', () => {
    const config = ok(loadConfig({ READ_TOKENS: ' new-token  old-token ', METRICS_TOKEN: 'scrape-token' }));
    assert.deepEqual(config.readTokens, ['new-token', 'old-token']);
    assert.deepEqual(config.metricsTokens, ['scrape-token']);
    assert.equal(Object.isFrozen(config.readTokens), true);
  });

  test('READ_TOKENS_FILE is read (one token a line or space-separated), for container secrets', () => {
    const config = ok(loadConfig({ READ_TOKENS_FILE: '/run/secrets/read' }, (p) => (p === '/run/secrets/read' ? 'a-token\nb-token\n' : noFile(p))));
    assert.deepEqual(config.readTokens, ['a-token', 'b-token']);
  });

  test('ADMIN_TOKENS (or its file) holds the erasure tokens, apart from the read tokens; blank stops the start; short warns', () => {
    const config = ok(loadConfig({ ADMIN_TOKENS: 'admin-new-0123456789 admin-old-0123456789', READ_TOKENS: 'read-token-0123456789' }));
    assert.deepEqual([config.adminTokens, config.readTokens], [['admin-new-0123456789', 'admin-old-0123456789'], ['read-token-0123456789']]);
    assert.deepEqual(ok(loadConfig({})).adminTokens, []);
    const fromFile = ok(loadConfig({ ADMIN_TOKENS_FILE: '/run/secrets/admin' }, (p) => (p === '/run/secrets/admin' ? 'admin-file-0123456789\n' : noFile(p))));
    assert.deepEqual(fromFile.adminTokens, ['admin-file-0123456789']);
    assert.deepEqual(errors(loadConfig({ ADMIN_TOKENS_FILE: '/f' }, () => '\n')), ['ADMIN_TOKENS_FILE is set but holds no token; unset it or give at least one']);
    assert.deepEqual(errors(loadConfig({ ADMIN_TOKENS: ' ' })), ['ADMIN_TOKENS is set but holds no token; unset it or give at least one']);
    const short = loadConfig({ ADMIN_TOKENS: 'short' });
    assert.ok(short.ok && short.warnings.some((w) => w.startsWith('ADMIN_TOKENS holds a value shorter than 16 bytes')));
  });

  test('both set, an unreadable file, a token a header cannot carry, two metrics tokens: all reported', () => {
    const list = errors(loadConfig({ READ_TOKENS: 'x', READ_TOKENS_FILE: '/f', METRICS_TOKEN: 'a b' }));
    assert.deepEqual(list, ['READ_TOKENS and READ_TOKENS_FILE are both set; set only one', 'METRICS_TOKEN must be one token (Prometheus sends one)']);
    assert.deepEqual(errors(loadConfig({ READ_TOKENS_FILE: '/nope' }, noFile)), ['READ_TOKENS_FILE: cannot read "/nope" (ENOENT)']);
    const bad = errors(loadConfig({ READ_TOKENS: 'good t\u00f6ken', METRICS_TOKEN: 'sécret' }));
    assert.equal(bad.length, 2);
    assert.match(bad[0] ?? '', /^READ_TOKENS token 2 of 2 has characters a bearer token cannot carry/);
    assert.match(bad[1] ?? '', /^METRICS_TOKEN token 1 of 1 /);
    assert.ok(!bad.join().includes('öken') && !bad.join().includes('sécret'), 'tokens are not echoed');
  });
});

describe('loadConfig: a setting that holds no token is an error, a short one a warning', () => {
  const files = (content: string) => (p: string) => (p === '/f' ? content : noFile(p));
  test('READ_TOKENS_FILE of only a newline, METRICS_TOKEN of a space, READ_TOKENS of blanks: exit, naming each', () => {
    assert.deepEqual(errors(loadConfig({ READ_TOKENS_FILE: '/f', METRICS_TOKEN: ' ' }, files('\n'))), [
      'READ_TOKENS_FILE is set but holds no token; unset it or give at least one',
      'METRICS_TOKEN is set but holds no token; unset it or give at least one',
    ]);
    assert.deepEqual(errors(loadConfig({ READ_TOKENS: ' \t\n ' })), ['READ_TOKENS is set but holds no token; unset it or give at least one']);
    assert.deepEqual(errors(loadConfig({ STANDARD_WEBHOOKS_SECRET: '  ' })), [
      'STANDARD_WEBHOOKS_SECRET is set but holds no key; unset it or give at least one',
    ]);
  });

  test('an empty READ_TOKENS, READ_TOKENS_FILE or METRICS_TOKEN is an error: unset, they would leave their endpoints open', () => {
    assert.deepEqual(errors(loadConfig({ READ_TOKENS: '', METRICS_TOKEN: '' })), [
      'READ_TOKENS is set but holds no token; unset it or give at least one',
      'METRICS_TOKEN is set but holds no token; unset it or give at least one',
    ]);
    assert.deepEqual(errors(loadConfig({ READ_TOKENS_FILE: '' })), ['READ_TOKENS_FILE is set but names no file; unset it or name one']);
  });

  test('an empty variable that guards a door shut when unset counts as unset: ADMIN_TOKENS, STANDARD_WEBHOOKS_SECRET', () => {
    const config = ok(loadConfig({ ADMIN_TOKENS: '', ADMIN_TOKENS_FILE: '', STANDARD_WEBHOOKS_SECRET: '' }));
    assert.deepEqual([config.adminTokens, config.standardKeys, config.readTokens], [[], [], []]);
  });

  test('a token or an HMAC key shorter than 16 bytes: one warning per variable, naming it', () => {
    const short = (s: string): string => `${s} holds a value shorter than 16 bytes: use a long random one (openssl rand -hex 32)`;
    const loaded = loadConfig({
      READ_TOKENS: 'short-1 short-2 a-token-of-enough-bytes',
      METRICS_TOKEN: 'scrape',
      STANDARD_WEBHOOKS_SECRET: `whsec_${Buffer.alloc(15, 1).toString('base64')} ${PUBLIC}`,
      WEBHOOK_SECRET: 'a-secret-of-enough-bytes',
    });
    assert.ok(loaded.ok);
    assert.deepEqual(loaded.warnings, [short('STANDARD_WEBHOOKS_SECRET'), short('READ_TOKENS'), short('METRICS_TOKEN')]);
    const long = loadConfig({ READ_TOKENS: 'a-token-of-enough-bytes', STANDARD_WEBHOOKS_SECRET: `${HMAC} ${PUBLIC}` });
    assert.deepEqual(long.ok && long.warnings, []);
  });
});
