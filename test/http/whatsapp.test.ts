// POST and GET /webhook/whatsapp through the real server: payloads written from the shapes of Meta's
// WhatsApp Cloud API webhook reference (text, media, reaction, interactive, statuses, business-scoped
// users), serialised and signed the way Meta does it.
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { envelopeOf, metaJson, signMeta } from '../../src/domain/whatsapp-envelope.ts';
import { getJson, postWhatsApp, SQLITE_ONLY, startApp, WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, type LogLine } from '../helpers.ts';

const BUSINESS = '15550783881';
const WAMID = (n: number | string): string => `wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA${n}`;

/** A message item as Meta's reference shows it: from a phone number, with `fields` for its type. */
function item(n: number | string, type: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { from: '16505551234', id: WAMID(n), timestamp: '1739321024', type, ...fields };
}

const phoneContact = { profile: { name: 'Sheena Nelson' }, wa_id: '16505551234' };

async function listed(url: string, query = ''): Promise<{ data: Record<string, unknown>[]; total: number }> {
  const { status, body } = await getJson(`${url}/messages?limit=100${query}`);
  assert.equal(status, 200);
  return body as { data: Record<string, unknown>[]; total: number };
}

async function metrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

const whatsappLines = (logs: LogLine[]): LogLine[] => logs.filter((l) => l.msg === 'request' && l.path === '/webhook/whatsapp');

describe('GET /webhook/whatsapp (the subscription handshake)', () => {
  const handshake = (url: string, params: string): Promise<Response> => fetch(`${url}/webhook/whatsapp?${params}`);

  test('echoes hub.challenge as text/plain when the verify token matches', async (t) => {
    const app = await startApp(t);
    const res = await handshake(app.url, `hub.mode=subscribe&hub.verify_token=${WHATSAPP_VERIFY_TOKEN}&hub.challenge=1158201444`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await res.text(), '1158201444');
  });

  test('403 for a wrong or missing token, another mode, no challenge, or a parameter given twice', async (t) => {
    const app = await startApp(t);
    const ok = `hub.verify_token=${WHATSAPP_VERIFY_TOKEN}&hub.challenge=42`;
    for (const params of [
      'hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42',
      `hub.mode=subscribe&hub.verify_token=${WHATSAPP_VERIFY_TOKEN}x&hub.challenge=42`,
      'hub.mode=subscribe&hub.challenge=42',
      `hub.mode=unsubscribe&${ok}`,
      `hub.mode=subscribe&hub.verify_token=${WHATSAPP_VERIFY_TOKEN}`,
      `hub.mode=subscribe&${ok}&hub.challenge=43`,
      `hub.mode=subscribe&${ok}&hub.verify_token=wrong`,
      '',
    ]) {
      const res = await handshake(app.url, params);
      assert.equal(res.status, 403, params);
      assert.deepEqual(await res.json(), { detail: 'verification failed' }, params);
    }
    // Each refusal is a WARNING naming why; the token never reaches the log, right or wrong.
    const lines = whatsappLines(app.logs);
    assert.equal(lines.length, 8);
    assert.ok(lines.every((l) => l.level === 'WARNING' && l.status === 403 && typeof l.reason === 'string'));
    assert.ok(!JSON.stringify(app.logs).includes(WHATSAPP_VERIFY_TOKEN));
  });

  test('403 whatever is sent while WHATSAPP_VERIFY_TOKEN is unset', async (t) => {
    const app = await startApp(t, { whatsapp: { appSecrets: [WHATSAPP_APP_SECRET], verifyToken: null } });
    const res = await handshake(app.url, 'hub.mode=subscribe&hub.verify_token=&hub.challenge=42');
    assert.equal(res.status, 403);
  });
});

