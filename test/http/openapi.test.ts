import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createApp } from '../../src/http/app.ts';
import { createOpenApiDocument } from '../../src/http/openapi.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createRegistry } from '../../src/observability/metrics.ts';
import { createServiceMetrics } from '../../src/observability/service-metrics.ts';
import type { Store } from '../../src/store/store.ts';
import { envelopeOf } from '../../src/domain/whatsapp-envelope.ts';
import { getJson, message, postSigned, postStandard, postWhatsApp, standardKeys, startApp } from '../helpers.ts';

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { name: string; version: string };
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** The route table as `METHOD path` strings, from the app itself (never started, so no port). */
function routeTable(): string[] {
  const registry = createRegistry();
  const app = createApp({
    config: {
      secrets: ['s'],
      maxBodyBytes: 1024,
      standardKeys: [],
      toleranceSeconds: 300,
      readTokens: [],
      metricsTokens: [],
      adminTokens: [],
      whatsapp: { appSecrets: [], verifyToken: null },
    },
    store: {} as Store,
    logger: createLogger({ level: 'ERROR', sink: () => {} }),
    registry,
    metrics: createServiceMetrics(registry),
    about: { name: 'x', version: '0' },
  });
  return app.routes.map((r) => `${r.method} ${r.path}`).sort();
}

function documented(doc: Record<string, unknown>): string[] {
  const paths = doc.paths as Record<string, Record<string, unknown>>;
  return Object.entries(paths)
    .flatMap(([path, item]) => Object.keys(item).filter((k) => HTTP_METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

/** Every `$ref` string anywhere in `node`. */
function refs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(refs);
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [v] : refs(v)));
}

describe('GET /openapi.json', () => {
  test('documents exactly the routes of the route table, no more, no fewer', async (t) => {
    const app = await startApp(t);
    const { status, body } = await getJson(`${app.url}/openapi.json`);
    assert.equal(status, 200);
    assert.deepEqual(documented(body as Record<string, unknown>), routeTable());
  });

  test('is OpenAPI 3.1 with the package version, and every $ref resolves', () => {
    const doc = createOpenApiDocument({ name: pkg.name, version: pkg.version });
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.info && (doc.info as Record<string, unknown>).version, pkg.version);
    const all = refs(doc);
    assert.ok(all.length > 10);
    for (const ref of all) {
      assert.match(ref, /^#\//);
      let node: unknown = doc;
      for (const part of ref.slice(2).split('/')) {
        node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[part] : undefined;
      }
      assert.ok(node !== undefined, `unresolved ${ref}`);
    }
  });

  test('every operation lists its status codes, each with a description', () => {
    const doc = createOpenApiDocument({ name: 'x', version: '0' });
    const expected: Record<string, string[]> = {
      'POST /webhook': ['200', '401', '413', '422', '500', '503'],
      'POST /webhook/whatsapp': ['200', '401', '413', '422', '500', '503'],
      'GET /webhook/whatsapp': ['200', '403'],
      'GET /messages': ['200', '401', '422', '500', '503'],
      'GET /messages/stream': ['200', '401', '422', '500', '503'],
      'GET /stats': ['200', '401', '500', '503'],
      'GET /metrics': ['200', '401', '500'],
      'GET /health/ready': ['200', '503'],
    };
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    for (const [op, codes] of Object.entries(expected)) {
      const [method = '', path = ''] = op.split(' ');
      const responses = paths[path]?.[method.toLowerCase()]?.responses ?? {};
      assert.deepEqual(Object.keys(responses).sort(), codes, op);
    }
    // Every response of every operation has its description (OpenAPI 3.1 requires one), a $ref's in components.
    const components = (doc.components as { responses?: Record<string, { description?: string }> }).responses ?? {};
    let checked = 0;
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue; // parameters shared by the path
        for (const [code, response] of Object.entries(operation.responses)) {
          const r = response as { $ref?: string; description?: string };
          const described = r.$ref === undefined ? r.description : components[r.$ref.split('/').at(-1) ?? '']?.description;
          assert.ok(typeof described === 'string' && described.trim() !== '', `${method.toUpperCase()} ${path} ${code}`);
          checked += 1;
        }
      }
    }
    assert.ok(checked > Object.values(expected).flat().length, `only ${checked} responses checked`);
  });
});

type Schema = { $ref?: string; properties?: Record<string, Schema>; required?: string[] };
type DocResponse = { $ref?: string; content?: Record<string, { schema: Schema }> };

