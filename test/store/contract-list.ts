// The contract's GET /messages rules, as named cases of runStoreContract (test/store/contract.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ListPosition, ListQuery, Message, Store } from '../../src/store/store.ts';
import { ids, insertAll, list, msg, type Open } from './contract-helpers.ts';

const at = (clock: string): string => `2025-01-01T00:00:${clock}`;

/** Every case inserts out of order, so no engine passes by keeping insertion order. */
const shuffled = <T>(items: readonly T[]): T[] =>
  items.length % 7 === 0 ? items.toReversed() : items.map((_, i) => items[(i * 7 + 3) % items.length] as T);

// As raw strings '…:00.5Z' < '…:00Z' ('.' < 'Z'): only instants give this order.
const ORDERED: readonly Message[] = [
  msg('prev-day', { ts: '2024-12-31T23:59:59.999Z' }),
  msg('z-whole', { ts: at('00Z') }),
  msg('y-05', { ts: at('00.05Z') }),
  msg('x-49', { ts: at('00.49Z') }),
  msg('tie-a', { ts: at('00.500Z') }),
  msg('tie-b', { ts: at('00.5Z') }),
  msg('tie-c', { ts: at('00.50Z') }),
  msg('a-next', { ts: at('01Z') }),
  msg('b-next', { ts: at('01.000Z') }),
];

export function listCases(open: Open): void {
  orderCases(open);
  textCases(open);
  unicodeCases(open);
  pagingCases(open);
}

function orderCases(open: Open): void {
  test('order: by the instant of ts, then message_id; ts echoed exactly as sent', async (t) => {
    const { store } = await open(t);
    await insertAll(store, shuffled(ORDERED));
    assert.deepEqual(await list(store), { data: ORDERED, total: 9, more: false });
  });

  test('descending: the exact reverse, mixed fractions and equal instants included; cursors keep it', async (t) => {
    const { store } = await open(t);
    await insertAll(store, shuffled(ORDERED));
    const newest = ORDERED.toReversed();
    assert.deepEqual(await list(store, { descending: true }), { data: newest, total: 9, more: false });
    // Cursor pages of 2 through the three spellings of one instant, each after the last in that order.
    const pages: string[][] = [];
    for (let after: ListPosition | undefined, more = true; more; ) {
      const page = await list(store, { descending: true, limit: 2, ...(after !== undefined && { after }) });
      assert.equal(page.total, 9);
      pages.push(ids(page));
      more = page.more;
      const last = page.data.at(-1);
      after = last && { ts: last.ts, messageId: last.messageId };
    }
    assert.deepEqual(pages, [['b-next', 'a-next'], ['tie-c', 'tie-b'], ['tie-a', 'x-49'], ['y-05', 'z-whole'], ['prev-day']]);
  });

  test('since is inclusive, whatever the fraction spelling of the instant', async (t) => {
    const { store } = await open(t);
    const rows = ['00Z', '00.49Z', '00.5Z', '00.50Z', '00.500Z', '01Z'].map((c, i) => msg(`s${i}`, { ts: at(c) }));
    await insertAll(store, shuffled(rows));
    const expect: [string, string[]][] = [
      [at('00Z'), ['s0', 's1', 's2', 's3', 's4', 's5']],
      [at('00.000Z'), ['s0', 's1', 's2', 's3', 's4', 's5']],
      [at('00.49Z'), ['s1', 's2', 's3', 's4', 's5']],
      [at('00.4901Z'), ['s2', 's3', 's4', 's5']],
      [at('00.5Z'), ['s2', 's3', 's4', 's5']],
      [at('00.50000Z'), ['s2', 's3', 's4', 's5']],
      [at('01Z'), ['s5']],
      [at('01.0Z'), ['s5']],
      [at('01.000001Z'), []],
      ['2024-12-31T23:59:59Z', ['s0', 's1', 's2', 's3', 's4', 's5']],
    ];
    for (const [since, want] of expect) {
      const page = await list(store, { since });
      assert.deepEqual([ids(page), page.total], [want, want.length], since);
    }
  });

  test('from matches the sender exactly', async (t) => {
    const { store } = await open(t);
    const senders = ['+911', '+9111', '+91', '+911', '+1911'];
    await insertAll(store, senders.map((from, i) => msg(`f${i}`, { from, ts: at(`0${i}Z`) })));
    for (const [from, want] of [['+911', ['f0', 'f3']], ['+91', ['f2']], ['+9', []], ['911', []]] as const) {
      const page = await list(store, { from });
      assert.deepEqual([ids(page), page.total, page.more], [want, want.length, false], from);
    }
  });
}

