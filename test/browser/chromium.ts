// Debian's chromium, headless, driven by playwright-core (which downloads no browser of its own).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Cleanup } from '../helpers.ts';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page, type Request } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where the screenshots of a run go (CI keeps the folder as output; git ignores it). */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-output', 'screenshots');

/**
 * The skip option of the browser tests: without chromium they skip with a reason, except in CI, where
 * `.ci/run` installs it and its absence is a failure.
 */
export function browserMissing(): false | string {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} not found: CI installs Debian's chromium (.ci/run)`);
  return `no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
}

// Quiet and self-contained: nothing but the page under test reaches the network.
export const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** One headless browser for a test file (playwright-core gives it a fresh temporary profile), closed after it. */
export function useBrowser(): () => Browser {
  let browser: Browser | undefined;
  before(async () => {
    if (browserMissing() !== false) return;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  });
  after(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('browser not started');
    return browser;
  };
}

/** What a page did on the network and the console, for the assertions a person would care about. */
export type Watched = {
  page: Page;
  context: BrowserContext;
  consoleErrors: string[];
  failed: string[];
  requests: Request[];
};

/**
 * A fresh context (its own sessionStorage) and page, with console errors and failed requests recorded;
 * closed when the test ends.
 */
export async function openPage(browser: Browser, t: Cleanup, options: BrowserContextOptions = {}): Promise<Watched> {
  const context = await browser.newContext({ locale: 'en-US', timezoneId: 'UTC', viewport: { width: 1280, height: 900 }, ...options });
  t.after(() => context.close());
  const page = await context.newPage();
  const watched: Watched = { page, context, consoleErrors: [], failed: [], requests: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') watched.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => watched.consoleErrors.push(String(e)));
  page.on('request', (r) => watched.requests.push(r));
  page.on('requestfailed', (r) => watched.failed.push(`${r.url()} ${r.failure()?.errorText ?? ''}`));
  return watched;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}
