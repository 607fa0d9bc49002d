// Composition root: environment -> config -> logger -> service; process signals and exit codes.
import { enableCompileCache } from 'node:module';

// The service runs as JavaScript built from these sources (dist/, `make build`). Run as TypeScript
// (tests, `node src/main.ts`), Node strips the types of every module at each start through a WebAssembly
// compiler that keeps its memory; the on-disk compile cache (in the OS temp folder) lets later starts
// skip it, and for the build it keeps V8's compiled code between starts. The modules are therefore
// imported after it.
enableCompileCache();

async function main(): Promise<void> {
  const [{ loadConfig }, { describeDatabase }, { createLogger }, { startService }] = await Promise.all([
    import('./config.ts'),
    import('./database-url.ts'),
    import('./observability/logger.ts'),
    import('./service.ts'),
  ]);
  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    // One JSON line, no stack trace: the operator reads what to fix.
    createLogger({ level: 'ERROR' }).error('invalid configuration', { errors: loaded.errors });
    process.exitCode = 2;
    return;
  }
  const { config, warnings } = loaded;
  const logger = createLogger({ level: config.logLevel, buffered: true });
  for (const w of warnings) logger.warning(w);
  if (config.secrets.length === 0 && config.standardKeys.length === 0) {
    logger.error(
      'no webhook secret configured: set WEBHOOK_SECRET, WEBHOOK_SECRET_FILE or STANDARD_WEBHOOKS_SECRET; /webhook and readiness answer 503',
    );
  }

  process.on('uncaughtException', (err) => logger.error('uncaught exception', { error: String(err) }));
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { error: String(err) }));
  // The log's reader gone (a closed pipe): lines are lost, but a failed write must not become an uncaught
  // exception, whose line fails again, for ever.
  process.stdout.on('error', () => {});

  let service: Awaited<ReturnType<typeof startService>> | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info('signal received', { signal });
    // Still starting (a migration, a database to reach): nothing was accepted, and a transaction under
    // way rolls back. A second signal (make forwards SIGTERM to its child as well) changes nothing.
    if (service === undefined) {
      logger.flush();
      process.exit(0);
    }
    void service.shutdown().then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    service = await startService(config, { logger });
  } catch (err) {
    logger.error('cannot start', { error: err instanceof Error ? err.message : String(err), database: describeDatabase(config.database) });
    logger.flush();
    process.exitCode = 1;
  }
}

void main();