/** Each q with the ids it finds, in order. */
async function expectSearches(store: Store, cases: readonly (readonly [string, readonly string[]])[]): Promise<void> {
  for (const [q, want] of cases) {
    const page = await list(store, { q });
    assert.deepEqual([ids(page), page.total], [want, want.length], JSON.stringify(q));
  }
}

function textCases(open: Open): void {
  test('q: a case-insensitive substring; % and _ literal; 1, 2 and 3+ characters alike', async (t) => {
    const { store } = await open(t);
    const texts = ['Hello World', 'hELLo', 'price 50% off', 'price 500 off', 'a_b', 'axb', null, 'HELLO_there', ''];
    await insertAll(store, shuffled(texts.map((text, i) => msg(`q${i}`, { text, ts: at(`0${i}Z`) }))));
    await expectSearches(store, [
      ['Hello', ['q0', 'q1', 'q7']],
      ['hello', ['q0', 'q1', 'q7']],
      ['HELLO_', ['q7']],
      ['50%', ['q2']],
      ['%', ['q2']],
      ['0%', ['q2']],
      ['a_b', ['q4']],
      ['_', ['q4', 'q7']],
      ['x', ['q5']],
      ['X', ['q5']],
      ['aX', ['q5']],
      ['AXB', ['q5']],
      ['w', ['q0']],
      ['wo', ['q0']],
      ['WOR', ['q0']],
      ['o', ['q0', 'q1', 'q2', 'q3', 'q7']],
      ['ff', ['q2', 'q3']],
      ['500', ['q3']],
      ['price 50', ['q2', 'q3']],
      ['null', []],
      ['zzz', []],
    ]);
  });

  test('q: NUL and characters without case match exactly; a null text matches no q', async (t) => {
    const { store } = await open(t);
    const texts = ['a\u0000b', 'ab', 'x\u0000in', 'café crème', '東京タワー', 'hi 👋🏽 there', null, 'in'];
    await insertAll(store, shuffled(texts.map((text, i) => msg(`n${i}`, { text, ts: at(`0${i}Z`) }))));
    await expectSearches(store, [
      ['\u0000', ['n0', 'n2']],
      ['a\u0000b', ['n0']],
      ['A\u0000', ['n0']],
      ['\u0000in', ['n2']],
      ['ab', ['n1']],
      ['b', ['n0', 'n1']],
      // The NUL is a character like any other: 'xin' is not in 'x' NUL 'in'.
      ['xin', []],
      ['in', ['n2', 'n7']],
      ['é', ['n3']],
      ['fé', ['n3']],
      ['Café', ['n3']],
      ['crème', ['n3']],
      ['京', ['n4']],
      ['東京', ['n4']],
      ['タワー', ['n4']],
      ['👋', ['n5']],
      ['👋🏽', ['n5']],
      ['i 👋🏽 t', ['n5']],
      ['🏽 ', ['n5']],
      ['h', ['n5']],
    ]);
  });
}

