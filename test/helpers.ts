import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Config } from '../src/config.ts';
import { sign } from '../src/domain/signature.ts';
import { metaJson, signMeta } from '../src/domain/whatsapp-envelope.ts';
import { parseSigningKey, parseStandardKey, publicKeyOf, signStandard, type StandardKey } from '../src/domain/standard-webhooks.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startService, type ServiceOptions } from '../src/service.ts';
import { createSqliteStore, type SqliteStoreOptions } from '../src/store/sqlite/sqlite-store.ts';

// 16 bytes or more: a shorter secret logs a WARNING at start, which tests of the start-up lines would see.
export const SECRET = 'test-secret-0123456789';
export const WHATSAPP_APP_SECRET = 'test-app-secret-0123456789';
export const WHATSAPP_VERIFY_TOKEN = 'test-verify-token-0123456789';
/** The Standard Webhooks specification's Ed25519 test seed, and the public key a receiver configures. */
export const ED25519_SIGNING_KEY = 'whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=';
export const ED25519_PUBLIC_KEY = publicKeyFor(ED25519_SIGNING_KEY);

function publicKeyFor(signing: string): string {
  const parsed = parseSigningKey(signing);
  const key = parsed.ok ? publicKeyOf(parsed.key) : null;
  if (key === null) throw new Error(`${signing} is no Ed25519 signing key`);
  return key;
}

/** Config values for STANDARD_WEBHOOKS_SECRET keys (`whsec_...`, `whpk_...`). */
export function standardKeys(...texts: string[]): StandardKey[] {
  return texts.map((text) => {
    const parsed = parseStandardKey(text);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.key;
  });
}

/** What the helpers need of a test context: somewhere to register cleanup. */
export type Cleanup = { after(fn: () => unknown): void };

export type LogLine = Record<string, unknown>;

export type TestApp = {
  url: string;
  dir: string;
  dbPath: string;
  logs: LogLine[];
  /** The log exactly as written. */
  logText(): string;
  /**
   * True when `value` was logged: as written, or inside any parsed field (a tab or a CR is escaped in
   * the JSON text, so only the parsed values show it; re-serialising `logs` would hide it again).
   */
  logged(value: string): boolean;
  shutdown(): Promise<void>;
};

/** The skip option of a test whose subject is the SQLite file itself, when the apps run on PostgreSQL. */
export const SQLITE_ONLY: false | string = process.env.TEST_ENGINE === 'postgres' ? 'about the SQLite file (TEST_ENGINE=postgres)' : false;

