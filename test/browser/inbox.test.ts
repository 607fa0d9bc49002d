// GET /inbox in Debian's chromium against the real service: what a person sees, the URL, the network.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_TEXT_LENGTH } from '../../src/domain/message.ts';
import { envelopeOf } from '../../src/domain/whatsapp-envelope.ts';
import { message, metric, postSigned, postWhatsApp, startApp, useApp, waitFor, type TestApp } from '../helpers.ts';
import { browserMissing, openPage, screenshot, useBrowser } from './chromium.ts';
import { chartShows, focused, following, loadAll, loadInbox, notes, range, rowTexts, seed, seeded, SEEDED, SENDERS, settled, shows } from './inbox-page.ts';

const skip = browserMissing();
const PAGE_BUDGET_BYTES = 60 * 1024;

describe('the inbox page, with messages', { skip }, () => {
  const app = useApp();
  const browser = useBrowser();
  let seededOnce = false;
  const ready = async (): Promise<TestApp> => {
    if (!seededOnce) await seed(app(), range(1, SEEDED).map(seeded));
    seededOnce = true;
    return app();
  };

  test('loads with no console error, no failed request, nothing from another origin, within 60 KB', async (t) => {
    const w = await openPage(browser(), t);
    await loadInbox(w, `${(await ready()).url}/inbox`);
    await chartShows(w.page, '+14155550101', 60);
    await settled(w);
    assert.deepEqual(w.consoleErrors, []);
    assert.deepEqual(w.failed, []);
    const origin = new URL(w.page.url()).origin;
    assert.deepEqual(w.requests.map((r) => new URL(r.url()).origin).filter((o) => o !== origin), []);
    let bytes = 0;
    // The live stream's request stays open (its few bytes are not the view's).
    for (const r of w.requests.filter((x) => !following(x.url()))) {
      const sizes = await r.sizes();
      bytes += sizes.responseBodySize + sizes.responseHeadersSize;
    }
    t.diagnostic(`${bytes} bytes transferred for the first view (${w.requests.length} requests)`);
    assert.ok(bytes <= PAGE_BUDGET_BYTES, `${bytes} bytes transferred`);
    assert.ok(bytes > 10_000, `${bytes} bytes: the page's files were counted`);
    await screenshot(w.page, 'inbox-1280-light');
  });

  test('lists the newest first, with the sender, the local time and the exact ts on hover', async (t) => {
    const { url } = await ready();
    const w = await openPage(browser(), t, { timezoneId: 'Asia/Kolkata' });
    await loadInbox(w, `${url}/inbox`);
    assert.equal(await w.page.getByText(`Showing 50 of ${SEEDED}`).count(), 1);
    assert.deepEqual(await rowTexts(w.page), notes(range(71, SEEDED).reverse()));
    const first = w.page.locator('#rows tr').first();
    assert.equal(await first.locator('.sender').textContent(), seeded(SEEDED).from);
    // 02:00Z is 07:30 in India (UTC+5:30); the title keeps ts exactly as it was sent.
    assert.equal(await first.locator('time').textContent(), 'Mar 1, 2026, 7:30:00 AM');
    assert.equal(await first.locator('time').getAttribute('title'), '2026-03-01T02:00:00Z');
  });

  test('without GET /messages/stream in GET / (an older service), the Live switch stays hidden and no stream stays open', async (t) => {
    const app = await startApp(t); // its own: its streams_open counts this page's stream alone
    await seed(app, [seeded(1)]);
    const w = await openPage(browser(), t);
    await w.page.route(/\/$/, async (route) => {
      const res = await route.fetch();
      const index = (await res.json()) as { endpoints: { path: string }[] };
      await route.fulfill({ response: res, json: { ...index, endpoints: index.endpoints.filter((e) => e.path !== '/messages/stream') } });
    });
    await loadInbox(w, `${app.url}/inbox`);
    await assert.rejects(w.page.getByRole('checkbox', { name: 'Live' }).check({ timeout: 500 }), 'live mode stays hidden while GET /messages/stream is not served');
    // The page asks for the stream beside GET / and calls it off once GET / does not list it.
    await waitFor(async () => (await metric(app.url, 'streams_open')) === 0, 5_000, 'the page left a stream open');
  });

  test('live mode on the real stream: a message signed and posted by the test appears within 2 s, without reload', async (t) => {
    const app = await startApp(t); // its own: the message it posts would change the shared app's counts
    await seed(app, [seeded(1)]);
    const w = await openPage(browser(), t);
    await loadInbox(w, `${app.url}/inbox`);
    assert.equal(await w.page.getByRole('checkbox', { name: 'Live' }).isChecked(), true);
    // The page has its stream open once the service counts it (the stream starts with the next message).
    await waitFor(async () => (await metric(app.url, 'streams_open')) >= 1, 5_000, 'the page opened no stream');
    const text = `arrived live ${Date.now()}`;
    assert.equal((await postSigned(app.url, message({ message_id: `live-real-${Date.now()}`, ts: '2026-03-02T00:00:00Z', text }))).status, 200);
    const posted = Date.now();
    await w.page.locator('#rows td.text', { hasText: text }).waitFor({ timeout: 2_000 });
    t.diagnostic(`on the page ${Date.now() - posted} ms after the 200`);
    assert.equal((await rowTexts(w.page))[0], text);
    assert.deepEqual(w.consoleErrors, []);
  });

  test('live mode misses nothing stored while the first page is on its way', async (t) => {
    const app = await startApp(t); // its own: the message it posts would change the shared app's counts
    await seed(app, [seeded(1)]);
    const w = await openPage(browser(), t);
    const text = `stored during the first page ${Date.now()}`;
    let held = false;
    // The first listing is answered by the service, and a message is stored before the page gets it.
    await w.page.route(/\/messages\?/, async (route) => {
      if (held) return route.continue();
      held = true;
      const res = await route.fetch();
      assert.equal((await postSigned(app.url, message({ message_id: `during-${Date.now()}`, ts: '2026-03-02T00:00:00Z', text }))).status, 200);
      await route.fulfill({ response: res });
    });
    await loadInbox(w, `${app.url}/inbox`);
    await w.page.locator('#rows td.text', { hasText: text }).waitFor({ timeout: 2_000 });
    assert.deepEqual(await rowTexts(w.page), [text, seeded(1).text]);
    assert.deepEqual(w.consoleErrors, []);
  });

  test('live mode misses nothing stored while a stream that dropped before its first event reconnects', async (t) => {
    const app = await startApp(t); // its own: the message it posts would change the shared app's counts
    await seed(app, [seeded(1)]);
    const w = await openPage(browser(), t);
    const text = `stored while the stream was down ${Date.now()}`;
    let asked = 0;
    // The first stream answers and ends at once (a replica restarting), with no event and so no position;
    // a message is stored before the page connects again, to the real stream.
    await w.page.route(/\/messages\/stream/, async (route) => {
      asked += 1;
      if (asked === 1) return route.fulfill({ contentType: 'text/event-stream', body: ': stream open\n\n' });
      if (asked === 2) assert.equal((await postSigned(app.url, message({ message_id: `gap-${Date.now()}`, ts: '2026-03-02T00:00:00Z', text }))).status, 200);
      return route.continue().catch(() => {}); // the page may be gone by then
    });
    await loadInbox(w, `${app.url}/inbox`);
    await w.page.locator('#rows td.text', { hasText: text }).waitFor({ timeout: 5_000 });
    assert.deepEqual(await rowTexts(w.page), [text, seeded(1).text]);
    assert.deepEqual(w.consoleErrors, []);
  });

  // How long the page waits for the stream (live.ts's OPEN_WAIT_MS) is not timed here: a loaded machine would decide it.
  test('a stream whose answer is held back (a buffering proxy) does not hold the list back: its rows show while the stream waits', async (t) => {
    const w = await openPage(browser(), t);
    await w.page.route(/\/messages\/stream/, async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 8_000)); // past loadInbox's 5 s wait
      await route.continue().catch(() => {}); // the page may be gone by then
    });
    await loadInbox(w, `${(await ready()).url}/inbox`);
    assert.deepEqual((await rowTexts(w.page)).slice(0, 2), notes([SEEDED, SEEDED - 1]));
  });

  test('Load more neither repeats nor skips, newest first and oldest first', async (t) => {
    const w = await openPage(browser(), t);
    await loadInbox(w, `${(await ready()).url}/inbox`);
    assert.deepEqual(await loadAll(w.page), notes(range(1, SEEDED).reverse()));
    await shows(w.page, `Showing ${SEEDED} of ${SEEDED}`);
    await w.page.getByLabel('Order').selectOption('oldest');
    await w.page.waitForURL(/order=oldest/);
    await shows(w.page, `Showing 50 of ${SEEDED}`);
    assert.deepEqual(await loadAll(w.page), notes(range(1, SEEDED)));
    assert.deepEqual(w.consoleErrors, []);
  });

  test('Load more, newest first, neither repeats nor skips while messages arrive between its pages', async (t) => {
    const app = await startApp(t); // its own: the messages it posts would change the shared app's counts
    await seed(app, range(1, SEEDED).map(seeded));
    const w = await openPage(browser(), t);
    await loadInbox(w, `${app.url}/inbox?live=0`); // live off: only Load more brings rows
    assert.deepEqual(await rowTexts(w.page), notes(range(71, SEEDED).reverse()));
    // Stored now, after the first page: five older than every row shown (between 30 and 31), and five newer.
    const between = (k: number): ReturnType<typeof seeded> => ({ ...seeded(30), message_id: `mid-${k}`, ts: `2026-03-01T00:30:3${k}Z`, text: `between ${k}` });
    const later = (k: number): ReturnType<typeof seeded> => ({ ...seeded(1), message_id: `later-${k}`, ts: `2026-03-02T00:00:0${k}Z`, text: `later ${k}` });
    await seed(app, [1, 2, 3, 4, 5].flatMap((k) => [between(k), later(k)]));
    const all = await loadAll(w.page);
    const expected = [...notes(range(31, SEEDED).reverse()), ...[5, 4, 3, 2, 1].map((k) => `between ${k}`), ...notes(range(1, 30).reverse())];
    assert.deepEqual(all, expected);
    assert.deepEqual(w.consoleErrors, []);
  });

  test('q, from and since narrow the list, live in the URL, and survive reload and back', async (t) => {
    const { url } = await ready();
    const w = await openPage(browser(), t);
    const { page } = w;
    await loadInbox(w, `${url}/inbox`);

    await page.getByLabel('Search text').fill('APPLE');
    await page.waitForURL(/\?q=APPLE$/);
    await shows(page, 'Showing 12 of 12');
    assert.deepEqual(await rowTexts(page), notes([120, 110, 100, 90, 80, 70, 60, 50, 40, 30, 20, 10]));

    await page.getByLabel('From').fill(SENDERS[0]);
    await page.getByLabel('From').press('Enter');
    await page.waitForURL(/from=%2B14155550101/);
    const appleFromFirst = [120, 110, 90, 80, 60, 50, 30, 20]; // i % 10 === 0 and i % 6 in 0..2
    await shows(page, 'Showing 8 of 8');
    assert.deepEqual(await rowTexts(page), notes(appleFromFirst));

    await page.getByLabel('Since (your time)').fill('2026-03-01T01:30');
    await page.waitForURL(/since=2026-03-01T01%3A30%3A00Z/);
    await shows(page, 'Showing 3 of 3');
    assert.deepEqual(await rowTexts(page), notes([120, 110, 90]));

    await page.reload();
    await shows(page, 'Showing 3 of 3');
    assert.equal(await page.getByLabel('Search text').inputValue(), 'APPLE');
    assert.equal(await page.getByLabel('From').inputValue(), SENDERS[0]);
    assert.deepEqual(await rowTexts(page), notes([120, 110, 90]));

    await page.goBack();
    await shows(page, 'Showing 8 of 8');
    assert.equal(await page.getByLabel('Since (your time)').inputValue(), '');

    // A shared link opens the same view in a fresh tab.
    const other = await openPage(browser(), t);
    await loadInbox(other, page.url());
    assert.deepEqual(await rowTexts(other.page), notes(appleFromFirst));
    // So does one written by hand with an unencoded `+` (a space once decoded), also once the search changes.
    const typed = await openPage(browser(), t);
    await loadInbox(typed, `${url}/inbox?from=${SENDERS[0]}&q=APPLE`);
    assert.equal(await typed.page.getByLabel('From').inputValue(), SENDERS[0]);
    await typed.page.getByLabel('Search text').fill('apple note');
    await shows(typed.page, 'Showing 8 of 8');

    await page.getByRole('button', { name: 'Clear', exact: true }).click();
    await shows(page, `Showing 50 of ${SEEDED}`);
    assert.equal(new URL(page.url()).search, '');
    await page.getByLabel('Search text').fill('no such words');
    await shows(page, 'No message matches these filters.');
    assert.deepEqual(w.consoleErrors, []);
  });

  test("a message streamed for one search while its list loads is not shown under the next search", async (t) => {
    const { url } = await ready();
    const w = await openPage(browser(), t);
    const { page } = w;
    const stray = { ...seeded(SEEDED + 1), message_id: 'stray', text: 'first of all' };
    const signal = (): { done: () => void; promise: Promise<void> } => {
      let done!: () => void;
      return { done: () => done(), promise: new Promise<void>((r) => (done = r)) };
    };
    const [listingAsked, release, delivered, nextStream] = [signal(), signal(), signal(), signal()];
    // The listing for q=first is held until the search has changed; the stream for q=first answers once
    // that listing is asked for (the page waits a second for it at most), with a match of q=first.
    await page.route(/\/messages\/stream/, async (route) => {
      const q = new URL(route.request().url()).searchParams.get('q');
      if (q === 'APPLE') nextStream.done();
      if (q !== 'first') return route.continue().catch(() => {});
      await listingAsked.promise;
      await route.fulfill({ contentType: 'text/event-stream', body: `id: s1\ndata: ${JSON.stringify(stray)}\n\n` });
      delivered.done();
    });
    await page.route(/\/messages\?/, async (route) => {
      if (new URL(route.request().url()).searchParams.get('q') === 'first') {
        listingAsked.done();
        await release.promise;
      }
      await route.continue().catch(() => {});
    });
    await loadInbox(w, `${url}/inbox`);
    await page.getByLabel('Search text').fill('first');
    await delivered.promise;
    await new Promise((r) => setTimeout(r, 300)); // the page reads the event while its listing is held
    await page.getByLabel('Search text').fill('APPLE');
    await nextStream.promise;
    await new Promise((r) => setTimeout(r, 500)); // the stream answers; the page asks for the list (queued behind the held one)
    release.done();
    await shows(page, 'Showing 12 of 12');
    await settled(w);
    assert.deepEqual(await rowTexts(page), notes([120, 110, 100, 90, 80, 70, 60, 50, 40, 30, 20, 10]));
  });

  test('a search typed with pauses is one history entry: Back returns to the view before it', async (t) => {
    const w = await openPage(browser(), t);
    const { page } = w;
    await loadInbox(w, `${(await ready()).url}/inbox`);
    // Each pause is longer than the page's wait before it searches: every prefix is searched for.
    await page.getByLabel('Search text').pressSequentially('APPLE', { delay: 300 });
    await page.waitForURL(/\?q=APPLE$/);
    await shows(page, 'Showing 12 of 12');
    await page.goBack();
    await page.waitForURL((u) => u.search === '');
    await shows(page, `Showing 50 of ${SEEDED}`);
    assert.equal(await page.getByLabel('Search text').inputValue(), '');
  });

  test('search as you type keeps one listing request in flight, and shows the last query', async (t) => {
    const { url } = await ready();
    const w = await openPage(browser(), t);
    const { page } = w;
    // Every answer of GET /messages held back 400 ms: a second request would overlap the first.
    await page.route(/\/messages\?/, async (route) => {
      await new Promise((r) => setTimeout(r, 400));
      await route.continue();
    });
    await loadInbox(w, `${url}/inbox`);
    let open = 0;
    let most = 0;
    const listing = (u: string): boolean => new URL(u).pathname === '/messages';
    page.on('request', (r) => {
      if (listing(r.url())) most = Math.max(most, ++open);
    });
    const done = (r: { url(): string }): void => {
      if (listing(r.url())) open--;
    };
    page.on('requestfinished', done);
    page.on('requestfailed', done);
    await page.getByLabel('Search text').pressSequentially('note 11', { delay: 250 });
    await page.waitForURL(/q=note\+11$/);
    await shows(page, 'Showing 10 of 10');
    await settled(w);
    assert.equal(most, 1);
    assert.deepEqual(await rowTexts(page), notes(range(110, 119).reverse()));
  });

  test('the stats panel charts the top senders with their counts', async (t) => {
    const w = await openPage(browser(), t);
    await loadInbox(w, `${(await ready()).url}/inbox`);
    const bars = w.page.getByRole('listitem');
    await chartShows(w.page, '+14155550101', 60);
    const labels = await bars.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
    assert.deepEqual(labels, ['+14155550101: 60 messages', '+14155550102: 40 messages', '+14155550103: 20 messages']);
    const widths = await w.page.locator('svg rect.value').evaluateAll((els) => els.map((e) => Number(e.getAttribute('width'))));
    assert.ok(widths[0]! > widths[1]! && widths[1]! > widths[2]!, `bars ${widths.join(', ')}`);
    assert.equal(await w.page.locator('.figures').textContent(), 'Messages120Senders3FirstMar 1, 2026, 12:01 AMLastMar 1, 2026, 2:00 AM');
    // A bar filters the list by its sender.
    await bars.nth(2).click();
    await w.page.waitForURL(/from=%2B14155550103/);
    await shows(w.page, 'Showing 20 of 20');
  });

  test('chart labels fit their column: the longest phone number whole, a business-scoped id elided in the middle', async (t) => {
    const app = await startApp(t);
    await seed(app, [message({ from: '+123456789012345' })]);
    const scoped = 'US.13491208655302741918';
    const from = { from_user_id: scoped, id: 'wamid.scoped', timestamp: '1767225600', type: 'text', text: { body: 'hi' } };
    assert.equal((await postWhatsApp(app.url, envelopeOf('15550783881', [from], [{ profile: { name: 'A' }, user_id: scoped }]))).status, 200);
    const w = await openPage(browser(), t);
    await loadInbox(w, `${app.url}/inbox`);
    await chartShows(w.page, scoped, 1);
    const labels = await w.page.evaluate(
      "[...document.querySelectorAll('svg.chart .bar text:not(.count)')].map((e) => [e.textContent, Math.round(e.getBBox().x)])",
    );
    assert.deepEqual((labels as [string, number][]).map(([text]) => text).sort(), ['+123456789012345', 'US.134…302741918']);
    t.diagnostic(JSON.stringify(labels));
    for (const [text, x] of labels as [string, number][]) assert.ok(x >= 0, `${text} starts at x=${x}, outside the chart`);
  });

  test('a message opens with its JSON, copied by the button; / focuses the search; Escape closes', async (t) => {
    const { url } = await ready();
    const w = await openPage(browser(), t);
    await w.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    const { page } = w;
    await loadInbox(w, `${url}/inbox`);
    await page.keyboard.press('/');
    assert.equal(await page.evaluate('document.activeElement.id'), 'q');
    await page.keyboard.press('Tab'); // into From: / is typed there, not caught
    await page.keyboard.type('/');
    assert.equal(await page.getByLabel('From').inputValue(), '/');
    await page.getByLabel('From').fill('');

    await page.getByText('note 119', { exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.deepEqual(JSON.parse((await dialog.locator('pre').textContent()) ?? ''), seeded(119));
    await dialog.getByRole('button', { name: 'Copy JSON' }).click();
    await shows(page, 'Copied');
    assert.deepEqual(JSON.parse(String(await page.evaluate('navigator.clipboard.readText()'))), seeded(119));
    await screenshot(page, 'inbox-detail');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    // By keyboard alone: Tab to a row, Enter opens it.
    await page.locator('#rows tr').first().focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    assert.equal(JSON.parse((await dialog.locator('pre').textContent()) ?? '').message_id, 'm-120');
  });

  test('a streamed message waiting behind the marker that Load more then lists is shown once', async (t) => {
    // Scripted stream: once the reader has scrolled away, a message with an older ts (it sorts on page 2).
    const w = await openPage(browser(), t, { viewport: { width: 1280, height: 600 } });
    const { page } = w;
    let scrolled!: () => void;
    const scrolledAway = new Promise<void>((r) => (scrolled = r));
    await page.route(/\/messages\/stream/, async (route) => {
      await scrolledAway;
      await route.fulfill({ contentType: 'text/event-stream', body: `id: p1\ndata: ${JSON.stringify(seeded(60))}\n\n` }).catch(() => {});
    });
    await loadInbox(w, `${(await ready()).url}/inbox`);
    await page.evaluate('window.scrollTo(0, 2000)');
    scrolled();
    await page.getByRole('button', { name: '1 new ↑' }).waitFor();
    await page.getByRole('button', { name: 'Load more' }).click();
    await shows(page, `Showing 100 of ${SEEDED}`);
    await page.getByRole('button', { name: '1 new ↑' }).waitFor({ state: 'hidden' });
    await page.evaluate('window.scrollTo(0, 0)');
    const texts = await rowTexts(page);
    assert.equal(texts.filter((x) => x === seeded(60).text).length, 1);
    assert.deepEqual(texts, notes(range(21, SEEDED).reverse()));
  });

  test('live mode, once GET / lists the stream: events on top, a "N new" marker when scrolled away, resumed by Last-Event-ID', async (t) => {
    // Scripted events (not the service's stream), so the test decides when each arrives and when the connection drops.
    const w = await openPage(browser(), t, { viewport: { width: 1280, height: 600 } });
    const { page } = w;
    const live = (i: number): ReturnType<typeof seeded> => ({ ...seeded(i), message_id: `live-${i}`, text: `live ${i}` });
    const event = (id: string, m: object): string => `id: ${id}\ndata: ${JSON.stringify(m)}\n\n`;
    let scrolled!: () => void;
    const scrolledAway = new Promise<void>((r) => (scrolled = r));
    const asked: (string | null)[] = [];
    await page.route(/\/messages\/stream/, async (route) => {
      const request = route.request();
      asked.push((await request.headerValue('last-event-id')) ?? null);
      assert.equal(await request.headerValue('authorization'), null);
      if (asked.length === 1) {
        await route.fulfill({ contentType: 'text/event-stream', body: `: hello\n\n${event('p1', live(121))}${event('p2', live(122))}` });
      } else if (asked.length === 2) {
        await scrolledAway;
        await route.fulfill({ contentType: 'text/event-stream', body: `${event('p2', live(122))}\r\n${event('p3', live(123))}` });
      } else await route.fulfill({ contentType: 'text/event-stream', body: ': idle\n\n' });
    });
    await loadInbox(w, `${(await ready()).url}/inbox`);
    assert.equal(await page.getByRole('checkbox', { name: 'Live' }).isChecked(), true);
    await shows(page, `Showing 52 of ${SEEDED + 2}`);
    assert.deepEqual((await rowTexts(page)).slice(0, 3), ['live 122', 'live 121', 'apple note 120']);

    await page.evaluate('window.scrollTo(0, 2000)');
    assert.ok(Number(await page.evaluate('scrollY')) > 500);
    scrolled();
    const marker = page.getByRole('button', { name: '1 new ↑' });
    await marker.waitFor();
    assert.deepEqual(asked.slice(0, 2), [null, 'p2']);
    assert.equal((await rowTexts(page))[0], 'live 122', 'no jump while the reader is scrolled away');
    await marker.click();
    await shows(page, `Showing 53 of ${SEEDED + 3}`);
    assert.deepEqual((await rowTexts(page)).slice(0, 3), ['live 123', 'live 122', 'live 121']);

    // Switched off: the stream is closed and the choice kept in the URL.
    await page.getByRole('checkbox', { name: 'Live' }).uncheck();
    await page.waitForURL(/live=0/);
  });

  test('fits a 390 px phone and a 1280 px desktop, in light and dark schemes', async (t) => {
    const { url } = await ready();
    for (const [width, colorScheme] of [[390, 'light'], [390, 'dark'], [1280, 'dark']] as const) {
      const w = await openPage(browser(), t, { viewport: { width, height: 844 }, colorScheme });
      await loadInbox(w, `${url}/inbox`);
      await chartShows(w.page, '+14155550101', 60);
      const scrollWidth = Number(await w.page.evaluate('document.documentElement.scrollWidth'));
      assert.ok(scrollWidth <= width, `${width} px wide page scrolls sideways (${scrollWidth} px)`);
      for (const label of ['Search text', 'From', 'Since (your time)', 'Order']) {
        const box = await w.page.getByLabel(label).boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= width, `${label} inside ${width} px`);
      }
      const background = String(await w.page.evaluate('getComputedStyle(document.body).backgroundColor'));
      const [r = 0, g = 0, b = 0] = (background.match(/\d+/g) ?? []).map(Number);
      const light = (r + g + b) / 3 > 128;
      assert.equal(light, colorScheme === 'light', `${colorScheme} scheme background ${background}`);
      await screenshot(w.page, `inbox-${width}-${colorScheme}`);
      assert.deepEqual(w.consoleErrors, []);
    }
  });
  test('a listing that fails under new filters shows no row of the view before, and no Load more', async (t) => {
    const { url } = await ready();
    const w = await openPage(browser(), t);
    await loadInbox(w, `${url}/inbox`);
    await w.page.route((u) => u.pathname === '/messages' && u.searchParams.has('from'), (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"detail":"try again"}' }));
    await w.page.getByLabel('From').fill(SENDERS[1]);
    await w.page.getByLabel('From').press('Enter');
    await shows(w.page, 'The service is not available right now (503).');
    assert.deepEqual(await rowTexts(w.page), []);
    assert.equal(await w.page.getByRole('button', { name: 'Load more' }).isVisible(), false);
    assert.equal(await w.page.locator('#count').textContent(), '');
  });

  test('changing another filter keeps since as given, fraction and all', async (t) => {
    const { url } = await ready();
    const w = await openPage(browser(), t);
    await loadInbox(w, `${url}/inbox?since=2026-03-01T01:30:00.500Z`);
    await shows(w.page, 'Showing 30 of 30'); // 01:31 to 02:00: the message of 01:30:00 is before it
    await w.page.getByLabel('Order').selectOption('oldest');
    await w.page.waitForURL(/order=oldest/);
    assert.match(w.page.url(), /since=2026-03-01T01%3A30%3A00\.500Z/);
    await shows(w.page, 'Showing 30 of 30');
  });
});