function unicodeCases(open: Open): void {
  test('q: NFC then full Unicode case folding in every script; accents kept; both sides folded alike', async (t) => {
    const { store } = await open(t);
    const texts = [
      'Straße 12',
      'STRASSE 7',
      'ẞ groß',
      'ΣΟΦΟΣ ΛΌΓΟΣ',
      'σοφος',
      'ЁЛКА у дома',
      'İstanbul',
      'ISTANBUL',
      'नमस्ते दुनिया',
      '👋🏽 🇮🇳',
      'cafe\u0301 au lait',
      'café noir',
      'a\u0000Ä',
      'ırmak',
    ];
    await insertAll(store, shuffled(texts.map((text, i) => msg(`u${String(i).padStart(2, '0')}`, { text, ts: at(`${10 + i}Z`) }))));
    await expectSearches(store, [
      // Latin: ß and ẞ fold to ss.
      ['STRASSE', ['u00', 'u01']],
      ['straße', ['u00', 'u01']],
      ['ẞ', ['u00', 'u01', 'u02']],
      ['GROSS', ['u02']],
      ['Groß', ['u02']],
      // Greek: final and medial sigma are one letter; the accent stays.
      ['ΣΟΦΟΣ', ['u03', 'u04']],
      ['σοφος', ['u03', 'u04']],
      ['ς', ['u03', 'u04']],
      ['λόγος', ['u03']],
      ['λογος', []],
      // Cyrillic: Ё is ё, not е.
      ['ёлка', ['u05']],
      ['ЁЛКА У', ['u05']],
      ['елка', []],
      // Turkish: İ folds to i and a combining dot (no Turkic rule), ı stays itself.
      ['İstanbul', ['u06']],
      ['istanbul', ['u07']],
      ['ı', ['u13']],
      ['IRMAK', []],
      // Scripts without case and emoji are matched as they are.
      ['नमस्ते', ['u08']],
      ['दुनिया', ['u08']],
      ['👋🏽', ['u09']],
      ['🇮🇳', ['u09']],
      // Combining and precomposed forms are one text after NFC; an accent is never dropped.
      ['café', ['u10', 'u11']],
      ['CAFE\u0301', ['u10', 'u11']],
      ['cafe', []],
      // A NUL is a character like any other, beside folded letters.
      ['ä', ['u12']],
      ['A\u0000ä', ['u12']],
      ['\u0000Ä', ['u12']],
    ]);
  });
}

// Twelve rows whose ids follow the sort order; three filters, each with the rows it keeps.
const A = '+111';
const B = '+222';
const C = '+333';
const ROWS: readonly Message[] = [
  msg('t01', { from: A, ts: at('00Z'), text: 'order shipped' }),
  msg('t02', { from: B, ts: at('00.25Z'), text: 'ORDER late' }),
  msg('t03', { from: A, ts: at('00.5Z'), text: null }),
  msg('t04', { from: C, ts: at('01Z'), text: 'no match here' }),
  msg('t05', { from: A, ts: at('01.5Z'), text: 'your Order' }),
  msg('t06', { from: B, ts: at('02Z'), text: 'order' }),
  msg('t07', { from: A, ts: at('02.000Z'), text: 'reorder?' }),
  msg('t08', { from: C, ts: at('03.1Z'), text: 'Order again' }),
  msg('t09', { from: A, ts: at('04Z'), text: 'nothing' }),
  msg('t10', { from: B, ts: at('05Z'), text: 'order' }),
  msg('t11', { from: A, ts: at('05.5Z'), text: 'ordered' }),
  msg('t12', { from: C, ts: at('06Z'), text: '' }),
];
const FILTERS = {
  from: [A, ['t01', 't03', 't05', 't07', 't09', 't11']],
  since: [at('02.0Z'), ['t06', 't07', 't08', 't09', 't10', 't11', 't12']],
  q: ['ORDER', ['t01', 't02', 't05', 't06', 't07', 't08', 't10', 't11']],
} as const;
// No cursor; a row's own place; a place between two rows of one instant (t06 < t06a < t07).
const CURSORS: (ListPosition | undefined)[] = [undefined, { ts: at('01Z'), messageId: 't04' }, { ts: at('02Z'), messageId: 't06a' }];

/** The position of a page's last message: what the API's next_cursor encodes. */
function cursor(page: { data: Message[] }): ListPosition {
  const last = page.data.at(-1);
  assert.ok(last);
  return { ts: last.ts, messageId: last.messageId };
}

/** Offset pages of `limit` from the top (after the cursor, if any): each page's ids, total and more. */
async function offsetPages(store: Store, query: Omit<ListQuery, 'limit' | 'offset'>, limit: number) {
  const pages: { ids: string[]; total: number; more: boolean }[] = [];
  for (let offset = 0; pages.at(-1)?.more !== false; offset += limit) {
    const page = await store.list({ ...query, limit, offset });
    pages.push({ ids: ids(page), total: page.total, more: page.more });
    assert.ok(pages.length <= ROWS.length + 1, 'more turns false');
  }
  return pages;
}

