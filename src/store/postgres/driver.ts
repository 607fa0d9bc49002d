// The `postgres` package, loaded only when DATABASE_URL names PostgreSQL: the SQLite service runs with no
// node_modules at all. Its types are erased at build; this import is the one that runs.
import { readFileSync } from 'node:fs';
import type postgres from 'postgres';

export type PostgresDriver = typeof postgres;

/** The version package.json pins, for the install command a missing driver names. */
export function pinnedDriverVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  const deps: unknown = typeof pkg === 'object' && pkg !== null ? Reflect.get(pkg, 'dependencies') : undefined;
  const version: unknown = typeof deps === 'object' && deps !== null ? Reflect.get(deps, 'postgres') : undefined;
  return typeof version === 'string' ? version : 'latest';
}

export async function loadPostgresDriver(): Promise<PostgresDriver> {
  try {
    return (await import('postgres')).default;
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === 'ERR_MODULE_NOT_FOUND') {
      const version = pinnedDriverVersion();
      throw new Error(
        `DATABASE_URL names PostgreSQL but its driver is not installed: run \`npm install --save-exact postgres@${version}\` (or \`npm ci\`) next to package.json`,
        { cause: err },
      );
    }
    throw err;
  }
}