/** A fresh temp folder, removed when the test (or file) ends. */
export function tempDir(t: Cleanup): string {
  const dir = mkdtempSync(join(tmpdir(), 'lyftr-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The real service on 127.0.0.1, port 0, against a SQLite file in a temp folder (or, with
 * TEST_ENGINE=postgres, a fresh database in the test process's PostgreSQL cluster); stopped in t.after.
 */
export type AppOverrides = Partial<Config> &
  Pick<ServiceOptions, 'timeouts' | 'graceMs' | 'clock' | 'stream'> & {
    /** SQLite only: the store's connection, to induce storage trouble on it. */
    onOpen?: SqliteStoreOptions['onOpen'];
  };

export async function startApp(t: Cleanup, overrides: AppOverrides = {}): Promise<TestApp> {
  const dir = overrides.database ? '' : tempDir(t);
  const database: Config['database'] =
    overrides.database ??
    (process.env.TEST_ENGINE === 'postgres'
      ? { kind: 'postgres', url: await (await import('./postgres-cluster.ts')).cluster().database('app') }
      : { kind: 'sqlite', path: join(dir, 'app.db') });
  const dbPath = database.kind === 'sqlite' ? database.path : '';
  const logs: LogLine[] = [];
  let logText = '';
  const logger = createLogger({
    level: overrides.logLevel ?? 'DEBUG',
    sink: (chunk) => {
      logText += chunk;
      for (const line of chunk.split('\n')) if (line !== '') logs.push(JSON.parse(line) as LogLine);
    },
  });
  const config: Config = {
    secrets: [SECRET],
    database,
    logLevel: 'DEBUG',
    port: 0,
    host: '127.0.0.1',
    maxBodyBytes: 1_048_576,
    retentionDays: null,
    standardKeys: [],
    toleranceSeconds: 300,
    readTokens: [],
    metricsTokens: [],
    adminTokens: [],
    whatsapp: { appSecrets: [WHATSAPP_APP_SECRET], verifyToken: WHATSAPP_VERIFY_TOKEN },
    ...overrides,
  };
  const service = await startService(config, {
    logger,
    ...(overrides.timeouts && { timeouts: overrides.timeouts }),
    ...(overrides.graceMs !== undefined && { graceMs: overrides.graceMs }),
    ...(overrides.onOpen && { openStore: withConnection(overrides.onOpen) }),
    ...(overrides.clock && { clock: overrides.clock }),
    ...(overrides.stream && { stream: overrides.stream }),
  });
  t.after(() => service.shutdown());
  const logged = (value: string): boolean => logText.includes(value) || logs.some((line) => mentions(line, value));
  return { url: service.url, dir, dbPath, logs, logText: () => logText, logged, shutdown: service.shutdown };
}

/** A SQLite store opened as the service would, its connection handed to the test. */
function withConnection(onOpen: NonNullable<SqliteStoreOptions['onOpen']>): NonNullable<ServiceOptions['openStore']> {
  return async (config, events) => {
    if (config.database.kind !== 'sqlite') throw new Error('the connection is for SQLite');
    return createSqliteStore({ path: config.database.path, ...events, onOpen });
  };
}

/** True when a string inside `value` (keys included, at any depth) contains `needle`. */
function mentions(value: unknown, needle: string): boolean {
  if (typeof value === 'string') return value.includes(needle);
  if (typeof value !== 'object' || value === null) return false;
  return Object.entries(value).some(([k, v]) => k.includes(needle) || mentions(v, needle));
}

/**
 * One app shared by the tests of a describe block: call it synchronously inside `describe`; it starts
 * the app in a `before` hook and stops it (and removes its folder) in an `after` hook.
 */
export function useApp(overrides: Parameters<typeof startApp>[1] = {}): () => TestApp {
  let app: TestApp | undefined;
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    app = await startApp({ after: (fn) => void cleanups.push(fn) }, overrides);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return () => {
    if (!app) throw new Error('app not started');
    return app;
  };
}

export type WebhookMessage = {
  message_id?: unknown;
  from?: unknown;
  to?: unknown;
  ts?: unknown;
  text?: unknown;
  [key: string]: unknown;
};

/** A valid message; fields can be overridden or removed (set to undefined). */
export function message(fields: WebhookMessage = {}): WebhookMessage {
  return { message_id: 'm1', from: '+919876543210', to: '+14155550100', ts: '2025-01-15T10:00:00Z', text: 'Hello', ...fields };
}

/** POST /webhook with a correct signature over exactly the bytes sent. */
export function postSigned(
  url: string,
  body: WebhookMessage | string,
  secret: string = SECRET,
  headers: Record<string, string> = {},
): Promise<Response> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return fetch(`${url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature': sign(raw, secret), ...headers },
    body: raw,
  });
}

/** POST /webhook/whatsapp of `body` serialised as Meta does (or exactly the string given), signed as Meta does. */
export function postWhatsApp(
  url: string,
  body: unknown,
  secret: string = WHATSAPP_APP_SECRET,
  headers: Record<string, string> = {},
): Promise<Response> {
  const raw = typeof body === 'string' ? body : metaJson(body);
  return fetch(`${url}/webhook/whatsapp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMeta(raw, secret), ...headers },
    body: raw,
  });
}

export type StandardDelivery = { id: string; timestamp: number | string; headers?: Record<string, string> };

/** POST /webhook signed the Standard Webhooks way: `key` is a `whsec_` secret or a `whsk_` signing key. */
export function postStandard(url: string, body: WebhookMessage | string, key: string, delivery: StandardDelivery): Promise<Response> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const parsed = parseSigningKey(key);
  if (!parsed.ok) throw new Error(parsed.error);
  const timestamp = String(delivery.timestamp);
  const signature = signStandard(parsed.key, delivery.id, timestamp, raw);
  return fetch(`${url}/webhook`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': delivery.id,
      'webhook-timestamp': timestamp,
      'webhook-signature': signature,
      ...delivery.headers,
    },
    body: raw,
  });
}

export async function getJson(url: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** Polls `check` until it returns true or `ms` pass; then fails with `what`. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5_000, what = 'condition not met in time'): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The value of one unlabelled series on the service's /metrics; NaN when it is not there. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${name} `));
  return found === undefined ? NaN : Number(found.slice(name.length + 1));
}

/** How much `streamUntilAnswered` is willing to send before giving up on an early answer. */
export const STREAM_LIMIT = 64 * 1024 * 1024;

/**
 * Streams a chunked POST body for as long as the server keeps reading, and resolves with the answer and
 * how many bytes were sent by then: a server that refuses early answers long before STREAM_LIMIT.
 */
export function streamUntilAnswered(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; sent: number }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers });
    let sent = 0;
    let stop = false;
    req.on('response', (res) => {
      stop = true;
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sent }));
    });
    req.on('error', reject);
    const pump = (): void => {
      while (!stop && sent < STREAM_LIMIT) {
        sent += 16 * 1024;
        if (!req.write(Buffer.alloc(16 * 1024, 0x61))) {
          req.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}
