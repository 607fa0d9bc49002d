import { readFileSync } from 'node:fs';
import { DEFAULT_TOLERANCE_SECONDS, parseStandardKey, type StandardKey } from './domain/standard-webhooks.ts';

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_DATABASE_URL = 'sqlite:////data/app.db';
export const DEFAULT_PORT = 8000;
export const DEFAULT_HOST = '0.0.0.0';
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

export type Config = {
  /** Secrets accepted for signatures, current first; empty when none is configured. */
  readonly secrets: readonly string[];
  /** SQLite: the file's path (or ':memory:'); PostgreSQL: the server's URL, as given. */
  readonly database: Database;
  readonly logLevel: LogLevel;
  readonly port: number;
  readonly host: string;
  readonly maxBodyBytes: number;
  /** Messages received longer ago than this many days are deleted (RETENTION_DAYS); null keeps them for ever. */
  readonly retentionDays: number | null;
  /** Standard Webhooks keys (STANDARD_WEBHOOKS_SECRET); empty when that scheme is off. */
  readonly standardKeys: readonly StandardKey[];
  /** Seconds `webhook-timestamp` may be from our clock, either way (WEBHOOK_TOLERANCE_SECONDS). */
  readonly toleranceSeconds: number;
  /** Bearer tokens for GET /messages and /stats (READ_TOKENS or READ_TOKENS_FILE); empty: open. */
  readonly readTokens: readonly string[];
  /** Bearer token for GET /metrics (METRICS_TOKEN); empty: open. */
  readonly metricsTokens: readonly string[];
};

export type Database = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

export type ConfigResult =
  | { ok: true; config: Readonly<Config>; warnings: string[] }
  | { ok: false; errors: string[] };

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The only reader of the environment. Reports every problem at once so an operator fixes them in one go.
 * A missing secret is not an error here: SPEC says the service starts and reports it (ready 503).
 */