describe('the inbox page, with hostile texts', { skip }, () => {
  const app = useApp();
  const browser = useBrowser();

  test('stored markup shows literally and runs nothing', async (t) => {
    const hostile = [
      '<img src=x onerror="document.title=\'pwned\'">',
      '<script>document.title=\'pwned\'</script>',
      '"><svg onload="document.title=\'pwned\'"></svg>',
    ];
    await seed(app(), hostile.map((text, i) => message({ message_id: `x${i}`, ts: `2026-01-0${i + 1}T00:00:00Z`, text })));
    await seed(app(), [message({ message_id: 'x-from', from: '+15550000001', ts: '2026-01-05T00:00:00Z', text: 'plain' })]);
    const w = await openPage(browser(), t);
    let dialogs = 0;
    w.page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    await loadInbox(w, `${app().url}/inbox`);
    assert.deepEqual(await rowTexts(w.page), ['plain', ...[...hostile].reverse()]);
    await w.page.getByText(hostile[0]!, { exact: true }).click();
    assert.equal(JSON.parse((await w.page.getByRole('dialog').locator('pre').textContent()) ?? '').text, hostile[0]);
    await settled(w);
    assert.equal(await w.page.title(), 'Inbox · Lyftr Webhook API');
    assert.equal(await w.page.locator('main img, main script, main svg:not(.chart)').count(), 0);
    assert.equal(w.requests.filter((r) => /\/x$/.test(new URL(r.url()).pathname)).length, 0, 'the <img src=x> was never requested');
    assert.equal(dialogs, 0);
    assert.deepEqual(w.consoleErrors, []);
  });
});