describe('POST /webhook/whatsapp: signature', () => {
  const text = envelopeOf('+' + BUSINESS, [item(1, 'text', { text: { body: 'Hello' } })], [phoneContact]);

  test('401 for a missing, wrong, unprefixed or truncated X-Hub-Signature-256; nothing stored', async (t) => {
    const app = await startApp(t);
    const raw = metaJson(text);
    const hex = signMeta(raw, WHATSAPP_APP_SECRET).slice('sha256='.length);
    const cases: Record<string, string | undefined> = {
      missing: undefined,
      'wrong secret': signMeta(raw, 'not-the-app-secret'),
      'no sha256= prefix': hex,
      truncated: `sha256=${hex.slice(0, 62)}`,
      'sha1 style': `sha1=${hex}`,
    };
    for (const [label, signature] of Object.entries(cases)) {
      const res = await fetch(`${app.url}/webhook/whatsapp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(signature !== undefined && { 'x-hub-signature-256': signature }) },
        body: raw,
      });
      assert.equal(res.status, 401, label);
      assert.deepEqual(await res.json(), { detail: 'invalid signature' }, label);
    }
    assert.equal((await listed(app.url)).total, 0);
    const lines = whatsappLines(app.logs);
    assert.equal(lines.length, 5);
    assert.ok(lines.every((l) => l.level === 'ERROR' && l.result === 'invalid_signature' && l.scheme === 'x-hub-signature-256'));
    assert.ok(!JSON.stringify(app.logs).includes(hex));
    assert.match(await metrics(app.url), /^webhook_requests_total\{result="invalid_signature",source="whatsapp"\} 5$/m);
  });

  test('the signature is over the bytes Meta sends: escaped emoji and non-Latin text verify and are stored as characters', async (t) => {
    const app = await startApp(t);
    const body = 'Привет 👋 こんにちは مرحبا, a/b';
    const envelope = envelopeOf('+' + BUSINESS, [item('u', 'text', { text: { body } })], [phoneContact]);
    const raw = metaJson(envelope);
    assert.ok(raw.includes('\\u041f') && raw.includes('\\ud83d\\udc4b') && raw.includes('a\\/b'), raw);
    assert.ok(!/[^\x00-\x7f]/.test(raw), 'Meta sends ASCII only');
    // The same JSON re-serialised with the characters themselves is other bytes: its signature does not
    // match what was sent.
    const plain = await fetch(`${app.url}/webhook/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMeta(JSON.stringify(envelope), WHATSAPP_APP_SECRET) },
      body: raw,
    });
    assert.equal(plain.status, 401);
    const res = await postWhatsApp(app.url, raw);
    assert.equal(res.status, 200);
    assert.equal((await listed(app.url)).data[0]?.text, body);
    assert.equal((await listed(app.url, `&q=${encodeURIComponent('Привет 👋')}`)).total, 1);
  });

  test('503 while no app secret is set, before the signature is looked at', async (t) => {
    const app = await startApp(t, { whatsapp: { appSecrets: [], verifyToken: WHATSAPP_VERIFY_TOKEN } });
    const res = await postWhatsApp(app.url, text);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { detail: 'whatsapp app secret not configured' });
    // Readiness is about /webhook's secrets and the database, unchanged.
    assert.equal((await fetch(`${app.url}/health/ready`)).status, 200);
  });

  test('rotation: the current and the previous app secret both verify; any other does not', async (t) => {
    const app = await startApp(t, { whatsapp: { appSecrets: ['new-secret', 'old-secret'], verifyToken: null } });
    const one = (n: number): unknown => envelopeOf('+' + BUSINESS, [item(n, 'text', { text: { body: `m${n}` } })]);
    assert.equal((await postWhatsApp(app.url, one(1), 'new-secret')).status, 200);
    assert.equal((await postWhatsApp(app.url, one(2), 'old-secret')).status, 200);
    assert.equal((await postWhatsApp(app.url, one(3), 'older-secret')).status, 401);
    assert.equal((await listed(app.url)).total, 2);
  });
});

