// The SQLite query planner (src/store/sqlite/list.ts planList), table-driven: each branch of the
// decision, from the query and the counts, to the statements that answer it. That the statements give
// the contract's answers is the contract's part (test/store/contract-sqlite.test.ts runs every branch).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LIST_THRESHOLDS, planHits, planList, type Statement } from '../../src/store/sqlite/list.ts';
import type { ListQuery } from '../../src/store/store.ts';

/** What a statement reads and how it matches q: enough to tell the branches apart. */
function shape(statement: Statement | number): string {
  if (typeof statement === 'number') return `known ${statement}`;
  const table = /FROM (messages(?: INDEXED BY \w+)?)(?: WHERE|\s|$)/.exec(statement.sql)?.[1] ?? '?';
  const how = statement.sql.includes('messages_search MATCH') ? ' via trigram index' : statement.sql.includes('instr(search_text') ? ' row by row' : '';
  const kind = statement.sql.startsWith('SELECT count(*)') ? 'count' : statement.sql.startsWith('SELECT :messages - count(*)') ? 'the rest of' : 'page';
  const folding = statement.sql.includes('instr(search_text, :folded) > 0 OR rowid IN') ? ', folding' : '';
  const newest = / ORDER BY ts_key DESC, message_id DESC /.test(statement.sql) ? ', newest first' : '';
  return `${kind} ${table}${how}${folding}${newest}`;
}

const base: ListQuery = { limit: 10, offset: 0 };
const MESSAGES = 1_000_000;
const TIME_TEXT = 'messages INDEXED BY idx_messages_ts_text';

/** The oldest and newest ts stored: the span the reader gives for `since` alone. */
const SPAN: [string, string] = ['2024-01-01T00:00:00Z', '2025-12-31T00:00:00Z'];

const cases: { name: string; query: Partial<ListQuery>; hits?: number; unfolded?: boolean; span?: [string, string]; total: string; page: string }[] = [
  { name: 'no filter: the total is the stored count', query: {}, total: `known ${MESSAGES}`, page: 'page messages' },
  { name: 'from: counted through its index', query: { from: '+1' }, total: 'count messages', page: 'page messages' },
  { name: 'since: counted', query: { since: '2025-01-01T00:00:00Z' }, total: 'count messages', page: 'page messages' },
  { name: 'since in the newer two thirds of the stored span: its rows counted', query: { since: '2024-09-02T00:00:00Z' }, span: SPAN, total: 'count messages', page: 'page messages' },
  { name: 'since in the oldest third: the rows before it counted, the rest of the stored count', query: { since: '2024-08-30T00:00:00Z' }, span: SPAN, total: 'the rest of messages', page: 'page messages' },
  { name: 'since before every row: the rest of the stored count', query: { since: '2000-01-01T00:00:00Z' }, span: SPAN, total: 'the rest of messages', page: 'page messages' },
  { name: 'from + since: counted through the sender', query: { from: '+1', since: '2000-01-01T00:00:00Z' }, span: SPAN, total: 'count messages', page: 'page messages' },
  { name: 'q of 2 characters: a walk in time order', query: { q: 'ok' }, total: `count ${TIME_TEXT} row by row`, page: `page ${TIME_TEXT} row by row` },
  { name: 'q holding a NUL: a walk', query: { q: 'a\u0000bc' }, total: `count ${TIME_TEXT} row by row`, page: `page ${TIME_TEXT} row by row` },
  {
    name: "q of 2 characters while an operator's edit waits to be folded: such rows folded as read",
    query: { q: 'ok' },
    unfolded: true,
    total: `count ${TIME_TEXT} row by row, folding`,
    page: `page ${TIME_TEXT} row by row, folding`,
  },
  { name: 'from + q: the sender rows, row by row', query: { from: '+1', q: 'order' }, total: 'count messages row by row', page: 'page messages row by row' },
  { name: 'q, rare: total from the index, hits sorted', query: { q: 'order' }, hits: 30, total: 'known 30', page: 'page messages via trigram index' },
  { name: 'q, common: total from the index, page walked', query: { q: 'order' }, hits: 200_000, total: 'known 200000', page: `page ${TIME_TEXT} row by row` },
  {
    name: 'q in 1 text of 20, deep page: sorting the hits is cheaper than walking to it',
    query: { q: 'order', offset: 40_000 },
    hits: 50_000,
    total: 'known 50000',
    page: 'page messages via trigram index',
  },
  {
    name: 'since + q, few hits: counted through the index',
    query: { q: 'order', since: '2025-01-01T00:00:00Z' },
    hits: LIST_THRESHOLDS.indexCountLimit,
    total: 'count messages via trigram index',
    page: `page ${TIME_TEXT} row by row`,
  },
  {
    name: 'since + q, many hits: counted by a walk',
    query: { q: 'order', since: '2025-01-01T00:00:00Z' },
    hits: LIST_THRESHOLDS.indexCountLimit + 1,
    total: `count ${TIME_TEXT} row by row`,
    page: `page ${TIME_TEXT} row by row`,
  },
  // Newest first: the same choices, each page read the other way along the same index.
  { name: 'descending, no filter', query: { descending: true }, total: `known ${MESSAGES}`, page: 'page messages, newest first' },
  { name: 'descending, from', query: { descending: true, from: '+1' }, total: 'count messages', page: 'page messages, newest first' },
  { name: 'descending, q of 2 characters: a walk from the end', query: { descending: true, q: 'ok' }, total: `count ${TIME_TEXT} row by row`, page: `page ${TIME_TEXT} row by row, newest first` },
  { name: 'descending, q rare: hits sorted', query: { descending: true, q: 'order' }, hits: 30, total: 'known 30', page: 'page messages via trigram index, newest first' },
  { name: 'descending, q common: walked from the end', query: { descending: true, q: 'order' }, hits: 200_000, total: 'known 200000', page: `page ${TIME_TEXT} row by row, newest first` },
  {
    name: 'descending, since + q, many hits: counted by a walk, walked from the end',
    query: { descending: true, q: 'order', since: '2025-01-01T00:00:00Z' },
    hits: LIST_THRESHOLDS.indexCountLimit + 1,
    total: `count ${TIME_TEXT} row by row`,
    page: `page ${TIME_TEXT} row by row, newest first`,
  },
];

