import { readFileSync } from 'node:fs';
import { DEFAULT_TOLERANCE_SECONDS, parseStandardKey, type StandardKey } from './domain/standard-webhooks.ts';
import { parseDatabase, redactUrl, type Database } from './database-url.ts';
import { LOG_LEVELS, type LogLevel } from './observability/logger.ts';

export type { LogLevel };

export const DEFAULT_DATABASE_URL = 'sqlite:////data/app.db';
export const DEFAULT_PORT = 8000;
export const DEFAULT_HOST = '0.0.0.0';
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;
/** Meta's largest WhatsApp webhook payload (3 MB, read as MiB to be safe). */
export const META_MAX_PAYLOAD_BYTES = 3 * 1_048_576;
/** Secrets and tokens shorter than this get a WARNING at start: a guess or a brute force is within reach. */
export const MIN_SECRET_BYTES = 16;

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
  /** Bearer tokens for GET /messages (its stream and export too) and /stats (READ_TOKENS or READ_TOKENS_FILE); empty: open. */
  readonly readTokens: readonly string[];
  /** Bearer token for GET /metrics (METRICS_TOKEN); empty: open. */
  readonly metricsTokens: readonly string[];
  /** Bearer tokens for the DELETE (erasure) endpoints (ADMIN_TOKENS or ADMIN_TOKENS_FILE); empty: erasure disabled. */
  readonly adminTokens: readonly string[];
  /** Meta's WhatsApp Cloud API webhooks (WHATSAPP_APP_SECRET(_FILE), WHATSAPP_VERIFY_TOKEN). */
  readonly whatsapp: WhatsAppConfig;
};

export type WhatsAppConfig = {
  /** App secrets that may sign X-Hub-Signature-256, current first; empty: POST answers 503. */
  readonly appSecrets: readonly string[];
  /** The verify token of the subscription handshake; null: the handshake answers 403. */
  readonly verifyToken: string | null;
};

export type ConfigResult =
  | { ok: true; config: Readonly<Config>; warnings: string[] }
  | { ok: false; errors: string[] };

type Env = Readonly<Record<string, string | undefined>>;

/** What each group of settings reads from and reports to; a group returns its part of Config. */
type Reader = {
  env: Env;
  readFile: (path: string) => string;
  errors: string[];
  warnings: string[];
};

/**
 * The only reader of the environment. Reports every problem at once so an operator fixes them in one go.
 * A missing secret is not an error here: SPEC says the service starts and reports it (ready 503).
 */
export function loadConfig(env: Env, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): ConfigResult {
  const reader: Reader = { env, readFile, errors: [], warnings: [] };
  // One group of settings a function, in the order the errors are reported.
  const config: Config = {
    secrets: webhookSecrets(reader),
    database: database(reader),
    logLevel: logLevel(reader),
    ...listen(reader),
    retentionDays: retention(reader),
    ...standardWebhooks(reader),
    ...bearerTokens(reader),
    whatsapp: whatsapp(reader),
  };
  if (config.whatsapp.appSecrets.length > 0 && config.maxBodyBytes < META_MAX_PAYLOAD_BYTES) {
    reader.warnings.push(
      `MAX_BODY_BYTES (${config.maxBodyBytes}) is below the 3 MB a WhatsApp webhook may have; Meta sends a refused (413) one again for days: set MAX_BODY_BYTES=${META_MAX_PAYLOAD_BYTES}`,
    );
  }
  if (reader.errors.length > 0) return { ok: false, errors: reader.errors };
  return { ok: true, config: deepFreeze(config), warnings: reader.warnings };
}

/** WEBHOOK_SECRET (or _FILE) and WEBHOOK_SECRET_PREVIOUS: the seed's HMAC secrets, current first. */
function webhookSecrets(r: Reader): string[] {
  const current = readSecret(r, 'WEBHOOK_SECRET');
  const previous = readSecret(r, 'WEBHOOK_SECRET_PREVIOUS', { file: false });
  if (current === null) {
    if (previous !== null) r.warnings.push('WEBHOOK_SECRET_PREVIOUS is set but no current secret is; webhooks stay disabled');
    return [];
  }
  return previous === null || previous === current ? [current] : [current, previous];
}