describe('POST /webhook/whatsapp: what is stored', () => {
  test('a text message: the seed\'s five fields exactly, from and to with +, ts from unix seconds', async (t) => {
    const app = await startApp(t);
    const res = await postWhatsApp(app.url, envelopeOf('+' + BUSINESS, [item(1, 'text', { text: { body: 'Hello' } })], [phoneContact]));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
    assert.deepEqual((await listed(app.url)).data, [
      { message_id: WAMID(1), from: '+16505551234', to: '+15550783881', ts: '2025-02-12T00:43:44Z', text: 'Hello' },
    ]);
    const [line] = whatsappLines(app.logs);
    assert.equal(line?.result, 'created');
    assert.equal(line?.message_id, WAMID(1));
    assert.ok(!JSON.stringify(app.logs).includes('Hello'), 'no text in the logs');
  });

  test('every other type carries `type`; text is the caption of an image, video or document, else null', async (t) => {
    const app = await startApp(t);
    const media = (caption?: string): Record<string, unknown> => ({
      mime_type: 'image/jpeg',
      sha256: 'bd8ac3fd3c4c8a7c6bd6a6c2d8d2a1e1f95a6b1c8b6b7f0f0c1d2e3f4a5b6c7d',
      id: '1003383421387256',
      ...(caption !== undefined && { caption }),
    });
    const items = [
      item('img', 'image', { image: media('Our new 🛋️ sofa') }),
      item('img-bare', 'image', { image: media() }),
      item('video', 'video', { video: media('clip') }),
      item('doc', 'document', { document: { ...media('the invoice'), filename: 'invoice.pdf' } }),
      item('audio', 'audio', { audio: { mime_type: 'audio/ogg; codecs=opus', sha256: 'x', id: '2', voice: true } }),
      item('sticker', 'sticker', { sticker: { mime_type: 'image/webp', sha256: 'x', id: '3', animated: false } }),
      item('loc', 'location', { location: { latitude: 37.483307, longitude: 122.148981, name: 'Philz Coffee', address: '101 Forest Ave, Palo Alto' } }),
      item('react', 'reaction', { reaction: { message_id: WAMID('mine'), emoji: '\u{1F600}' } }),
      item('unreact', 'reaction', { reaction: { message_id: WAMID('mine') } }),
      item('list', 'interactive', {
        context: { from: BUSINESS, id: WAMID('menu') },
        interactive: { type: 'list_reply', list_reply: { id: 'priority_express', title: 'Priority Mail Express', description: 'Next Day' } },
      }),
      item('btn', 'interactive', { interactive: { type: 'button_reply', button_reply: { id: 'cancel-button', title: 'Cancel' } } }),
      item('quick', 'button', { context: { from: BUSINESS, id: WAMID('tpl') }, button: { payload: 'STOP', text: 'Stop promotions' } }),
      item('unsup', 'unsupported', { errors: [{ code: 131051, title: 'Message type unknown', message: 'Message type unknown' }] }),
    ];
    const res = await postWhatsApp(app.url, envelopeOf('+' + BUSINESS, items, [phoneContact]));
    assert.equal(res.status, 200);
    const byId = new Map((await listed(app.url)).data.map((m) => [m.message_id, m]));
    const expected: [string, string, string | null][] = [
      ['img', 'image', 'Our new 🛋️ sofa'],
      ['img-bare', 'image', null],
      ['video', 'video', 'clip'],
      ['doc', 'document', 'the invoice'],
      ['audio', 'audio', null],
      ['sticker', 'sticker', null],
      ['loc', 'location', null],
      ['react', 'reaction', null],
      ['unreact', 'reaction', null],
      ['list', 'interactive', null],
      ['btn', 'interactive', null],
      ['quick', 'button', null],
      ['unsup', 'unsupported', null],
    ];
    assert.equal(byId.size, expected.length);
    for (const [n, type, text] of expected) {
      assert.deepEqual(byId.get(WAMID(n)), { message_id: WAMID(n), from: '+16505551234', to: '+15550783881', ts: '2025-02-12T00:43:44Z', text, type }, n);
    }
    // Search and the sender filter treat them like any message.
    assert.deepEqual((await listed(app.url, '&q=sofa')).data.map((m) => m.message_id), [WAMID('img')]);
    assert.equal((await listed(app.url, '&from=%2B16505551234')).total, expected.length);
  });

  test('a sender known only by a business-scoped user id is stored, listed, filtered and counted under that id', async (t) => {
    const app = await startApp(t);
    const bsuid = 'US.13491208655302741918';
    const other = 'IN.1648738043044942';
    const envelope = envelopeOf(
      '+' + BUSINESS,
      [
        { from_user_id: bsuid, id: WAMID('b1'), timestamp: '1739321024', type: 'text', text: { body: 'from a username' } },
        { from_user_id: bsuid, id: WAMID('b2'), timestamp: '1739321025', type: 'reaction', reaction: { message_id: WAMID(9), emoji: '👍' } },
      ],
      [{ profile: { name: 'Kim', username: 'kim.42' }, user_id: bsuid }],
    );
    assert.equal((await postWhatsApp(app.url, envelope)).status, 200);
    // Only the contact names the user: its user_id is the sender.
    const contactOnly = envelopeOf('+' + BUSINESS, [{ id: WAMID('b3'), timestamp: '1739321026', type: 'text', text: { body: 'hi' } }], [
      { profile: { name: 'Ana' }, user_id: other },
    ]);
    assert.equal((await postWhatsApp(app.url, contactOnly)).status, 200);
    assert.deepEqual((await listed(app.url)).data.map((m) => [m.message_id, m.from]), [
      [WAMID('b1'), bsuid],
      [WAMID('b2'), bsuid],
      [WAMID('b3'), other],
    ]);
    assert.deepEqual((await listed(app.url, `&from=${bsuid}`)).data.map((m) => m.message_id), [WAMID('b1'), WAMID('b2')]);
    const stats = (await getJson(`${app.url}/stats`)).body as Record<string, unknown>;
    assert.deepEqual(stats.messages_per_sender, [
      { from: bsuid, count: 2 },
      { from: other, count: 1 },
    ]);
  });
});