/** Follows a `#/components/...` reference (of a schema or a response) inside the document. */
function resolve<T extends { $ref?: string }>(doc: Record<string, unknown>, node: T): T {
  if (node.$ref === undefined) return node;
  let found: unknown = doc;
  for (const part of node.$ref.slice(2).split('/')) found = (found as Record<string, unknown>)[part];
  return found as T;
}

describe('documented bodies match real answers', () => {
  test('every JSON field answered is documented, and every required field is answered', async (t) => {
    const app = await startApp(t);
    await postSigned(app.url, message());
    const image = { from: '16505551234', id: 'wamid.img', timestamp: '1739321024', type: 'image', image: { id: '1', caption: 'c' } };
    await postWhatsApp(app.url, envelopeOf('+15550783881', [image]));
    const doc = (await getJson(`${app.url}/openapi.json`)).body as Record<string, unknown>;
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, DocResponse> }>>;
    const check = (label: string, actual: unknown, schema: Schema): void => {
      const s = resolve(doc, schema);
      const keys = Object.keys(actual as object);
      const documentedKeys = Object.keys(s.properties ?? {});
      assert.deepEqual(keys.filter((k) => !documentedKeys.includes(k)), [], `${label}: undocumented fields`);
      assert.deepEqual((s.required ?? documentedKeys).filter((k) => !keys.includes(k)), [], `${label}: documented fields missing`);
    };
    const cases: [string, string, number, Promise<Response>][] = [
      ['get', '/', 200, fetch(`${app.url}/`)],
      ['get', '/messages', 200, fetch(`${app.url}/messages`)],
      ['get', '/stats', 200, fetch(`${app.url}/stats`)],
      ['get', '/health/live', 200, fetch(`${app.url}/health/live`)],
      ['get', '/health/ready', 200, fetch(`${app.url}/health/ready`)],
      ['post', '/webhook', 200, postSigned(app.url, message())],
      ['post', '/webhook', 401, postSigned(app.url, message(), 'wrong')],
      ['post', '/webhook', 422, postSigned(app.url, message({ from: 'x' }))],
      ['post', '/webhook/whatsapp', 200, postWhatsApp(app.url, envelopeOf('+15550783881', [image]))],
      ['post', '/webhook/whatsapp', 401, postWhatsApp(app.url, '{}', 'wrong')],
      ['post', '/webhook/whatsapp', 422, postWhatsApp(app.url, '[]')],
      ['get', '/messages', 422, fetch(`${app.url}/messages?limit=0`)],
    ];
    for (const [method, path, status, pending] of cases) {
      const res = await pending;
      assert.equal(res.status, status, `${method} ${path}`);
      const body: unknown = await res.json();
      const response = paths[path]?.[method]?.responses[String(status)];
      const schema = response && resolve(doc, response).content?.['application/json']?.schema;
      assert.ok(schema, `${method} ${path} ${status} has a documented JSON body`);
      check(`${method} ${path} ${status}`, body, schema);
    }
    // Nested shapes users parse: a message row and a readiness check set.
    const list = (await getJson(`${app.url}/messages`)).body as { data: unknown[] };
    check('message row', list.data[0], { $ref: '#/components/schemas/Message' });
    assert.equal(list.data.length, 2);
    check('message row of another type', list.data[1], { $ref: '#/components/schemas/Message' });
    assert.equal((list.data[1] as { type?: string }).type, 'image');
    const ready = (await getJson(`${app.url}/health/ready`)).body as { checks: unknown };
    const readiness: Schema = resolve(doc, { $ref: '#/components/schemas/Readiness' });
    check('readiness checks', ready.checks, readiness.properties?.checks ?? {});
  });
});

