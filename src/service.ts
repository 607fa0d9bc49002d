import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { describeDatabase, type Config } from './config.ts';
import { createApp, type AppDeps } from './http/app.ts';
import { isLoopback } from './http/auth.ts';
import type { About } from './http/openapi.ts';
import type { Logger } from './observability/logger.ts';
import { createRegistry } from './observability/metrics.ts';
import { registerProcessMetrics } from './observability/process-metrics.ts';
import { createServiceMetrics } from './observability/service-metrics.ts';
import { startRetention, type Retention } from './retention.ts';
import { loadPostgresDriver } from './store/postgres/driver.ts';
import { createPostgresStore } from './store/postgres/postgres.ts';
import { createSqliteStore, type SqliteTesting } from './store/sqlite/sqlite-store.ts';

/** In-flight requests get this long after SIGTERM before connections are cut; SPEC allows 10 s in all. */
export const SHUTDOWN_GRACE_MS = 8_000;

export type Service = {
  port: number;
  url: string;
  /** Readiness 503, stop accepting, finish in-flight requests, commit and close the database. Idempotent. */
  shutdown(): Promise<void>;
};

export type ServiceOptions = {
  logger: Logger;
  timeouts?: AppDeps['timeouts'];
  graceMs?: number;
  /** Now: when messages are received (retention goes by it) and what webhook-timestamp is checked against. */
  clock?: () => Date;
  /** Tests only: fault injection into the store. */
  testing?: SqliteTesting;
};

/** Composition: store -> metrics -> app -> listen. Throws when the database cannot be opened or the port bound. */
export async function startService(config: Readonly<Config>, options: ServiceOptions): Promise<Service> {
  const { logger } = options;
  const startedAt = new Date();
  const about = readAbout(); // before the database opens: a broken install fails without leaving it open
  // Flushed at once: a long migration runs inside one event-loop turn, and its progress should show live.
  const onEvent = (msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'WARNING' | 'ERROR'): void => {
    logger.log(level ?? 'INFO', msg, fields);
    logger.flush();
  };
  // `metrics` is declared just below; commits only happen once requests arrive.
  const onCommit = (rows: number, seconds: number): void => metrics.commit(rows, seconds);
  const { database } = config;
  const clock = options.clock && { clock: options.clock };
  const store =
    database.kind === 'postgres'
      ? // The driver is imported only here: the SQLite service needs no node_modules at all.
        createPostgresStore({ url: database.url, driver: await loadPostgresDriver(), onCommit, onEvent, ...clock })
      : createSqliteStore({ onCommit, path: database.path, onEvent, ...clock }, options.testing);
  const registry = createRegistry();
  const metrics = createServiceMetrics(registry, database.kind === 'sqlite' ? { databasePath: database.path } : {});
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
  });

  try {
    // Listening only once writes can be committed: the first requests never wait for the writer.
    await store.ready;
    await new Promise<void>((resolve, reject) => {
      app.server.once('error', reject);
      app.server.listen(config.port, config.host, () => {
        app.server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    stopProcessMetrics();
    await store.close();
    throw err;
  }
  const retention: Retention | null =
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
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  logger.info('listening', { host: config.host, port, database: describeDatabase(database) });
  if (config.readTokens.length === 0 && !isLoopback(config.host)) {
    logger.warning('GET /messages and /stats are open to anyone who can reach this address: set READ_TOKENS', { host: config.host });
  }

  let stopping: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      app.startDraining();
      logger.info('shutting down: draining in-flight requests');
      const closed = new Promise<void>((resolve) => app.server.close(() => resolve()));
      app.server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'deadline'>((resolve) => {
        timer = setTimeout(() => resolve('deadline'), options.graceMs ?? SHUTDOWN_GRACE_MS);
      });
      if ((await Promise.race([closed, deadline])) === 'deadline') {
        logger.warning('shutdown deadline reached: closing remaining connections');
        app.server.closeAllConnections();
        await closed;
      }
      clearTimeout(timer);
      await retention?.stop();
      await store.close();
      stopProcessMetrics();
      logger.info('stopped');
      logger.flush();
    })();
    return stopping;
  };

  return { port, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, shutdown };
}

/** Name and version from package.json, read once at start (the image ships it next to src/). */
export function readAbout(): About {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const field = (name: string): string => {
    const v: unknown = typeof pkg === 'object' && pkg !== null ? Reflect.get(pkg, name) : undefined;
    if (typeof v !== 'string') throw new Error(`package.json has no string "${name}"`);
    return v;
  };
  return { name: field('name'), version: field('version') };
}