describe('POST /webhook/whatsapp: batches, statuses, redelivery, bad input', () => {
  const batch = {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: BUSINESS, phone_number_id: '106540352242922' },
              contacts: [phoneContact],
              messages: [item('a1', 'text', { text: { body: 'one' } }), item('a2', 'text', { text: { body: 'two' } })],
            },
          },
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: BUSINESS, phone_number_id: '106540352242922' },
              statuses: [
                { id: WAMID('out1'), status: 'delivered', timestamp: '1739321030', recipient_id: '16505551234' },
                { id: WAMID('out2'), status: 'read', timestamp: '1739321031', recipient_id: '16505551234' },
              ],
            },
          },
        ],
      },
      {
        id: '102290129340399',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              // Another number of the same app, written with a space and a dash.
              metadata: { display_phone_number: '1 555-010-0200', phone_number_id: '106540352242923' },
              messages: [item('b1', 'text', { from: '447700900123', text: { body: 'three' } })],
            },
          },
          { field: 'account_update', value: { phone_number: BUSINESS, event: 'VERIFIED_ACCOUNT' } },
        ],
      },
    ],
  };

  test('entries, changes and messages of one request are stored together; statuses and other fields only counted', async (t) => {
    const app = await startApp(t);
    const res = await postWhatsApp(app.url, batch);
    assert.equal(res.status, 200);
    const { data, total } = await listed(app.url);
    assert.equal(total, 3);
    assert.deepEqual(data.map((m) => [m.message_id, m.from, m.to, m.text]), [
      [WAMID('a1'), '+16505551234', '+15550783881', 'one'],
      [WAMID('a2'), '+16505551234', '+15550783881', 'two'],
      [WAMID('b1'), '+447700900123', '+15550100200', 'three'],
    ]);
    const text = await metrics(app.url);
    assert.match(text, /^whatsapp_items_total\{outcome="created"\} 3$/m);
    assert.match(text, /^whatsapp_items_total\{outcome="ignored"\} 1$/m);
    assert.match(text, /^whatsapp_statuses_total\{status="delivered"\} 1$/m);
    assert.match(text, /^whatsapp_statuses_total\{status="read"\} 1$/m);
    assert.match(text, /^webhook_requests_total\{result="created",source="whatsapp"\} 1$/m);
    // /webhook's own series keep their shape.
    assert.match(text, /^webhook_requests_total\{result="created"\} 0$/m);
    const [line] = whatsappLines(app.logs);
    assert.deepEqual([line?.result, line?.messages, line?.created, line?.statuses, line?.dup], ['created', 3, 3, 2, false]);
  });

  test('a redelivered request is stored once; an id repeated within one request too', async (t) => {
    const app = await startApp(t);
    assert.equal((await postWhatsApp(app.url, batch)).status, 200);
    const again = await Promise.all([postWhatsApp(app.url, batch), postWhatsApp(app.url, batch)]);
    assert.deepEqual(again.map((r) => r.status), [200, 200]);
    const twice = envelopeOf('+' + BUSINESS, [item('c1', 'text', { text: { body: 'first' } }), item('c1', 'text', { text: { body: 'second' } })]);
    assert.equal((await postWhatsApp(app.url, twice)).status, 200);
    const { data, total } = await listed(app.url);
    assert.equal(total, 4);
    assert.equal(data.find((m) => m.message_id === WAMID('c1'))?.text, 'first');
    assert.deepEqual(whatsappLines(app.logs).map((l) => [l.result, l.dup]), [
      ['created', false],
      ['duplicate', true],
      ['duplicate', true],
      ['created', false],
    ]);
    const text = await metrics(app.url);
    assert.match(text, /^whatsapp_items_total\{outcome="created"\} 4$/m);
    assert.match(text, /^whatsapp_items_total\{outcome="duplicate"\} 7$/m);
    assert.equal(((await getJson(`${app.url}/stats`)).body as { total_messages: number }).total_messages, 4);
  });

  test('statuses alone: 200, nothing stored, counted by status (an unknown status as other)', async (t) => {
    const app = await startApp(t);
    const value = {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: BUSINESS, phone_number_id: '106540352242922' },
      statuses: [
        { id: WAMID('s1'), status: 'sent', timestamp: '1750857384', recipient_id: '16505551234', pricing: { billable: true, pricing_model: 'PMP', category: 'service' } },
        { id: WAMID('s2'), status: 'failed', timestamp: '1750857385', recipient_id: '16505551234', errors: [{ code: 131047, title: 'Re-engagement message' }] },
        { id: WAMID('s3'), status: 'something_new', timestamp: '1750857386', recipient_id: '16505551234' },
      ],
    };
    const res = await postWhatsApp(app.url, { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value }] }] });
    assert.equal(res.status, 200);
    assert.equal((await listed(app.url)).total, 0);
    const text = await metrics(app.url);
    for (const [status, n] of [['sent', 1], ['failed', 1], ['other', 1], ['read', 0]] as const) {
      assert.match(text, new RegExp(`^whatsapp_statuses_total\\{status="${status}"\\} ${n}$`, 'm'), status);
    }
    assert.match(text, /^webhook_requests_total\{result="accepted",source="whatsapp"\} 1$/m);
  });

  test('a malformed item is logged and counted; the rest of the request is stored and answered 200', async (t) => {
    const app = await startApp(t);
    const items = [
      item('good1', 'text', { text: { body: 'kept' } }),
      item('bad-from', 'text', { from: '+1 650 555', text: { body: 'secret words' } }),
      item('bad-ts', 'text', { timestamp: 'yesterday', text: { body: 'x' } }),
      item('no-body', 'text', { text: {} }),
      { from: '16505551234', timestamp: '1739321024', type: 'text', text: { body: 'no id' } },
      'not an object',
      item('good2', 'image', { image: { id: '1', mime_type: 'image/png', sha256: 'x' } }),
    ];
    const res = await postWhatsApp(app.url, envelopeOf('+' + BUSINESS, items));
    assert.equal(res.status, 200);
    assert.deepEqual((await listed(app.url)).data.map((m) => m.message_id), [WAMID('good1'), WAMID('good2')]);
    const [line] = whatsappLines(app.logs);
    assert.equal(line?.level, 'WARNING');
    assert.equal(line?.malformed, 5);
    const logged = line?.malformed_items as { loc: unknown[]; msg: string; message_id?: string }[];
    assert.deepEqual(logged.map((m) => [m.loc.slice(-2).join('.'), m.message_id]), [
      ['1.from', WAMID('bad-from')],
      ['2.timestamp', WAMID('bad-ts')],
      ['text.body', WAMID('no-body')],
      ['4.id', undefined],
      ['messages.5', undefined],
    ]);
    assert.ok(!JSON.stringify(app.logs).includes('secret words'), 'no text in the logs');
    assert.match(await metrics(app.url), /^whatsapp_items_total\{outcome="malformed"\} 5$/m);
  });

  test('a body that is not Meta\'s envelope at all is a 422 naming the problem; nothing stored', async (t) => {
    const app = await startApp(t);
    const cases: [string, unknown, unknown[]][] = [
      ['not JSON', '{"object":', ['body']],
      ['an array', [], ['body']],
      ['another object', { object: 'page', entry: [] }, ['body', 'object']],
      ['no entry', { object: 'whatsapp_business_account' }, ['body', 'entry']],
      ['a contract message', { message_id: 'm1', from: '+1', to: '+2', ts: '2025-01-15T10:00:00Z' }, ['body', 'object']],
    ];
    for (const [label, body, loc] of cases) {
      const res = await postWhatsApp(app.url, typeof body === 'string' ? body : metaJson(body));
      assert.equal(res.status, 422, label);
      const detail = ((await res.json()) as { detail: { loc: unknown[] }[] }).detail;
      assert.deepEqual(detail[0]?.loc, loc, label);
    }
    assert.equal((await listed(app.url)).total, 0);
    assert.match(await metrics(app.url), /^webhook_requests_total\{result="validation_error",source="whatsapp"\} 5$/m);
  });

  test('storage unavailable: 503 with Retry-After (Meta delivers again later) and nothing of the request stored', { skip: SQLITE_ONLY }, async (t) => {
    let db: DatabaseSync | undefined;
    const app = await startApp(t, { onOpen: (opened) => (db = opened) });
    assert.equal((await postWhatsApp(app.url, envelopeOf('+' + BUSINESS, [item('first', 'audio')]))).status, 200);
    db?.exec('PRAGMA query_only = ON');
    const res = await postWhatsApp(app.url, batch);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.deepEqual(await res.json(), { detail: 'storage temporarily unavailable, retry later' });
    // The access line says why, as /webhook's does.
    const line = app.logs.find((l) => l.msg === 'request' && l.path === '/webhook/whatsapp' && l.status === 503);
    assert.match(String(line?.error), /readonly/);
    assert.deepEqual((await listed(app.url)).data.map((m) => m.message_id), [WAMID('first')]);
    assert.match(await metrics(app.url), /^webhook_requests_total\{result="store_unavailable",source="whatsapp"\} 1$/m);
  });

  test('a body over MAX_BODY_BYTES is a 413', async (t) => {
    const app = await startApp(t, { maxBodyBytes: 512 });
    const big = envelopeOf('+' + BUSINESS, [item(1, 'text', { text: { body: 'x'.repeat(600) } })]);
    const res = await postWhatsApp(app.url, big);
    assert.equal(res.status, 413);
    assert.match(await metrics(app.url), /^webhook_requests_total\{result="payload_too_large",source="whatsapp"\} 1$/m);
  });
});
