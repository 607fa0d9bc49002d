// What the browser tests share: the seeded messages, and the ways a test reads the page as a person
// would (texts, the URL, the network).
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { postSigned, type TestApp, type WebhookMessage } from '../helpers.ts';
import type { Watched } from './chromium.ts';

export const SENDERS = ['+14155550101', '+14155550102', '+14155550103'] as const;
export const SEEDED = 120;

/** Message i (1..120): one a minute from 2026-03-01T00:00Z; senders 60/40/20; every tenth mentions apples. */
export function seeded(i: number): { message_id: string; from: string; to: string; ts: string; text: string } {
  const sender = SENDERS[[0, 0, 0, 1, 1, 2][i % 6] ?? 0] ?? '';
  const ts = new Date(Date.UTC(2026, 2, 1, 0, i)).toISOString().replace('.000Z', 'Z');
  const n = String(i).padStart(3, '0');
  return { message_id: `m-${n}`, from: sender, to: '+14155550100', ts, text: i % 10 === 0 ? `apple note ${n}` : `note ${n}` };
}

export async function seed(app: Pick<TestApp, 'url'>, messages: WebhookMessage[]): Promise<void> {
  for (const m of messages) assert.equal((await postSigned(app.url, m)).status, 200);
}

/** The texts of the listed rows, top to bottom. */
export function rowTexts(page: Page): Promise<string[]> {
  return page.locator('#rows td.text').allTextContents();
}

/** The element that has the keyboard focus: its tag, a space, its text. */
export async function focused(page: Page): Promise<string> {
  return String(await page.evaluate('document.activeElement.tagName + " " + document.activeElement.textContent'));
}

export async function shows(page: Page, text: string | RegExp): Promise<void> {
  await page.getByText(text).first().waitFor({ timeout: 5_000 });
}

/** Waits for the stats chart's bar of `sender` with `count` messages. */
export async function chartShows(page: Page, sender: string, count: number): Promise<void> {
  await page.getByRole('listitem', { name: `${sender}: ${count} message${count === 1 ? '' : 's'}` }).waitFor({ timeout: 5_000 });
}

export async function loadInbox(w: Watched, url: string): Promise<void> {
  await w.page.goto(url);
  await shows(w.page, /^Showing \d+ of \d+$/);
}

/** Clicks `Load more` until it goes away; the texts of every row then listed. */
export async function loadAll(page: Page): Promise<string[]> {
  const more = page.getByRole('button', { name: 'Load more' });
  while (await more.isVisible()) {
    const before = (await rowTexts(page)).length;
    await more.click();
    // Polled from here: the page's CSP forbids the eval that waitForFunction(string) needs.
    for (let tries = 0; (await page.locator('#rows tr').count()) <= before; tries++) {
      if (tries > 250) throw new Error('Load more added no row');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return rowTexts(page);
}

export const following = (url: string): boolean => new URL(url).pathname === '/messages/stream';

/** Every request of the page answered, bar its live stream, which never ends: 'networkidle' for a page that follows. */
export async function settled(w: Watched): Promise<void> {
  for (let seen = -1; seen !== w.requests.length; ) {
    seen = w.requests.length;
    for (const r of w.requests) if (!following(r.url())) await r.response();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export const notes = (ids: number[]): string[] => ids.map((i) => seeded(i).text);
export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, k) => from + k);
