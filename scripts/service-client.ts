// What the operator commands (erase.ts, export.ts) share: where the service is, the bearer token from the
// environment (never the command line, where `ps` and shell history would show it), and failing clearly.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Parsed = { values: Record<string, string>; url: string };

/** Options of `spec` (strings only) plus `--url` (default http://localhost:$PORT, PORT 8000). */
export function parseCommand(argv: string[], names: readonly string[], usage: string): Parsed {
  const options: ParseArgsConfig['options'] = { url: { type: 'string' }, help: { type: 'boolean' } };
  for (const name of names) options[name] = { type: 'string' };
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options, allowPositionals: false }).values;
  } catch (err) {
    fail(`${err instanceof Error ? err.message : String(err)}\n${usage}`, 2);
  }
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const url = typeof values.url === 'string' ? values.url : `http://localhost:${process.env.PORT ?? '8000'}`;
  const strings = Object.fromEntries(Object.entries(values).filter((e): e is [string, string] => e[0] !== 'url' && typeof e[1] === 'string'));
  return { values: strings, url: url.replace(/\/+$/, '') };
}

/** `Authorization` from the environment variable `name`, or none when it is unset or empty. */
export function bearerFrom(name: string): Record<string, string> {
  const token = process.env[name]?.trim() ?? '';
  return token === '' ? {} : { authorization: `Bearer ${token}` };
}

export function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** fetch, with an unreachable service reported as one line rather than a stack. */
export async function call(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    fail(`cannot reach ${url}: ${cause}`);
  }
}
