// The browser tests' driver brings no browser: playwright-core pinned exactly, with no install script
// that could download one (the tests drive Debian's chromium instead).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..');
const json = (path: string): Record<string, any> => JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as Record<string, any>;

test('playwright-core is a dev dependency pinned exactly, and neither the lockfile nor the package runs an install script', () => {
  const version: unknown = json('package.json').devDependencies['playwright-core'];
  assert.match(String(version), /^\d+\.\d+\.\d+$/);
  const locked = json('package-lock.json').packages['node_modules/playwright-core'];
  assert.equal(locked.version, version);
  assert.equal(locked.dev, true);
  assert.equal(locked.hasInstallScript, undefined);
  const scripts = json('node_modules/playwright-core/package.json').scripts ?? {};
  assert.deepEqual(['preinstall', 'install', 'postinstall'].filter((s) => s in scripts), []);
});