/** Every combination of the three filters, each with every cursor, limit and offset, in one order. */
async function filterGrid(store: Store, descending: boolean): Promise<void> {
  await insertAll(store, shuffled(ROWS));
  for (const mask of [0, 1, 2, 3, 4, 5, 6, 7]) {
    const query: Omit<ListQuery, 'limit' | 'offset'> = descending ? { descending } : {};
    let matching = ROWS.map((m) => m.messageId);
    (['from', 'since', 'q'] as const).forEach((name, bit) => {
      if ((mask & (1 << bit)) === 0) return;
      const [value, kept] = FILTERS[name];
      query[name] = value;
      matching = matching.filter((id) => (kept as readonly string[]).includes(id));
    });
    for (const after of CURSORS) {
      // Ids follow the ascending order: the rows after a cursor are those with a greater id, or a smaller one.
      const ordered = descending ? matching.toReversed() : matching;
      const want = after === undefined ? ordered : ordered.filter((id) => (descending ? id < after.messageId : id > after.messageId));
      const q = after === undefined ? query : { ...query, after };
      for (const limit of [1, 2, 5, 100]) {
        const label = JSON.stringify({ ...q, limit });
        const pages = await offsetPages(store, q, limit);
        assert.deepEqual(pages.flatMap((p) => p.ids), want, label);
        assert.deepEqual(pages.map((p) => p.total), pages.map(() => matching.length), label);
        // more: true on every page but the last; a last page may be empty only when nothing matches.
        assert.deepEqual(pages.map((p) => p.more), pages.map((_, i) => i < pages.length - 1), label);
        assert.ok(pages.length === 1 || (pages.at(-1)?.ids.length ?? 0) > 0, label);
        const past = await store.list({ ...q, limit, offset: want.length + 5 });
        assert.deepEqual(past, { data: [], total: matching.length, more: false }, label);
      }
    }
  }
}

