// Every example in README.md and docs/*.md is run as a reader would paste it, so one that fails as
// written fails here. The conventions (also in docs/design.md, "Docs"):
// - ```sh / ```bash blocks run in a fresh `bash -euo pipefail`, repo root as cwd, with PATH as a shell on
//   the machine has it (no node_modules/.bin: the examples must bring the pinned Node themselves), HOME,
//   and PORT and WEBHOOK_SECRET exported as the README's quick start says; a real service (the build, as
//   `make run` starts it) listens on that PORT. ```python blocks run in `python3 -` the same way. The
//   blocks of the README's "Quick start" get PORT alone: they are what a new shell starts from.
// - `<!-- not run: reason -->` on the line directly above a fence skips that block; the reason is
//   required and listed in this test's output.
// - A skipped block whose reason is exactly SERVICE_BLOCK starts the service the examples use: its
//   `export NAME=value` lines (literal values) are the service's environment, and the examples' too.
// - Blocks of other languages (```go, ```json, ```text, ...) are never run.
// - A block that calls curl, openssl or python3 where the machine lacks it is skipped with that reason;
//   with CI=true (where .ci/run installs them) that is a failure instead.
// - Examples may not leave files in the work tree; relative links must name files that exist (and
//   headings that exist, for #anchors).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launch } from '../../tools/crash.ts';
import { blocksOf, type Block } from './markdown.ts';

const ROOT = join(import.meta.dirname, '..', '..');
export const SERVICE_BLOCK = 'starts the service the examples use';
const RUN_LANGUAGES: Record<string, string[]> = { sh: ['bash', '-euo', 'pipefail', '-s'], bash: ['bash', '-euo', 'pipefail', '-s'], python: ['python3', '-'] };
const BLOCK_TIMEOUT_MS = 120_000;

function pages(): string[] {
  const docs = existsSync(join(ROOT, 'docs')) ? readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`) : [];
  return ['README.md', ...docs.sort()];
}

/** The environment of the examples' service: the literal exports of every SERVICE_BLOCK. */
function serviceEnv(blocks: Block[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const b of blocks.filter((x) => x.skip === SERVICE_BLOCK)) {
    for (const m of b.code.matchAll(/^export ([A-Z_]+)=([^\s$`'"#]+)/gm)) {
      const [name, value] = [m[1] ?? '', m[2] ?? ''];
      assert.ok(env[name] === undefined || env[name] === value, `${b.file}:${b.line}: ${name} exported as ${value}, elsewhere as ${env[name]}`);
      env[name] = value;
    }
  }
  return env;
}

/** A shell's PATH on this machine: without the project's node_modules/.bin, which make and npm add themselves. */
function machinePath(): string {
  return (process.env.PATH ?? '').split(delimiter).filter((p) => !p.endsWith(join('node_modules', '.bin'))).join(delimiter);
}

/** The machine's tools an example calls; CI installs them all (.ci/run), so there a missing one fails. */
const TOOLS = ['curl', 'openssl', 'python3'];
const installed = new Set(TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: machinePath() } }).status === 0));

/** The skip reason of a block that calls a tool this machine lacks, or false. */
function missingTools(b: Block): false | string {
  const needed = b.language === 'python' ? ['python3'] : TOOLS.filter((tool) => new RegExp(`\\b${tool}\\b`).test(b.code));
  const missing = needed.filter((tool) => !installed.has(tool));
  if (missing.length === 0) return false;
  if (process.env.CI === 'true') throw new Error(`${b.file}:${b.line} needs ${missing.join(', ')}, which CI installs`);
  return `needs ${missing.join(', ')}, not installed here`;
}