describe('the inbox page, as a support desk sees it (the screenshot in docs/inbox.md)', { skip }, () => {
  const app = useApp();
  const browser = useBrowser();

  test('shows a morning of messages from several senders', async (t) => {
    const texts: [string, string][] = [
      ['+14155550123', 'Hi! My order #4417 arrived but the box was damaged. Can I get a replacement?'],
      ['+447700900456', 'Is the shop open on Sunday?'],
      ['+14155550123', 'Here is a photo of the label: 1Z 999 AA1 01 2345 6784'],
      ['+919876543210', 'Payment went through twice for invoice INV-2291 — please refund one of them.'],
      ['+5511987654321', 'Obrigado pelo atendimento rápido!'],
      ['+14155550123', 'Thanks, the tracking number works now.'],
      ['+447700900456', 'Could you send the receipt to my new e-mail address?'],
      ['+919876543210', 'Refund received, thank you.'],
      ['+4915112345678', 'Wann kommt die Lieferung an? Die Straße ist gesperrt.'],
      ['+14155550123', 'One more question about the warranty: does it cover water damage?'],
    ];
    await seed(
      app(),
      texts.map(([from, text], i) =>
        message({ message_id: `desk-${i}`, from, ts: new Date(Date.UTC(2026, 2, 9, 8, 4 + i * 7, i * 13)).toISOString().replace('.000Z', 'Z'), text }),
      ),
    );
    const w = await openPage(browser(), t, { viewport: { width: 1280, height: 720 }, timezoneId: 'Europe/London' });
    await loadInbox(w, `${app().url}/inbox`);
    await chartShows(w.page, '+14155550123', 4);
    assert.equal((await rowTexts(w.page)).length, texts.length);
    await w.page.getByLabel('Search text').focus();
    await screenshot(w.page, 'inbox-docs');
    assert.deepEqual(w.consoleErrors, []);
  });
});