export function loadConfig(env: Env, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): ConfigResult {
  const errors: string[] = [];
  const warnings: string[] = [];

  let secret = env.WEBHOOK_SECRET ?? '';
  const secretFile = env.WEBHOOK_SECRET_FILE ?? '';
  if (secretFile !== '') {
    if (secret !== '') {
      errors.push('WEBHOOK_SECRET and WEBHOOK_SECRET_FILE are both set; set only one');
    } else {
      try {
        // Secret files usually end with a newline written by an editor or `echo`.
        secret = readFile(secretFile).replace(/\r?\n$/, '');
      } catch (err) {
        errors.push(`WEBHOOK_SECRET_FILE: cannot read ${JSON.stringify(secretFile)} (${errorCode(err)})`);
      }
    }
  }
  const previous = env.WEBHOOK_SECRET_PREVIOUS ?? '';
  const secrets: string[] = [];
  if (secret !== '') {
    secrets.push(secret);
    if (previous !== '' && previous !== secret) secrets.push(previous);
  } else if (previous !== '') {
    warnings.push('WEBHOOK_SECRET_PREVIOUS is set but no current secret is; webhooks stay disabled');
  }

  const database = parseDatabase(env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
  if (database === null) {
    errors.push(
      'DATABASE_URL must look like sqlite:///relative/path, sqlite:////absolute/path or postgres://user:password@host:port/database, ' +
        `got ${JSON.stringify(env.DATABASE_URL === undefined ? undefined : redactUrl(env.DATABASE_URL))}`,
    );
  }

  const rawLevel = (env.LOG_LEVEL ?? 'INFO').trim().toUpperCase();
  const level = rawLevel === 'WARN' ? 'WARNING' : rawLevel;
  const logLevel = LOG_LEVELS.find((l) => l === level);
  if (logLevel === undefined) {
    errors.push(`LOG_LEVEL must be one of DEBUG, INFO, WARNING (or WARN), ERROR, got ${JSON.stringify(env.LOG_LEVEL)}`);
  }

  const port = parseInteger(env.PORT, DEFAULT_PORT, 0, 65_535);
  if (port === null) errors.push(`PORT must be an integer from 0 to 65535, got ${JSON.stringify(env.PORT)}`);

  const host = env.HOST === undefined || env.HOST.trim() === '' ? DEFAULT_HOST : env.HOST.trim();

  const maxBodyBytes = parseInteger(env.MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, 1, 1024 * 1024 * 1024);
  if (maxBodyBytes === null) {
    errors.push(`MAX_BODY_BYTES must be an integer from 1 to 1073741824, got ${JSON.stringify(env.MAX_BODY_BYTES)}`);
  }

  const rawRetention = env.RETENTION_DAYS?.trim() ?? '';
  const retentionDays = rawRetention === '' ? null : parseInteger(rawRetention, 0, 1, 1_000_000);
  if (rawRetention !== '' && retentionDays === null) {
    errors.push(`RETENTION_DAYS must be a whole number of days from 1 to 1000000, got ${JSON.stringify(env.RETENTION_DAYS)}`);
  }

  const standardKeys = parseStandardKeys(env.STANDARD_WEBHOOKS_SECRET ?? '', errors);
  const toleranceSeconds = parseInteger(env.WEBHOOK_TOLERANCE_SECONDS, DEFAULT_TOLERANCE_SECONDS, 1, 31_536_000);
  if (toleranceSeconds === null) {
    errors.push(`WEBHOOK_TOLERANCE_SECONDS must be an integer from 1 to 31536000, got ${JSON.stringify(env.WEBHOOK_TOLERANCE_SECONDS)}`);
  }
  const readTokens = parseTokens('READ_TOKENS', readValueOrFile(env, 'READ_TOKENS', readFile, errors), errors);
  const metricsTokens = parseTokens('METRICS_TOKEN', env.METRICS_TOKEN ?? '', errors);
  if (metricsTokens.length > 1) errors.push('METRICS_TOKEN must be one token (Prometheus sends one)');

  if (errors.length > 0 || database === null || logLevel === undefined || port === null || maxBodyBytes === null || toleranceSeconds === null) {
    return { ok: false, errors };
  }
  const config: Config = Object.freeze({
    secrets: Object.freeze(secrets),
    database: Object.freeze(database),
    logLevel,
    port,
    host,
    maxBodyBytes,
    retentionDays,
    standardKeys: Object.freeze(standardKeys),
    toleranceSeconds,
    readTokens: Object.freeze(readTokens),
    metricsTokens: Object.freeze(metricsTokens),
  });
  return { ok: true, config, warnings };
}

/** A SQLite URL (parseDatabaseUrl) or a PostgreSQL one: `postgres://` or `postgresql://`, parsed by URL. */
export function parseDatabase(url: string): Database | null {
  if (/^postgres(ql)?:\/\//.test(url)) {
    if (url.trim() !== url) return null;
    try {
      const parsed = new URL(url);
      return parsed.hostname === '' && !parsed.searchParams.has('host') ? null : { kind: 'postgres', url };
    } catch {
      return null;
    }
  }
  const path = parseDatabaseUrl(url);
  return path === null ? null : { kind: 'sqlite', path };
}

/** The URL with its password hidden, for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

/** What the logs may say about the database: a SQLite path, or a PostgreSQL URL without its password. */
export function describeDatabase(database: Database): string {
  return database.kind === 'sqlite' ? database.path : redactUrl(database.url);
}

/** `sqlite:///rel/path` -> `rel/path`; `sqlite:////abs/path` -> `/abs/path`; `sqlite:///:memory:` -> `:memory:`. */
export function parseDatabaseUrl(url: string): string | null {
  const prefix = 'sqlite:///';
  // A stray space or newline (a copied value, a quoted .env line) would name another file: refused.
  if (!url.startsWith(prefix) || url.trim() !== url) return null;
  const path = url.slice(prefix.length);
  if (path === '' || path === '/' || path.includes('\0') || path.includes('?')) return null;
  return path;
}

/** Space-separated Standard Webhooks keys; a bad one is reported by position, never echoed. */
function parseStandardKeys(raw: string, errors: string[]): StandardKey[] {
  const texts = raw.split(/\s+/).filter((k) => k !== '');
  const keys: StandardKey[] = [];
  texts.forEach((text, i) => {
    const parsed = parseStandardKey(text);
    if (parsed.ok) keys.push(parsed.key);
    else errors.push(`STANDARD_WEBHOOKS_SECRET key ${i + 1} of ${texts.length}: ${parsed.error}`);
  });
  return keys;
}

/** `NAME`, or the contents of the file `NAME_FILE` names (container secrets); both set is an error. */
function readValueOrFile(env: Env, name: string, readFile: (path: string) => string, errors: string[]): string {
  const value = env[name] ?? '';
  const file = env[`${name}_FILE`] ?? '';
  if (file === '') return value;
  if (value !== '') {
    errors.push(`${name} and ${name}_FILE are both set; set only one`);
    return '';
  }
  try {
    return readFile(file);
  } catch (err) {
    errors.push(`${name}_FILE: cannot read ${JSON.stringify(file)} (${errorCode(err)})`);
    return '';
  }
}

// RFC 6750's b64token: what can follow `Bearer ` in one Authorization header.
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Whitespace-separated bearer tokens (several, so one can be rotated); tokens are never echoed. */
function parseTokens(name: string, raw: string, errors: string[]): string[] {
  const tokens = raw.split(/\s+/).filter((t) => t !== '');
  const bad = tokens.findIndex((t) => !BEARER_TOKEN.test(t));
  if (bad !== -1) {
    errors.push(`${name} token ${bad + 1} of ${tokens.length} has characters a bearer token cannot carry (use letters, digits, -._~+/)`);
  }
  return [...new Set(tokens)];
}

function parseInteger(raw: string | undefined, fallback: number, min: number, max: number): number | null {
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) return null;
  const n = Number(raw.trim());
  return n >= min && n <= max ? n : null;
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return 'unreadable';
}