describe('documented 401s match real answers', () => {
  test('bearer-guarded reads and Standard Webhooks refusals answer as documented', async (t) => {
    const key = `whsec_${Buffer.alloc(32, 4).toString('base64')}`;
    const app = await startApp(t, { readTokens: ['r'], metricsTokens: ['m'], standardKeys: standardKeys(key) });
    const doc = (await getJson(`${app.url}/openapi.json`)).body as Record<string, unknown>;
    type Operation = { security?: unknown; responses: Record<string, DocResponse>; parameters?: { name: string }[] };
    const paths = doc.paths as Record<string, Record<string, Operation>>;
    for (const path of ['/messages', '/stats', '/metrics']) {
      const res = await fetch(`${app.url}${path}`);
      assert.equal(res.status, 401, path);
      const documentedReply = resolve(doc, paths[path]?.get?.responses['401'] ?? {}) as { headers?: object };
      assert.deepEqual(Object.keys(documentedReply.headers ?? {}), ['WWW-Authenticate'], path);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.deepEqual(Object.keys((await res.json()) as object), ['detail']);
      assert.ok(paths[path]?.get?.security, `${path} names its security scheme`);
    }
    const stale = await postStandard(app.url, message(), key, { id: 'msg_1', timestamp: 1 });
    assert.deepEqual([stale.status, await stale.json()], [401, { detail: 'timestamp outside tolerance' }]);
    const names = (paths['/webhook']?.post?.parameters ?? []).map((p) => p.name);
    assert.deepEqual(names, ['X-Signature', 'webhook-id', 'webhook-timestamp', 'webhook-signature']);
  });

  test('every bound documented on a query parameter is where the service starts refusing; every 503 names Retry-After', async (t) => {
    const app = await startApp(t, { adminTokens: ['a'], whatsapp: { appSecrets: ['w'], verifyToken: 'v' } });
    const doc = (await getJson(`${app.url}/openapi.json`)).body as Record<string, unknown>;
    type Parameter = { name: string; in: string; schema?: { maxLength?: number; maximum?: number } };
    type Operation = { parameters?: Parameter[]; responses: Record<string, DocResponse> };
    const paths = doc.paths as Record<string, Record<string, Operation>>;
    const checked: string[] = [];
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item).filter(([m]) => HTTP_METHODS.includes(m))) {
        const reply = resolve(doc, op.responses['503'] ?? {}) as { headers?: object };
        // A refused request's 503 says when to retry; readiness's is a probe's answer, and the page's own a
        // missing build, which waiting does not mend.
        if (op.responses['503'] && !['/health/ready', '/inbox'].some((p) => path.startsWith(p))) assert.ok('Retry-After' in (reply.headers ?? {}), `${method} ${path}: 503 without Retry-After`);
        for (const p of (op.parameters ?? []).filter((p) => p.in === 'query')) {
          const { maxLength, maximum } = p.schema ?? {};
          if (maxLength === undefined && maximum === undefined) continue;
          // The handshake refuses with 403, as Meta expects; everything else with 422.
          const handshake = path === '/webhook/whatsapp';
          const at = (v: string): string => `${app.url}${path}?${new URLSearchParams({ ...(handshake && { 'hub.mode': 'subscribe', 'hub.verify_token': 'v' }), [p.name]: v })}`;
          const value = (n: number): string => (maximum !== undefined ? String(n) : 'x'.repeat(n));
          const bound = maximum ?? maxLength ?? 0;
          const send = (v: string): Promise<Response> =>
            fetch(at(v), { method: method.toUpperCase(), headers: method === 'delete' ? { authorization: 'Bearer a' } : {} });
          const within = await send(value(bound));
          const beyond = await send(value(bound + 1));
          assert.ok(within.status < 400, `${method} ${path} ${p.name} at its bound: ${within.status}`);
          assert.equal(beyond.status, handshake ? 403 : 422, `${method} ${path} ${p.name} past its bound`);
          await Promise.all([within, beyond].map((r) => r.body?.cancel())); // a stream would stay open
          checked.push(`${method} ${path} ${p.name}`);
        }
      }
    }
    t.diagnostic(checked.join(', '));
    assert.ok(checked.length >= 5, checked.join(', '));
  });
});

describe('GET /', () => {
  test('names the service and its version from package.json, and links every endpoint', async (t) => {
    const app = await startApp(t);
    const { status, body } = await getJson(`${app.url}/`);
    assert.equal(status, 200);
    const b = body as { name: string; version: string; docs: string; endpoints: { method: string; path: string }[] };
    assert.equal(b.name, pkg.name);
    assert.equal(b.version, pkg.version);
    assert.equal(b.docs, '/openapi.json');
    assert.deepEqual(b.endpoints.map((e) => `${e.method} ${e.path}`).sort(), routeTable());
    // The links work: each GET endpoint answers something other than 404/405.
    for (const e of b.endpoints.filter((x) => x.method === 'GET')) {
      const res = await fetch(`${app.url}${e.path}`);
      // The live tail never ends by itself: its headers are the answer.
      if (res.headers.get('content-type')?.startsWith('text/event-stream')) await res.body?.cancel();
      else await res.arrayBuffer();
      assert.ok(res.status !== 404 && res.status !== 405, `${e.path}: ${res.status}`);
    }
  });
});