function database(r: Reader): Database {
  const url = r.env.DATABASE_URL;
  const parsed = parseDatabase(url ?? DEFAULT_DATABASE_URL);
  if (parsed !== null) return parsed;
  r.errors.push(
    'DATABASE_URL must look like sqlite:///relative/path, sqlite:////absolute/path or postgres://user:password@host:port/database, ' +
      `got ${JSON.stringify(url === undefined ? undefined : redactUrl(url))}`,
  );
  return { kind: 'sqlite', path: ':memory:' };
}

function logLevel(r: Reader): LogLevel {
  const raw = (r.env.LOG_LEVEL ?? 'INFO').trim().toUpperCase();
  const level = LOG_LEVELS.find((l) => l === (raw === 'WARN' ? 'WARNING' : raw));
  if (level !== undefined) return level;
  r.errors.push(`LOG_LEVEL must be one of DEBUG, INFO, WARNING (or WARN), ERROR, got ${JSON.stringify(r.env.LOG_LEVEL)}`);
  return 'INFO';
}

/** PORT, HOST and MAX_BODY_BYTES: where the service listens and what it reads. */
function listen(r: Reader): Pick<Config, 'port' | 'host' | 'maxBodyBytes'> {
  const host = r.env.HOST === undefined || r.env.HOST.trim() === '' ? DEFAULT_HOST : r.env.HOST.trim();
  return {
    port: integerSetting(r, 'PORT', DEFAULT_PORT, 0, 65_535),
    host,
    maxBodyBytes: integerSetting(r, 'MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, 1, 1024 * 1024 * 1024),
  };
}

function retention(r: Reader): number | null {
  const raw = r.env.RETENTION_DAYS?.trim() ?? '';
  if (raw === '') return null;
  const days = parseInteger(raw, 0, 1, 1_000_000);
  if (days === null) r.errors.push(`RETENTION_DAYS must be a whole number of days from 1 to 1000000, got ${JSON.stringify(r.env.RETENTION_DAYS)}`);
  return days;
}

/** STANDARD_WEBHOOKS_SECRET (space-separated keys, a bad one reported by position, never echoed) and the tolerance. */
function standardWebhooks(r: Reader): Pick<Config, 'standardKeys' | 'toleranceSeconds'> {
  const name = 'STANDARD_WEBHOOKS_SECRET';
  const setting = readSetting(r, name, { file: false });
  const texts = setting === null ? [] : words(r, setting, 'key');
  const standardKeys: StandardKey[] = [];
  texts.forEach((text, i) => {
    const parsed = parseStandardKey(text);
    if (parsed.ok) standardKeys.push(parsed.key);
    else r.errors.push(`${name} key ${i + 1} of ${texts.length}: ${parsed.error}`);
  });
  // Public keys (whpk_) are no secret; an HMAC key is as strong as its bytes.
  if (standardKeys.some((k) => k.kind === 'hmac' && (k.key.symmetricKeySize ?? 0) < MIN_SECRET_BYTES)) warnShort(r, name);
  return { standardKeys, toleranceSeconds: integerSetting(r, 'WEBHOOK_TOLERANCE_SECONDS', DEFAULT_TOLERANCE_SECONDS, 1, 31_536_000) };
}

/** READ_TOKENS and ADMIN_TOKENS (or their _FILE), several so one can be rotated, and METRICS_TOKEN, one. */
function bearerTokens(r: Reader): Pick<Config, 'readTokens' | 'metricsTokens' | 'adminTokens'> {
  const readTokens = readTokenList(r, 'READ_TOKENS', { opensWhenUnset: true });
  const metricsTokens = readTokenList(r, 'METRICS_TOKEN', { file: false, opensWhenUnset: true });
  if (metricsTokens.length > 1) r.errors.push('METRICS_TOKEN must be one token (Prometheus sends one)');
  return { readTokens, metricsTokens, adminTokens: readTokenList(r, 'ADMIN_TOKENS') };
}


/** WHATSAPP_APP_SECRET (or _FILE; space-separated, current first, for rotation) and WHATSAPP_VERIFY_TOKEN. */
function whatsapp(r: Reader): Config['whatsapp'] {
  const setting = readSetting(r, 'WHATSAPP_APP_SECRET');
  const appSecrets = setting === null ? [] : [...new Set(words(r, setting, 'secret'))];
  if (appSecrets.some((s) => Buffer.byteLength(s) < MIN_SECRET_BYTES)) warnShort(r, setting?.name ?? 'WHATSAPP_APP_SECRET');
  const verifyToken = readSecret(r, 'WHATSAPP_VERIFY_TOKEN', { file: false });
  if (verifyToken !== null && setting === null) {
    r.warnings.push('WHATSAPP_VERIFY_TOKEN is set but WHATSAPP_APP_SECRET is not: the handshake succeeds, yet POST /webhook/whatsapp answers 503');
  }
  return { appSecrets: Object.freeze(appSecrets), verifyToken: verifyToken?.trim() ?? null };
}

/** A value and the variable it came from: NAME, or the contents of the file NAME_FILE names (container secrets). */
type Setting = { name: string; value: string };

type SettingOptions = { file?: boolean; opensWhenUnset?: boolean };

/**
 * NAME or NAME_FILE, null when neither is set; both set is an error, and the file is then not read. An
 * empty value counts as unset, where unset keeps the door shut; where unset opens it (`opensWhenUnset`),
 * an empty value is a setting that holds nothing, which its reader refuses.
 */
function readSetting(r: Reader, name: string, options: SettingOptions = {}): Setting | null {
  const set = (v: string | undefined): v is string => v !== undefined && (v !== '' || options.opensWhenUnset === true);
  const value = r.env[name];
  const file = options.file === false ? undefined : r.env[`${name}_FILE`];
  if (!set(file)) return set(value) ? { name, value } : null;
  if (set(value)) {
    r.errors.push(`${name} and ${name}_FILE are both set; set only one`);
    return null;
  }
  if (file === '') {
    r.errors.push(`${name}_FILE is set but names no file; unset it or name one`);
    return null;
  }
  try {
    // Secret files usually end with a newline written by an editor or `echo`.
    return { name: `${name}_FILE`, value: r.readFile(file).replace(/\r?\n$/, '') };
  } catch (err) {
    r.errors.push(`${name}_FILE: cannot read ${JSON.stringify(file)} (${errorCode(err)})`);
    return null;
  }
}

/**
 * An HMAC secret, used byte for byte (spaces included); null when unset. Set but blank is an error: the
 * operator meant to set one (SPEC: a setting that holds no secret is never an open door).
 */
function readSecret(r: Reader, name: string, options: SettingOptions = {}): string | null {
  const setting = readSetting(r, name, options);
  if (setting === null) return null;
  if (setting.value.trim() === '') {
    r.errors.push(`${setting.name} is set but holds no secret; unset it or give the secret`);
    return null;
  }
  if (Buffer.byteLength(setting.value) < MIN_SECRET_BYTES) warnShort(r, setting.name);
  return setting.value;
}

// RFC 6750's b64token: what can follow `Bearer ` in one Authorization header.
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Whitespace-separated bearer tokens, duplicates dropped; tokens are never echoed. Empty when unset. */
function readTokenList(r: Reader, name: string, options: SettingOptions = {}): string[] {
  const setting = readSetting(r, name, options);
  if (setting === null) return [];
  const tokens = words(r, setting, 'token');
  const bad = tokens.findIndex((t) => !BEARER_TOKEN.test(t));
  if (bad !== -1) {
    r.errors.push(`${setting.name} token ${bad + 1} of ${tokens.length} has characters a bearer token cannot carry (use letters, digits, -._~+/)`);
  }
  if (tokens.some((t) => Buffer.byteLength(t) < MIN_SECRET_BYTES)) warnShort(r, setting.name);
  return [...new Set(tokens)];
}

/** The whitespace-separated words of a setting that is set; holding none is an error, never an open door. */
function words(r: Reader, setting: Setting, what: 'token' | 'key' | 'secret'): string[] {
  const list = setting.value.split(/\s+/).filter((w) => w !== '');
  if (list.length === 0) r.errors.push(`${setting.name} is set but holds no ${what}; unset it or give at least one`);
  return list;
}

function warnShort(r: Reader, name: string): void {
  r.warnings.push(`${name} holds a value shorter than ${MIN_SECRET_BYTES} bytes: use a long random one (openssl rand -hex 32)`);
}

function integerSetting(r: Reader, name: string, fallback: number, min: number, max: number): number {
  const n = parseInteger(r.env[name], fallback, min, max);
  if (n !== null) return n;
  r.errors.push(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(r.env[name])}`);
  return fallback;
}

/** The config and every list in it frozen: nothing downstream can change what was validated. */
function deepFreeze(config: Config): Readonly<Config> {
  for (const value of Object.values(config)) if (typeof value === 'object' && value !== null) Object.freeze(value);
  return Object.freeze(config);
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