/** What git sees in the work tree, ignored files included; null outside a git checkout. */
function worktreeState(): string | null {
  // coverage/ and test-output/ are written by the test run itself (reports, the browser tests' screenshots).
  const r = spawnSync('git', ['status', '--porcelain', '--ignored', '--untracked-files=normal', '--', '.', ':!coverage', ':!test-output'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout : null;
}

function run(command: string[], code: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const [file = '', ...args] = command;
  const proc = spawn(file, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  proc.stdin.end(code);
  const timer = setTimeout(() => {
    output += `\n(killed after ${BLOCK_TIMEOUT_MS / 1000} s)`;
    if (proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL');
  }, BLOCK_TIMEOUT_MS);
  return new Promise((resolve) => {
    proc.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, output: String(err) });
    });
    proc.on('close', (status) => {
      clearTimeout(timer);
      resolve({ code: status, output });
    });
  });
}

const all = pages().flatMap((file) => blocksOf(file, readFileSync(join(ROOT, file), 'utf8')));

describe('the examples in README.md and docs/, run as written', () => {
  const env: Record<string, string> = { PATH: machinePath(), HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8' };
  let stop: () => Promise<void> = async () => {};
  let before_: string | null = null;

  before(async () => {
    const settings = serviceEnv(all);
    assert.ok(settings.WEBHOOK_SECRET, `the README's quick start exports WEBHOOK_SECRET in a block marked "not run: ${SERVICE_BLOCK}"`);
    const dir = mkdtempSync(join(tmpdir(), 'lyftr-examples-'));
    const server = await launch(join(dir, 'app.db'), settings);
    if (server === null) rmSync(dir, { recursive: true, force: true });
    assert.ok(server, 'the service started');
    stop = async () => {
      server.proc.kill('SIGTERM');
      await server.exit;
      rmSync(dir, { recursive: true, force: true });
    };
    Object.assign(env, settings, { PORT: String(server.port) });
    before_ = worktreeState();
  });
  after(() => stop());

  const skipped = all.filter((b) => b.skip !== null && b.language in RUN_LANGUAGES);
  test(`${skipped.length} blocks are not run, each with its reason`, (t) => {
    for (const b of skipped) t.diagnostic(`not run: ${b.file}:${b.line}: ${b.skip}`);
  });

  for (const b of all.filter((x) => x.skip === null && x.language in RUN_LANGUAGES)) {
    test(`${b.file}:${b.line} (${b.language})`, { skip: missingTools(b) }, async () => {
      const command = RUN_LANGUAGES[b.language] ?? [];
      // The quick start is pasted into a new shell: only PORT carries over, as `make run` on it would.
      const fresh = b.file === 'README.md' && b.section === 'Quick start';
      const r = await run(command, b.code, fresh ? { PATH: env.PATH ?? '', HOME: env.HOME ?? '', LANG: 'C.UTF-8', PORT: env.PORT ?? '' } : env);
      assert.equal(r.code, 0, `${b.file}:${b.line} failed as written:\n${b.code}\n--- output ---\n${r.output}`);
    });
  }

  test('the examples leave no file in the work tree', (t) => {
    const now = worktreeState();
    if (now === null || before_ === null) {
      t.diagnostic('not a git checkout: not checked');
      return;
    }
    assert.equal(now, before_);
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

describe('links between the docs', () => {
  for (const file of pages()) {
    test(`${file}: every relative link resolves`, () => {
      const text = readFileSync(join(ROOT, file), 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
      const broken: string[] = [];
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] ?? '';
        if (/^[a-z]+:/i.test(target)) continue;
        const [path = '', hash] = target.split('#');
        const absolute = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
        const name = relative(ROOT, absolute);
        if (!existsSync(absolute)) {
          broken.push(`${target} (no ${name})`);
          continue;
        }
        if (hash !== undefined && absolute.endsWith('.md')) {
          const headings = [...readFileSync(absolute, 'utf8').matchAll(/^#+ (.+)$/gm)].map((h) => anchor(h[1] ?? ''));
          if (!headings.includes(hash)) broken.push(`${target} (no heading #${hash} in ${name})`);
        }
      }
      assert.deepEqual(broken, []);
    });
  }
});
