// POST /webhook with Standard Webhooks signatures, through the real server with an injected clock.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { sign } from '../../src/domain/signature.ts';
import { parseSigningKey, signStandard } from '../../src/domain/standard-webhooks.ts';
import { ED25519_PUBLIC_KEY, ED25519_SIGNING_KEY, getJson, message, postSigned, postStandard, SECRET, standardKeys, useApp, type LogLine } from '../helpers.ts';

const NOW = new Date('2026-03-01T12:00:00.750Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const CURRENT = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const PREVIOUS = `whsec_${Buffer.alloc(24, 2).toString('base64')}`;
const STRANGER = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
// The sender holds the Ed25519 signing key, the service only its public key.
const SIGNING = ED25519_SIGNING_KEY;
const PUBLIC = ED25519_PUBLIC_KEY;
const keys = standardKeys;

const at = (offset = 0, id = 'msg_1'): { id: string; timestamp: number } => ({ id, timestamp: NOW_S + offset });

async function answer(res: Response): Promise<[number, unknown]> {
  return [res.status, await res.json()];
}

async function storedIds(url: string): Promise<string[]> {
  const { body } = await getJson(`${url}/messages?limit=100`);
  return (body as { data: { message_id: string }[] }).data.map((m) => m.message_id).sort();
}

const OK = [200, { status: 'ok' }];
const INVALID = [401, { detail: 'invalid signature' }];
const STALE = [401, { detail: 'timestamp outside tolerance' }];

describe('POST /webhook with Standard Webhooks only', () => {
  const app = useApp({ secrets: [], standardKeys: keys(CURRENT, PREVIOUS, PUBLIC), clock: () => NOW });

  test('readiness counts a Standard Webhooks key as a configured secret', async () => {
    assert.equal((await getJson(`${app().url}/health/ready`)).status, 200);
  });

  test('a message signed with the current key, the previous key, or the Ed25519 key is stored once', async () => {
    assert.deepEqual(await answer(await postStandard(app().url, message({ message_id: 'cur' }), CURRENT, at(0, 'msg_a'))), OK);
    assert.deepEqual(await answer(await postStandard(app().url, message({ message_id: 'prev' }), PREVIOUS, at(0, 'msg_b'))), OK);
    assert.deepEqual(await answer(await postStandard(app().url, message({ message_id: 'ed' }), SIGNING, at(0, 'msg_c'))), OK);
    // A retry of the same delivery: 200, nothing new.
    assert.deepEqual(await answer(await postStandard(app().url, message({ message_id: 'cur' }), CURRENT, at(0, 'msg_a'))), OK);
    const ids = await storedIds(app().url);
    for (const id of ['cur', 'prev', 'ed']) assert.ok(ids.includes(id), id);
  });

  test('a sender that signs by hand (node:crypto, as the specification describes) is accepted', async () => {
    const raw = JSON.stringify(message({ message_id: 'by-hand' }));
    const key = Buffer.from(CURRENT.slice('whsec_'.length), 'base64');
    const mac = createHmac('sha256', key).update(`msg_hand.${NOW_S}.${raw}`).digest('base64');
    const headers = { 'webhook-id': 'msg_hand', 'webhook-timestamp': String(NOW_S), 'webhook-signature': `v1,${mac}` };
    assert.deepEqual(await answer(await fetch(`${app().url}/webhook`, { method: 'POST', headers, body: raw })), OK);
  });

  test('several signatures in one header: one that matches is enough', async () => {
    const raw = JSON.stringify(message({ message_id: 'multi' }));
    const res = await postStandard(app().url, raw, CURRENT, at());
    assert.equal(res.status, 200);
    const stranger = await postStandard(app().url, raw, STRANGER, at());
    assert.deepEqual(await answer(stranger), INVALID);
    // The stranger's signature first, then v2 (unknown: ignored), then a good one.
    const good = signedHeaders(raw, PREVIOUS)['webhook-signature'];
    const bad = signedHeaders(raw, STRANGER)['webhook-signature'];
    const mixed = await postStandard(app().url, raw, STRANGER, { ...at(), headers: { 'webhook-signature': `${bad} v2,${good.slice(3)} ${good}` } });
    assert.deepEqual(await answer(mixed), OK);
  });

  test('repeated webhook-signature headers are one list, whichever holds the good entry', async () => {
    const raw = JSON.stringify(message({ message_id: 'repeated-header' }));
    const { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': good } = signedHeaders(raw, CURRENT);
    const bad = signedHeaders(raw, STRANGER)['webhook-signature'];
    for (const order of [[good, bad], [bad, good]]) {
      // Sent as two header lines (the server joins them with ", ", as a proxy that merges them would).
      const headers = new Headers([['webhook-id', id], ['webhook-timestamp', timestamp], ...order.map((s) => ['webhook-signature', s] as [string, string])]);
      assert.deepEqual(await answer(await fetch(`${app().url}/webhook`, { method: 'POST', headers, body: raw })), OK, order.join(' | '));
    }
  });

  test('a tampered id, timestamp or body is 401 and stores nothing', async () => {
    const raw = JSON.stringify(message({ message_id: 'tampered' }));
    const h = signedHeaders(raw, CURRENT);
    const post = (headers: Record<string, string>, body = raw): Promise<Response> =>
      fetch(`${app().url}/webhook`, { method: 'POST', headers: { ...h, ...headers }, body });
    assert.deepEqual(await answer(await post({ 'webhook-id': 'msg_other' })), INVALID);
    assert.deepEqual(await answer(await post({ 'webhook-timestamp': String(NOW_S + 1) })), INVALID);
    assert.deepEqual(await answer(await post({}, raw.replace('Hello', 'Hellp'))), INVALID);
    assert.ok(!(await storedIds(app().url)).includes('tampered'));
  });

  test('the tolerance: 300 s either way passes, 301 s is "timestamp outside tolerance", counted as stale_timestamp', async () => {
    const raw = (id: string): string => JSON.stringify(message({ message_id: id }));
    assert.deepEqual(await answer(await postStandard(app().url, raw('edge-past'), CURRENT, at(-300))), OK);
    assert.deepEqual(await answer(await postStandard(app().url, raw('edge-future'), CURRENT, at(300))), OK);
    assert.deepEqual(await answer(await postStandard(app().url, raw('stale'), CURRENT, at(-301))), STALE);
    assert.deepEqual(await answer(await postStandard(app().url, raw('future'), SIGNING, at(301))), STALE);
    const ids = await storedIds(app().url);
    assert.ok(ids.includes('edge-past') && ids.includes('edge-future') && !ids.includes('stale') && !ids.includes('future'));
    const metrics = await (await fetch(`${app().url}/metrics`)).text();
    assert.match(metrics, /^webhook_requests_total\{result="stale_timestamp"\} 2$/m);
  });

  test('missing, empty or garbage headers are 401', async () => {
    const raw = JSON.stringify(message({ message_id: 'garbage' }));
    const h = signedHeaders(raw, CURRENT);
    const cases: Record<string, string>[] = [
      { ...h, 'webhook-signature': '' },
      { ...h, 'webhook-signature': 'garbage' },
      { ...h, 'webhook-signature': 'v1,' },
      { ...h, 'webhook-timestamp': 'soon' },
      { 'webhook-timestamp': h['webhook-timestamp'], 'webhook-signature': h['webhook-signature'] },
      { 'webhook-id': h['webhook-id'], 'webhook-signature': h['webhook-signature'] },
      { 'webhook-id': h['webhook-id'], 'webhook-timestamp': h['webhook-timestamp'] },
      {},
    ];
    for (const headers of cases) {
      const res = await fetch(`${app().url}/webhook`, { method: 'POST', headers, body: raw });
      assert.deepEqual(await answer(res), INVALID, JSON.stringify(headers));
    }
    // The seed's scheme is not configured here, so a correct X-Signature is no way in either.
    assert.deepEqual(await answer(await postSigned(app().url, raw)), INVALID);
  });

  test('the order of checks stays: 401 before 422', async () => {
    const unsigned = await fetch(`${app().url}/webhook`, { method: 'POST', body: 'not json', headers: { 'webhook-signature': 'v1,x' } });
    assert.equal(unsigned.status, 401);
    assert.equal((await postStandard(app().url, 'not json', CURRENT, at())).status, 422);
  });

  test('logs never show a key or a signature; a stale timestamp logs at WARNING, a bad signature at ERROR', async () => {
    const raw = JSON.stringify(message({ message_id: 'logged' }));
    const h = signedHeaders(raw, CURRENT);
    await fetch(`${app().url}/webhook`, { method: 'POST', headers: { ...h, 'x-request-id': 'sw-bad', 'webhook-id': 'msg_x' }, body: raw });
    await postStandard(app().url, raw, CURRENT, { ...at(-1000), headers: { 'x-request-id': 'sw-stale' } });
    const line = (id: string): LogLine | undefined => app().logs.find((l) => l.request_id === id);
    assert.deepEqual([line('sw-bad')?.level, line('sw-bad')?.result, line('sw-bad')?.scheme], ['ERROR', 'invalid_signature', 'standard']);
    assert.deepEqual([line('sw-stale')?.level, line('sw-stale')?.result], ['WARNING', 'stale_timestamp']);
    const b64 = (k: string): string => k.slice(k.indexOf('_') + 1);
    for (const secret of [b64(CURRENT), b64(PREVIOUS), b64(SIGNING), b64(PUBLIC), h['webhook-signature'].slice(3)]) {
      assert.ok(!app().logged(secret), secret);
    }
  });
});

describe('POST /webhook with both schemes configured', () => {
  const app = useApp({ secrets: [SECRET], standardKeys: keys(CURRENT), toleranceSeconds: 10, clock: () => NOW });

  test('each request is verified by the scheme whose header it carries', async () => {
    assert.deepEqual(await answer(await postSigned(app().url, message({ message_id: 'xsig' }))), OK);
    assert.deepEqual(await answer(await postStandard(app().url, message({ message_id: 'std' }), CURRENT, at())), OK);
    assert.deepEqual(await storedIds(app().url), ['std', 'xsig']);
  });

  test('a request carrying webhook-signature is judged by Standard Webhooks alone, even with a good X-Signature', async () => {
    const raw = JSON.stringify(message({ message_id: 'both' }));
    const xsig = { 'x-signature': sign(raw, SECRET) };
    assert.deepEqual(await answer(await postStandard(app().url, raw, STRANGER, { ...at(), headers: xsig })), INVALID);
    assert.deepEqual(await answer(await postStandard(app().url, raw, CURRENT, { ...at(-11), headers: xsig })), STALE);
    assert.ok(!(await storedIds(app().url)).includes('both'));
  });

  test('WEBHOOK_TOLERANCE_SECONDS sets the window', async () => {
    assert.deepEqual(await answer(await postStandard(app().url, message({ message_id: 'w10' }), CURRENT, at(10))), OK);
    assert.deepEqual(await answer(await postStandard(app().url, message({ message_id: 'w11' }), CURRENT, at(11))), STALE);
  });
});

/** The three headers for `raw` signed with `key` at NOW, as a sender would send them. */
function signedHeaders(raw: string, key: string): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const parsed = parseSigningKey(key);
  if (!parsed.ok) throw new Error(parsed.error);
  return { 'webhook-id': 'msg_1', 'webhook-timestamp': String(NOW_S), 'webhook-signature': signStandard(parsed.key, 'msg_1', String(NOW_S), raw) };
}