describe('the inbox page, with read tokens', { skip }, () => {
  const app = useApp({ readTokens: ['reader-one'] });
  const browser = useBrowser();

  test('asks for a token, keeps it in sessionStorage only, sends it as a bearer header, never in a URL', async (t) => {
    await seed(app(), [message({ text: 'for token holders' })]);
    const w = await openPage(browser(), t);
    const { page } = w;
    await page.goto(`${app().url}/inbox`);
    const prompt = page.getByRole('dialog', { name: 'Read token needed' });
    await prompt.waitFor();
    await screenshot(page, 'inbox-token');
    // Only spaces: the prompt stays.
    await prompt.getByLabel('Token').fill('   ');
    await prompt.getByRole('button', { name: 'Show messages' }).click();
    assert.equal(await prompt.isVisible(), true);
    await prompt.getByLabel('Token').fill('wrong');
    await prompt.getByRole('button', { name: 'Show messages' }).click();
    await shows(page, 'That token was not accepted. Enter a read token of this service.');
    await prompt.getByLabel('Token').fill('reader-one');
    await prompt.getByRole('button', { name: 'Show messages' }).click();
    await shows(page, 'for token holders');
    await chartShows(page, '+919876543210', 1);
    // Live mode too, without a reload: the stream refused before the token was given is asked again.
    await waitFor(async () => (await metric(app().url, 'streams_open')) >= 1, 5_000, 'the page opened no stream once the token was given');

    assert.equal(await page.evaluate("sessionStorage.getItem('lyftr-inbox-token')"), 'reader-one');
    assert.equal(await page.evaluate('localStorage.length'), 0);
    assert.equal((await w.context.cookies()).length, 0);
    const reads = w.requests.filter((r) => ['/messages', '/stats'].includes(new URL(r.url()).pathname));
    const last = reads.at(-1);
    assert.ok(last);
    assert.equal(await last.headerValue('authorization'), 'Bearer reader-one');
    assert.deepEqual(w.requests.filter((r) => r.url().includes('reader-one')), []);

    // A reload in the same tab needs no prompt; a new tab (a new session) asks again.
    await page.reload();
    await shows(page, 'for token holders');
    const other = await openPage(browser(), t);
    await other.page.goto(`${app().url}/inbox`);
    await other.page.getByRole('dialog', { name: 'Read token needed' }).waitFor();
    await page.getByRole('button', { name: 'Forget token' }).click();
    await page.getByRole('dialog', { name: 'Read token needed' }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('lyftr-inbox-token')"), null);
  });
});

describe('the inbox page, empty or unavailable', { skip }, () => {
  const app = useApp();
  const browser = useBrowser();

  test('says so when there is no message yet, with no console error', async (t) => {
    const w = await openPage(browser(), t);
    await w.page.goto(`${app().url}/inbox`);
    await shows(w.page, 'No messages yet. They appear here as senders post them to /webhook.');
    await shows(w.page, 'No senders yet.');
    await settled(w);
    assert.deepEqual(w.consoleErrors, []);
    assert.deepEqual(w.failed, []);
    await screenshot(w.page, 'inbox-empty');
  });

  test('a stream refused for its filter (422) is not asked for again and again', async (t) => {
    const w = await openPage(browser(), t);
    let streams = 0;
    w.page.on('request', (r) => void (new URL(r.url()).pathname === '/messages/stream' && (streams += 1)));
    await w.page.goto(`${app().url}/inbox?q=${'x'.repeat(MAX_TEXT_LENGTH + 1)}`);
    await shows(w.page, 'These filters are not valid.');
    await waitFor(() => streams >= 1, 5_000, 'the page asked for no stream');
    await new Promise((r) => setTimeout(r, 2_500)); // a page that retries asks again after 1 s
    assert.equal(streams, 1);
  });

  test('Live turned off and on again lists what was stored while it was off', async (t) => {
    const app = await startApp(t); // its own: the messages it posts would change the shared app's counts
    await seed(app, [seeded(1)]);
    const w = await openPage(browser(), t);
    await loadInbox(w, `${app.url}/inbox`);
    const live = w.page.getByRole('checkbox', { name: 'Live' });
    await waitFor(async () => (await metric(app.url, 'streams_open')) === 1, 5_000, 'the page opened no stream');
    await live.uncheck();
    await waitFor(async () => (await metric(app.url, 'streams_open')) === 0, 5_000, 'the stream stayed open');
    await seed(app, [message({ message_id: 'while-off', ts: '2026-03-02T00:00:00Z', text: 'stored while off' })]);
    await live.check();
    await shows(w.page, 'Showing 2 of 2');
    assert.deepEqual(await rowTexts(w.page), ['stored while off', seeded(1).text]);
  });

  test('a row keeps the keyboard focus while the list is drawn again around it (a live arrival)', async (t) => {
    const app = await startApp(t);
    await seed(app, [seeded(1), seeded(2)]);
    const w = await openPage(browser(), t);
    await loadInbox(w, `${app.url}/inbox`);
    await waitFor(async () => (await metric(app.url, 'streams_open')) === 1, 5_000, 'the page opened no stream');
    await w.page.locator('#rows tr', { hasText: seeded(1).text }).focus();
    await seed(app, [message({ message_id: 'focus-live', ts: '2026-03-02T00:00:00Z', text: 'arrived while focused' })]);
    await shows(w.page, 'arrived while focused');
    const now = await focused(w.page);
    assert.ok(now.startsWith('TR ') && now.includes('note 001'), now.slice(0, 80));
  });

  test('texts in their own direction; the detail has the whole text, lines kept; an id cannot reorder the erase question', async (t) => {
    const app = await startApp(t);
    const hebrew = 'שלום עולם!';
    await seed(app, [
      message({ message_id: 'rtl', ts: '2026-03-01T00:01:00Z', text: hebrew }),
      message({ message_id: 'evil\u202Eabc', ts: '2026-03-01T00:02:00Z', text: 'line one\nline two\nline three\nline four' }),
    ]);
    const w = await openPage(browser(), t);
    await loadInbox(w, `${app.url}/inbox`);
    // Newest first: the four lines, then the Hebrew.
    const directions = await w.page.evaluate("[...document.querySelectorAll('#rows td.text span')].map((e) => getComputedStyle(e).direction).join(' ')");
    assert.equal(directions, 'ltr rtl');
    await w.page.getByText('line one').click();
    const dialog = w.page.getByRole('dialog');
    assert.equal(await dialog.locator('.full-text').innerText(), 'line one\nline two\nline three\nline four');
    await dialog.getByRole('button', { name: 'Erase this message' }).click();
    assert.equal(await w.page.locator('#erase-what bdi').textContent(), 'evil\u202Eabc');
  });

  test('a 503 (the balancer with no replica up) shows a retry that recovers', async (t) => {
    const w = await openPage(browser(), t);
    // What HAProxy answers while no replica is up: the page's own answer to it is under test.
    let unavailable = true;
    // Every request: the list, GET / (which says whether the stream is served), the stream, /stats.
    await w.page.route((u) => u.pathname !== '/inbox' && !u.pathname.startsWith('/inbox/'), (route) =>
      unavailable ? route.fulfill({ status: 503, contentType: 'text/html', body: '<h1>503 Service Unavailable</h1>' }) : route.continue(),
    );
    await w.page.goto(`${app().url}/inbox`);
    await shows(w.page, 'The service is not available right now (503).');
    assert.equal(await w.page.getByRole('checkbox', { name: 'Live' }).isVisible(), false);
    unavailable = false;
    await seed(app(), [message({ text: 'back again' })]);
    await w.page.getByRole('button', { name: 'Retry' }).click();
    await shows(w.page, 'back again');
    // Live mode comes back with the service, without a reload.
    await w.page.getByRole('checkbox', { name: 'Live' }).waitFor();
    await waitFor(async () => (await metric(app().url, 'streams_open')) >= 1, 5_000, 'the page opened no stream after Retry');
  });
});
