import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { describeDatabase } from './database-url.ts';
import { createApp, type App, type AppDeps } from './http/app.ts';
import { isLoopback } from './http/auth.ts';
import type { About } from './http/openapi.ts';
import type { Logger } from './observability/logger.ts';
import { createRegistry } from './observability/metrics.ts';
import { registerProcessMetrics } from './observability/process-metrics.ts';
import { createServiceMetrics } from './observability/service-metrics.ts';
import { startRetention, type Retention } from './retention.ts';
import { loadPostgresDriver } from './store/postgres/driver.ts';
import { createPostgresStore } from './store/postgres/postgres.ts';
import { createSqliteStore } from './store/sqlite/sqlite-store.ts';
import type { Store } from './store/store.ts';

/** In-flight requests get this long after SIGTERM before connections are cut; SPEC allows 10 s in all. */
export const SHUTDOWN_GRACE_MS = 8_000;

export type Service = {
  port: number;
  url: string;
  /** Readiness 503, stop accepting, finish in-flight requests, commit and close the database. Idempotent. */
  shutdown(): Promise<void>;
};

/** What the service tells its store: commits (for metrics) and start-up progress or trouble (for the log). */
type StoreEvents = {
  onCommit(rows: number, seconds: number): void;
  onEvent(msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'WARNING' | 'ERROR'): void;
  clock?: () => Date;
};

/** A store that may still be opening (PostgreSQL): the service listens once `ready` resolves. */
export type OpenedStore = Store & { ready?: Promise<void> };

export type ServiceOptions = {
  logger: Logger;
  timeouts?: AppDeps['timeouts'];
  graceMs?: number;
  /** Now: when messages are received (retention goes by it) and what webhook-timestamp is checked against. */
  clock?: () => Date;
  /** GET /messages/stream's limits (tests shorten them). */
  stream?: AppDeps['stream'];
  /** Opens the store; by default the engine DATABASE_URL names (openStore). */
  openStore?: (config: Readonly<Config>, events: StoreEvents) => Promise<OpenedStore>;
};

/** The engine DATABASE_URL names. The PostgreSQL driver is imported only here: SQLite needs no node_modules. */
export async function openStore(config: Readonly<Config>, events: StoreEvents): Promise<OpenedStore> {
  const { database } = config;
  if (database.kind === 'postgres') return createPostgresStore({ url: database.url, driver: await loadPostgresDriver(), ...events });
  return createSqliteStore({ path: database.path, ...events });
}

/** Composition: store -> metrics -> app -> listen. Throws when the database cannot be opened or the port bound. */
export async function startService(config: Readonly<Config>, options: ServiceOptions): Promise<Service> {
  const { logger } = options;
  const startedAt = new Date();
  const about = readAbout(); // before the database opens: a broken install fails without leaving it open
  const registry = createRegistry();
  const metrics = createServiceMetrics(registry, config.database.kind === 'sqlite' ? { databasePath: config.database.path } : {});
  const store = await (options.openStore ?? openStore)(config, {
    onCommit: (rows, seconds) => metrics.commit(rows, seconds),
    // Flushed at once: a long migration runs inside one event-loop turn, and its progress should show live.
    onEvent: (msg, fields, level) => {
      logger.log(level ?? 'INFO', msg, fields);
      logger.flush();
    },
    ...(options.clock && { clock: options.clock }),
  });
  const stopProcessMetrics = registerProcessMetrics(registry, startedAt);
  const app = createApp({
    config,
    store,
    logger,
    registry,
    metrics,
    about,
    ...(options.timeouts && { timeouts: options.timeouts }),
    ...(options.clock && { clock: options.clock }),
    ...(options.stream && { stream: options.stream }),
  });
  try {
    // Listening only once writes can be committed: the first requests never wait for the writer.
    await store.ready;
    await listen(app, config);
  } catch (err) {
    stopProcessMetrics();
    await store.close();
    throw err;
  }
  const retention =
    config.retentionDays === null
      ? null
      : startRetention({
          store,
          days: config.retentionDays,
          ...(options.clock && { clock: options.clock }),
          onPruned: (rows) => metrics.pruned(rows),
          onError: (err) => logger.warning('retention run failed; the next one tries again', { error: String(err) }),
        });
  const port = (app.server.address() as AddressInfo).port;
  logger.info('listening', { host: config.host, port, database: describeDatabase(config.database) });
  if (config.readTokens.length === 0 && !isLoopback(config.host)) {
    logger.warning('GET /messages (with its stream and export) and /stats are open to anyone who can reach this address: set READ_TOKENS', { host: config.host });
  }
  const shutdown = createShutdown({ app, store, retention, logger, graceMs: options.graceMs ?? SHUTDOWN_GRACE_MS, stopProcessMetrics });
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return { port, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, shutdown };
}

function listen(app: App, config: Readonly<Config>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    app.server.once('error', reject);
    app.server.listen(config.port, config.host, () => {
      app.server.off('error', reject);
      resolve();
    });
  });
}

type Running = { app: App; store: Store; retention: Retention | null; logger: Logger; graceMs: number; stopProcessMetrics: () => void };

/** Readiness 503, stop accepting, let in-flight requests finish (cut off after the grace), then close the store. */
function createShutdown(running: Running): () => Promise<void> {
  const { app, store, retention, logger } = running;
  let stopping: Promise<void> | null = null;
  const drain = async (): Promise<void> => {
    app.startDraining();
    logger.info('shutting down: draining in-flight requests');
    const closed = new Promise<void>((resolve) => app.server.close(() => resolve()));
    app.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), running.graceMs);
    });
    if ((await Promise.race([closed, deadline])) === 'deadline') {
      logger.warning('shutdown deadline reached: closing remaining connections');
      app.server.closeAllConnections();
      await closed;
    }
    clearTimeout(timer);
  };
  return () => {
    stopping ??= (async () => {
      await drain();
      await retention?.stop();
      await store.close();
      running.stopProcessMetrics();
      logger.info('stopped');
      logger.flush();
    })();
    return stopping;
  };
}

/** Name and version from package.json, read once at start (the image ships it next to src/). */
function readAbout(): About {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const field = (name: string): string => {
    const v: unknown = typeof pkg === 'object' && pkg !== null ? Reflect.get(pkg, name) : undefined;
    if (typeof v !== 'string') throw new Error(`package.json has no string "${name}"`);
    return v;
  };
  return { name: field('name'), version: field('version') };
}
