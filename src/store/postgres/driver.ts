// The `postgres` package, loaded only when DATABASE_URL names PostgreSQL: the SQLite service runs with no
// node_modules at all. Its types are erased at build; this import is the one that runs.
import { readFileSync } from 'node:fs';
import type postgres from 'postgres';

export type PostgresDriver = typeof postgres;

export async function loadPostgresDriver(): Promise<PostgresDriver> {
  try {
    return (await import('postgres')).default;
  } catch (err) {
    if (typeof err !== 'object' || err === null || !('code' in err) || err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    // The install command names the version package.json pins.
    const pkg = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
    const version = /"postgres":\s*"([^"]+)"/.exec(pkg)?.[1] ?? 'latest';
    const install = `npm install --save-exact postgres@${version}`;
    throw new Error(`DATABASE_URL names PostgreSQL but its driver is not installed: run \`${install}\` (or \`npm ci\`) next to package.json`, { cause: err });
  }
}
