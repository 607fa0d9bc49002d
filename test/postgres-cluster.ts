// One throwaway PostgreSQL cluster per test process, started from the installed server binaries, and a
// fresh database in it for each test (or file) that asks. Stopped and removed when the process ends.
//
// fsync is off: the tests kill replicas and restart the server, never the machine, and the kernel's page
// cache survives both; what they prove (a 200 only after COMMIT, nothing acknowledged lost) does not
// depend on the disk, and with fsync on a shared 2-core machine every commit would wait on other
// engineers' I/O. The server is otherwise as shipped: defaults for memory and connections.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import postgres from 'postgres';

export type Cluster = {
  /** A URL for a new, empty database of its own. */
  database(prefix?: string): Promise<string>;
  /** Stop (fast shutdown: sessions are ended) and start again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Open an admin connection (the bootstrap superuser) to one of its databases. */
  admin(database?: string): Sql;
  port: number;
};

/** Why PostgreSQL tests cannot run here, or null when they can. In CI a missing server is a failure. */
export function postgresMissing(): string | null {
  return findBinaries() === null ? 'no PostgreSQL server binaries (/usr/lib/postgresql/<15+>/bin): apt-get install postgresql' : null;
}

/**
 * The skip option for a PostgreSQL test: false when the server binaries are here; elsewhere a reason
 * (node:test prints it), except in CI, where the first start throws instead of skipping.
 */
export function skipWithoutPostgres(): false | string {
  const missing = postgresMissing();
  if (missing === null) return false;
  if (process.env.CI === 'true') throw new Error(`PostgreSQL tests are mandatory in CI: ${missing}`);
  return `PostgreSQL tests did not run: ${missing}`;
}

let shared: Cluster | null = null;

/** The process's cluster, started on first use. */
export function cluster(): Cluster {
  shared ??= startCluster();
  return shared;
}

function findBinaries(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .map(Number)
    .filter((v) => v >= 15 && existsSync(join(root, String(v), 'bin', 'initdb')))
    .sort((a, b) => b - a);
  return versions.length === 0 ? null : join(root, String(versions[0]), 'bin');
}

/** A cluster of its own (the bench's, with fsync on: commits then cost what they cost in production). */
export function startCluster(settings: { fsync?: boolean } = {}): Cluster {
  const bin = findBinaries();
  if (bin === null) throw new Error(postgresMissing() ?? 'no PostgreSQL');
  const dir = mkdtempSync(join(tmpdir(), 'lyftr-pg-'));
  const asRoot = process.getuid?.() === 0;
  // initdb refuses root: the cluster belongs to the postgres user, in a folder it owns.
  const run = (cmd: string, args: string[]): void => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
    execFileSync(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  if (asRoot) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const data = join(dir, 'data');
  // C.UTF-8: lower() there folds non-ASCII letters too, so the engine's ASCII-only folding is really tested.
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  const port = freePort();
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses='127.0.0.1'",
    ...(settings.fsync === true ? [] : ['-c fsync=off', '-c full_page_writes=off']),
    '-c max_connections=200',
  ].join(' ');
  const startArgs = ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '30', 'start'];
  const stopArgs = ['-D', data, '-m', 'fast', '-w', 'stop'];
  // Later stops and starts run beside the test's load, so they must not block its event loop.
  const runAsync = async (args: string[]): Promise<void> => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args]] : [join(bin, 'pg_ctl'), args];
    await promisify(execFile)(file, argv);
  };
  run('pg_ctl', startArgs);
  let up = true;
  // Synchronous, so it also runs when the test process ends through process.exit; a test runner's
  // SIGTERM or a ^C ends the process through it too, so no server outlives its tests.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  process.on('exit', () => {
    if (up) {
      const [file, argv] = asRoot
        ? ['runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop']]
        : [join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']];
      spawnSync(file, argv, { stdio: 'ignore' });
    }
    rmSync(dir, { recursive: true, force: true });
  });
  let serial = 0;
  const admin = (database = 'postgres'): Sql => {
    const sql = postgres({ host: '127.0.0.1', port, username: 'postgres', database, max: 2, idle_timeout: 1, onnotice: () => {} });
    return sql;
  };
  const root = admin();
  return {
    port,
    admin,
    async database(prefix = 't') {
      serial += 1;
      const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}_${serial}`;
      await root.unsafe(`CREATE DATABASE ${name}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await runAsync(stopArgs);
      up = false;
    },
    async start() {
      await runAsync(startArgs);
      up = true;
    },
  };
}

function postgresIds(): { uid: number; gid: number } {
  const out = execFileSync('id', ['postgres'], { encoding: 'utf8' });
  const uid = /uid=(\d+)/.exec(out)?.[1];
  const gid = /gid=(\d+)/.exec(out)?.[1];
  if (uid === undefined || gid === undefined) throw new Error(`cannot read the postgres user's ids: ${out}`);
  return { uid: Number(uid), gid: Number(gid) };
}

/** A port nobody listens on right now (another process may take it; the start then fails loudly). */
export function freePort(): number {
  const probe = spawnSync(process.execPath, [
    '-e',
    "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})",
  ]);
  const port = Number(String(probe.stdout).trim());
  if (!Number.isInteger(port) || port <= 0) throw new Error('cannot find a free port');
  return port;
}
