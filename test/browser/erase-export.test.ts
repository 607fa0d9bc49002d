// The inbox's export and erase in Debian's chromium against the real service (SPEC "GET /inbox": export
// what is shown, and with an admin token erase): the downloaded files' contents, what the page says
// before and after an erasure, and what a reload shows.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { message, useApp } from '../helpers.ts';
import { rawRequest } from '../raw-http.ts';
import { browserMissing, openPage, screenshot, useBrowser } from './chromium.ts';
import { chartShows, focused, loadInbox, notes, range, rowTexts, seed, seeded, SEEDED, SENDERS, shows } from './inbox-page.ts';

const skip = browserMissing();
const READER = 'reader-one';
const ADMIN = 'admin-one';

/** Clicks `link` and returns the file the browser saved, and its name. */
async function downloaded(page: Page, link: Locator): Promise<{ name: string; text: string; url: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const path = await download.path();
  return { name: download.suggestedFilename(), text: readFileSync(path, 'utf8'), url: download.url() };
}

async function signIn(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/inbox`);
  const prompt = page.getByRole('dialog', { name: 'Read token needed' });
  await prompt.getByLabel('Token').fill(READER);
  await prompt.getByRole('button', { name: 'Show messages' }).click();
  await shows(page, /^Showing \d+ of \d+$/);
}

/** Opens the detail of the row with this text and asks to erase; the confirmation dialog. */
async function askToErase(page: Page, text: string, what: 'Erase this message' | 'Erase all from this sender', title?: string): Promise<Locator> {
  await page.getByText(text, { exact: true }).click();
  await page.getByRole('dialog', { name: /^Message from/ }).getByRole('button', { name: what }).click();
  const confirm = page.getByRole('dialog', { name: title ?? (what === 'Erase this message' ? 'Erase this message?' : 'Erase every message of this sender?') });
  await confirm.waitFor();
  return confirm;
}

describe('the inbox page exports what it shows, reads open', { skip }, () => {
  const app = useApp();
  const browser = useBrowser();

  test('CSV and NDJSON links carry the filters and stream the matching messages to a file', async (t) => {
    await seed(app(), range(1, SEEDED).map(seeded));
    const w = await openPage(browser(), t);
    await loadInbox(w, `${app().url}/inbox?q=apple`);
    await shows(w.page, 'Showing 12 of 12');
    const csv = await downloaded(w.page, w.page.getByRole('link', { name: 'CSV' }));
    assert.match(csv.name, /^messages-.*\.csv$/);
    assert.equal(new URL(csv.url).pathname, '/messages/export', 'a plain link to the service: no token to send');
    const lines = csv.text.trimEnd().split('\r\n');
    assert.equal(lines[0], 'message_id,from,to,ts,text,type');
    // The listing's order (oldest first) and exactly the messages the view shows.
    assert.deepEqual(lines.slice(1).map((l) => /"(apple note \d+)"/.exec(l)?.[1]), notes(range(1, 12).map((i) => i * 10)));

    await w.page.getByLabel('From').fill(SENDERS[1]);
    await w.page.getByLabel('From').press('Enter');
    await shows(w.page, 'Showing 4 of 4');
    const ndjson = await downloaded(w.page, w.page.getByRole('link', { name: 'NDJSON' }));
    const rows = ndjson.text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(rows, [10, 40, 70, 100].map(seeded)); // i % 10 === 0 and i % 6 in 3..4
    assert.deepEqual(w.consoleErrors, []);
  });

  test('with ADMIN_TOKENS unset, an erasure is refused and the page says so', async (t) => {
    const w = await openPage(browser(), t);
    await loadInbox(w, `${app().url}/inbox`);
    const confirm = await askToErase(w.page, seeded(SEEDED).text, 'Erase this message');
    await confirm.getByLabel('Admin token').fill('anything');
    await confirm.getByRole('button', { name: 'Erase for good' }).click();
    await shows(w.page, 'Erasure is disabled on this service (403) (erasure disabled: set ADMIN_TOKENS).');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await w.page.keyboard.press('Escape');
    await shows(w.page, `Showing 50 of ${SEEDED}`);
  });
});

describe('the inbox page exports and erases, with read and admin tokens', { skip }, () => {
  const app = useApp({ readTokens: [READER], adminTokens: [ADMIN] });
  const browser = useBrowser();
  const [a, b] = ['+15550000001', '+15550000002'];
  const mine = [
    ...[1, 2, 3].map((i) => message({ message_id: `a${i}`, from: a, ts: `2026-04-0${i}T10:00:00Z`, text: `from a ${i}` })),
    ...[1, 2, 3].map((i) => message({ message_id: `b${i}`, from: b, ts: `2026-04-0${i}T11:00:00Z`, text: `from b ${i}` })),
  ];

  test('the export goes with the bearer header, never the token in a URL', async (t) => {
    await seed(app(), mine);
    const w = await openPage(browser(), t);
    await signIn(w.page, app().url);
    const file = await downloaded(w.page, w.page.getByRole('link', { name: 'NDJSON' }));
    assert.equal(new URL(file.url).protocol, 'blob:');
    assert.deepEqual(file.text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { message_id: string }).message_id), ['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
    const asked = w.requests.filter((r) => new URL(r.url()).pathname === '/messages/export');
    assert.equal(asked.length, 1);
    assert.equal(await asked[0]!.headerValue('authorization'), `Bearer ${READER}`);
    assert.deepEqual(w.requests.filter((r) => r.url().includes(READER)), []);
    await shows(w.page, /^Exported messages-.*\.ndjson\.$/);
  });

  test('erase a message, then a sender: each confirmed, a wrong admin token shown, the list and stats follow', async (t) => {
    const w = await openPage(browser(), t);
    const { page } = w;
    await signIn(page, app().url);
    await shows(page, 'Showing 6 of 6');

    let confirm = await askToErase(page, 'from b 2', 'Erase this message');
    await shows(page, `The message b2 from ${b} (sent 2026-04-02T11:00:00Z) will be deleted from the service for good. This cannot be undone.`);
    await confirm.getByLabel('Admin token').fill('not-the-admin');
    await confirm.getByRole('button', { name: 'Erase for good' }).click();
    await shows(page, "That admin token was not accepted (401). Enter one of the service's ADMIN_TOKENS.");
    await screenshot(page, 'inbox-erase');
    await confirm.getByLabel('Admin token').fill(ADMIN);
    await confirm.getByRole('button', { name: 'Erase for good' }).click();
    await shows(page, 'Erased 1 message: b2.');
    await shows(page, 'Showing 5 of 5');
    // The keyboard focus is on the row that took the erased one's place, not lost to the page.
    const now = await focused(page);
    assert.ok(now.startsWith('TR ') && now.includes('from a 2'), now.slice(0, 80));
    await chartShows(page, b, 2);

    confirm = await askToErase(page, 'from a 1', 'Erase all from this sender');
    await shows(page, `All 3 messages from ${a} will be deleted from the service for good, not only those shown, including any that arrive before you confirm. This cannot be undone.`);
    assert.equal(await confirm.getByLabel('Admin token').inputValue(), ADMIN, 'held in memory for this page');
    await confirm.getByRole('button', { name: 'Erase for good' }).click();
    await shows(page, `Erased 3 messages from ${a}.`);
    await shows(page, 'Showing 2 of 2');
    assert.deepEqual(await rowTexts(page), ['from b 3', 'from b 1']);
    // The chart is drawn from /stats, asked for after the list: the sender's bar goes once it answers.
    await page.getByRole('listitem', { name: new RegExp(`^\\${a}`) }).waitFor({ state: 'detached', timeout: 5_000 });
    await chartShows(page, b, 2);

    // After a reload the erased stay gone, and the admin token was kept nowhere.
    await page.reload();
    await shows(page, 'Showing 2 of 2');
    assert.deepEqual(await rowTexts(page), ['from b 3', 'from b 1']);
    const stored = String(await page.evaluate('JSON.stringify([sessionStorage, localStorage, document.cookie])'));
    assert.ok(!stored.includes(ADMIN), stored);
    confirm = await askToErase(page, 'from b 1', 'Erase this message');
    assert.equal(await confirm.getByLabel('Admin token').inputValue(), '');

    // Erased elsewhere meanwhile: a 404, and the list follows.
    const gone = await fetch(`${app().url}/messages/b1`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(gone.status, 200);
    await confirm.getByLabel('Admin token').fill(ADMIN);
    await confirm.getByRole('button', { name: 'Erase for good' }).click();
    await shows(page, 'This message is already gone (404) (message not found).');
    await shows(page, 'Showing 1 of 1');
    assert.deepEqual(w.consoleErrors.filter((e) => !/status of (401|404)/.test(e)), []);
  });

  test('an id a browser cannot put in a URL (`.`): the page says how to erase it instead of sending another DELETE', async (t) => {
    await seed(app(), [message({ message_id: '.', from: a, text: 'the dot' }), message({ message_id: '..', from: a, text: 'the dots' })]);
    const w = await openPage(browser(), t);
    await signIn(w.page, app().url);
    for (const [id, text] of [['.', 'the dot'], ['..', 'the dots']] as const) {
      const confirm = await askToErase(w.page, text, 'Erase this message', 'This message cannot be erased from the page');
      const how = `curl --path-as-is -X DELETE -H "Authorization: Bearer <admin token>" ${app().url}/messages/${id}`;
      await shows(w.page, `A browser cannot put the id ${id} in a URL. Erase it with ${how}, or erase all from this sender here.`);
      assert.equal(await confirm.getByRole('button', { name: 'Erase for good' }).count(), 0);
      await confirm.getByRole('button', { name: 'Cancel' }).click();
      await w.page.keyboard.press('Escape');
      // What the page says works: the path exactly as written, as curl --path-as-is sends it.
      const erased = await rawRequest(Number(new URL(app().url).port), `DELETE /messages/${id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nConnection: close\r\n\r\n`);
      assert.deepEqual([erased?.status, erased?.body.toString()], [200, '{"deleted":1}']);
    }
    assert.deepEqual(w.requests.filter((r) => r.method() === 'DELETE'), []);
    assert.deepEqual(w.consoleErrors.filter((e) => !/status of 401/.test(e)), [], 'only the read token prompt');
  });
});
