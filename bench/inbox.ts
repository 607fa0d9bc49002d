// The inbox page's first meaningful paint on a large database (issue 25's bar: <= 300 ms at 1M rows):
// the built service on a seeded SQLite file, Debian's chromium headless, each load in a fresh context.
// "Meaningful": the first message row is in the DOM and a frame has been painted after it, timed from
// the navigation's start by the page's own clock (performance.now()).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, FLAGS } from '../test/browser/chromium.ts';
import { serviceArgs } from '../tools/service-command.ts';
import { seedDatabase } from './seed.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const LOADS = Number(process.env.BENCH_LOADS ?? 15);
const READY_TIMEOUT_MS = 15 * 60_000;
const DB = join(import.meta.dirname, 'data', 'inbox.db');
const log = (line: string): void => void process.stdout.write(`${line}\n`);

// Runs in the page before its own script (CDP-injected, so the page's CSP does not apply to it).
const PAINT_PROBE = `
  new MutationObserver((_, observer) => {
    if (document.querySelector('#rows tr') === null) return;
    observer.disconnect();
    requestAnimationFrame(() => setTimeout(() => { window.__firstRowPainted = performance.now(); }, 0));
  }).observe(document, { childList: true, subtree: true });`;

async function main(): Promise<void> {
  log(`seeding ${ROWS.toLocaleString('en')} messages ...`);
  const facts = seedDatabase(DB, { rows: ROWS, senders: 50_000, days: 730, start: '2024-01-01T00:00:00Z' });
  log(`  seeded in ${facts.seconds.toFixed(1)} s`);
  const child = spawn(process.execPath, serviceArgs(), {
    env: { ...process.env, DATABASE_URL: `sqlite:///${DB}`, WEBHOOK_SECRET: 'bench', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'INFO' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the service did not listen in time')), READY_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"msg":"listening"[^\n]*"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`the service exited (${code}) before listening`)));
  });
  const url = `http://127.0.0.1:${port}`;
  log(`service on ${url}; waiting for ready (the first start migrates the seeded file) ...`);
  for (const until = Date.now() + READY_TIMEOUT_MS; (await fetch(`${url}/health/ready`).catch(() => null))?.status !== 200; ) {
    if (Date.now() > until) throw new Error('not ready in time');
    await new Promise((r) => setTimeout(r, 500));
  }

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const views = [
    ['newest first', '/inbox'],
    ['oldest first', '/inbox?order=oldest'],
    [`q=${facts.rareWord}`, `/inbox?q=${facts.rareWord}`],
    ['from (heavy sender)', `/inbox?from=${encodeURIComponent(facts.heavySender)}`],
  ] as const;
  const results: Record<string, { p50_ms: number; max_ms: number }> = {};
  try {
    for (const [name, path] of views) {
      const times: number[] = [];
      for (let i = 0; i <= LOADS; i++) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        await context.addInitScript(PAINT_PROBE);
        const page = await context.newPage();
        await page.goto(`${url}${path}`);
        await page.locator('#rows tr').first().waitFor({ timeout: 30_000 });
        let painted = NaN;
        while (Number.isNaN((painted = Number(await page.evaluate('window.__firstRowPainted'))))) await new Promise((r) => setTimeout(r, 10));
        await context.close();
        if (i > 0) times.push(painted); // the first load warms the service's and the browser's caches
      }
      times.sort((a, b) => a - b);
      results[name] = { p50_ms: Math.round(times[Math.floor(times.length / 2)] ?? NaN), max_ms: Math.round(times.at(-1) ?? NaN) };
      log(`  ${name.padEnd(24)} first row painted p50 ${results[name].p50_ms} ms, max ${results[name].max_ms} ms (${LOADS} loads)`);
    }
  } finally {
    await browser.close();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    for (const suffix of ['', '-wal', '-shm']) rmSync(DB + suffix, { force: true });
  }
  // The machine is shared: the load during the run says how far these figures are from an idle one.
  log(`  load average during the run: ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (1 / 5 / 15 min)`);
}

await main();