for (const c of cases) {
  test(`planList: ${c.name}`, () => {
    const query = { ...base, ...c.query };
    const hits = planHits(query);
    assert.equal(hits !== null, c.hits !== undefined, 'whether the index is asked for its hits');
    const plan = planList(query, { messages: MESSAGES, hits: c.hits ?? null, unfolded: c.unfolded ?? false, ...(c.span && { span: c.span }) });
    assert.deepEqual([shape(plan.total), shape(plan.page)], [c.total, c.page]);
    if (c.total === 'the rest of messages') assert.equal((plan.total as Statement).params.messages, MESSAGES);
  });
}

test('planList: q is folded once, for every statement; `%`, `_` and quotes are plain characters', () => {
  const query = { ...base, q: 'STRAẞE "50%_"' };
  const hits = planHits(query);
  assert.deepEqual(hits?.params, { folded: 'strasse "50%_"', phrase: '"strasse ""50%_"""' });
  const plan = planList(query, { messages: 10, hits: 1, unfolded: false });
  assert.equal(plan.page.params.folded, 'strasse "50%_"');
});

test('planList: the cursor and the page bounds are parameters; one row more than the page is read', () => {
  const plan = planList({ ...base, limit: 5, offset: 3, after: { ts: '2025-01-01T00:00:00.50Z', messageId: "x'; DROP" } }, { messages: 9, hits: null, unfolded: false });
  assert.deepEqual([plan.page.params.after_ts, plan.page.params.after_id, plan.page.params.limit, plan.page.params.offset], [
    '2025-01-01T00:00:00.50Z',
    "x'; DROP",
    6,
    3,
  ]);
  assert.ok(!plan.page.sql.includes('DROP'));
  assert.equal(shape(plan.total), 'known 9');
});

test('planList: a cursor is a position in the requested order: after it means later ascending, earlier descending', () => {
  const after = { ts: '2025-01-01T00:00:00Z', messageId: 'm' };
  const [up, down] = [false, true].map((descending) => planList({ ...base, descending, after }, { messages: 9, hits: null, unfolded: false }).page.sql);
  assert.match(up ?? '', /\(ts_key, message_id\) > \(.*:after_id\)[\s\S]*ORDER BY ts_key ASC, message_id ASC /);
  assert.match(down ?? '', /\(ts_key, message_id\) < \(.*:after_id\)[\s\S]*ORDER BY ts_key DESC, message_id DESC /);
});