function pagingCases(open: Open): void {
  test('total counts every match of the filters, whatever the limit, offset or cursor; more is right', async (t) => {
    await filterGrid((await open(t)).store, false);
  });

  test('descending with each filter, cursor, limit and offset: the reverse of the ascending answer, same totals', async (t) => {
    await filterGrid((await open(t)).store, true);
  });

  test('offset pages concatenate to the whole order, either way; an offset past the end is empty, total unchanged', async (t) => {
    const { store } = await open(t);
    await insertAll(store, shuffled(ROWS));
    const whole = await list(store);
    assert.deepEqual(whole, { data: ROWS, total: 12, more: false });
    for (const limit of [1, 3, 5, 12]) {
      const pages = await offsetPages(store, {}, limit);
      assert.deepEqual(pages.flatMap((p) => p.ids), ROWS.map((m) => m.messageId), `limit ${limit}`);
    }
    assert.deepEqual(await store.list({ limit: 5, offset: 10 }), { data: ROWS.slice(10), total: 12, more: false });
    assert.deepEqual(await store.list({ limit: 5, offset: 12 }), { data: [], total: 12, more: false });
    assert.deepEqual(await store.list({ limit: 5, offset: 1000 }), { data: [], total: 12, more: false });
    for (const limit of [1, 5, 12]) {
      const pages = await offsetPages(store, { descending: true }, limit);
      assert.deepEqual(pages.flatMap((p) => p.ids), ROWS.map((m) => m.messageId).toReversed(), `descending, limit ${limit}`);
    }
    assert.deepEqual(await store.list({ descending: true, limit: 5, offset: 10 }), { data: ROWS.slice(0, 2).toReversed(), total: 12, more: false });
    assert.deepEqual(await store.list({ descending: true, limit: 5, offset: 12 }), { data: [], total: 12, more: false });
  });

  test('cursor pages neither repeat nor skip while rows arrive; filters combine with the cursor', async (t) => {
    const { store } = await open(t);
    const first = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'].map((id, i) => msg(id, { ts: at(`0${i + 1}Z`), text: `row ${id}` }));
    await insertAll(store, first);
    const page1 = await list(store, { limit: 2 });
    assert.deepEqual([ids(page1), page1.total, page1.more], [['m1', 'm2'], 6, true]);
    // Before the cursor (offsets would now repeat m2), tied with it but after it, and after the end.
    await insertAll(store, [
      msg('early', { ts: at('00Z'), text: 'row early' }),
      msg('m2b', { ts: at('02.000Z'), text: 'row m2b' }),
      msg('late', { ts: at('09Z'), text: 'row late' }),
    ]);
    const page2 = await list(store, { limit: 2, after: cursor(page1) });
    assert.deepEqual([ids(page2), page2.total, page2.more], [['m2b', 'm3'], 9, true]);
    // The same place spelled another way is the same place.
    assert.deepEqual(await list(store, { limit: 2, after: { ts: at('02.0Z'), messageId: 'm2' } }), page2);
    await insertAll(store, [msg('m3a', { ts: at('03.5Z'), text: 'row m3a' })]);
    const page3 = await list(store, { limit: 3, after: cursor(page2) });
    assert.deepEqual([ids(page3), page3.total, page3.more], [['m3a', 'm4', 'm5'], 10, true]);
    const page4 = await list(store, { limit: 3, after: cursor(page3) });
    assert.deepEqual([ids(page4), page4.total, page4.more], [['m6', 'late'], 10, false]);
    assert.deepEqual(await list(store, { limit: 3, after: cursor(page4) }), { data: [], total: 10, more: false });

    const filtered = { since: at('02.5Z'), q: 'ROW M', from: '+100' };
    const f1 = await list(store, { ...filtered, limit: 2 });
    assert.deepEqual([ids(f1), f1.total, f1.more], [['m3', 'm3a'], 5, true]);
    const f2 = await list(store, { ...filtered, limit: 2, after: cursor(f1) });
    assert.deepEqual([ids(f2), f2.total, f2.more], [['m4', 'm5'], 5, true]);
    const f3 = await list(store, { ...filtered, limit: 2, after: cursor(f2) });
    assert.deepEqual([ids(f3), f3.total, f3.more], [['m6'], 5, false]);
  });
  test('descending cursor pages neither repeat nor skip while rows arrive, before, tied with and after the cursor', async (t) => {
    const { store } = await open(t);
    const first = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'].map((id, i) => msg(id, { ts: at(`0${i + 1}Z`), text: `row ${id}` }));
    await insertAll(store, first);
    const page1 = await list(store, { descending: true, limit: 2 });
    assert.deepEqual([ids(page1), page1.total, page1.more], [['m6', 'm5'], 6, true]);
    // Newer than the whole page (offsets would now repeat m5); at m5's instant, before and after it in
    // this order; older than every row.
    await insertAll(store, [
      msg('late', { ts: at('09Z'), text: 'row late' }),
      msg('m5b', { ts: at('05.000Z'), text: 'row m5b' }),
      msg('m4z', { ts: at('05.0Z'), text: 'row m4z' }),
      msg('early', { ts: at('00Z'), text: 'row early' }),
    ]);
    const page2 = await list(store, { descending: true, limit: 2, after: cursor(page1) });
    assert.deepEqual([ids(page2), page2.total, page2.more], [['m4z', 'm4'], 10, true]);
    assert.deepEqual(await list(store, { descending: true, limit: 2, after: { ts: at('05.00Z'), messageId: 'm5' } }), page2);
    await insertAll(store, [msg('m3a', { ts: at('03.5Z'), text: 'row m3a' })]);
    const page3 = await list(store, { descending: true, limit: 3, after: cursor(page2) });
    assert.deepEqual([ids(page3), page3.total, page3.more], [['m3a', 'm3', 'm2'], 11, true]);
    const page4 = await list(store, { descending: true, limit: 3, after: cursor(page3) });
    assert.deepEqual([ids(page4), page4.total, page4.more], [['m1', 'early'], 11, false]);
    assert.deepEqual(await list(store, { descending: true, limit: 3, after: cursor(page4) }), { data: [], total: 11, more: false });

    const filtered = { descending: true, since: at('02.5Z'), q: 'ROW M', from: '+100' };
    const f1 = await list(store, { ...filtered, limit: 3 });
    assert.deepEqual([ids(f1), f1.total, f1.more], [['m6', 'm5b', 'm5'], 7, true]);
    const f2 = await list(store, { ...filtered, limit: 3, after: cursor(f1) });
    assert.deepEqual([ids(f2), f2.total, f2.more], [['m4z', 'm4', 'm3a'], 7, true]);
    const f3 = await list(store, { ...filtered, limit: 3, after: cursor(f2) });
    assert.deepEqual([ids(f3), f3.total, f3.more], [['m3'], 7, false]);
  });
}
