// How the service is started where it ships (make run, npm start, the image): Node with the Makefile's
// NODE_FLAGS, running the build in dist/. The bench and the crash soak start it the same way.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** The V8 flags of `make run` (the Makefile's NODE_FLAGS); empty when the Makefile has no such line. */
export function serviceFlags(): string[] {
  return (/^NODE_FLAGS := (.+)$/m.exec(readFileSync(join(ROOT, 'Makefile'), 'utf8'))?.[1] ?? '').split(' ').filter(Boolean);
}

/** The arguments for `node`: the V8 flags, then dist/main.js. Throws when either is missing. */
export function serviceArgs(): string[] {
  const flags = serviceFlags();
  if (flags.length === 0) throw new Error('no NODE_FLAGS line in the Makefile');
  const built = join(ROOT, 'dist', 'main.js');
  if (!existsSync(built)) throw new Error('dist/main.js is missing: `make build` (make run, test, bench and soak build it first)');
  return [...flags, built];
}
