// GET /messages/stream's filters against GET /messages' (SPEC: `from` and `q` like /messages): the
// events a filtered stream sends are exactly the messages /messages lists for the same filter, for texts
// where case folding, normalisation and NUL make the rule easy to get wrong. Both ways a stream reads:
// following new rows (matched by the service as they pass) and catching up after an older id (matched by
// the store). Runs on PostgreSQL too (TEST_ENGINE=postgres).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getJson, message, postSigned, startApp, waitFor } from '../helpers.ts';
import { openStream, type SseClient } from '../sse.ts';

const TEXTS = [
  'Hauptstraße 5',
  'STRASSE',
  'Ϊ́ decomposed',
  'ΐ composed',
  'ﬃ ligature',
  'İstanbul',
  'ıslak',
  'ΣΊΣΥΦΟΣ',
  'ᏣᎳᎩ',
  'ꮳꮃꭹ',
  'a\u0000b',
  'NUL\u0000CASE',
  '\u0001x',
  'café',
  'cafe\u0301',
  '👍 ok',
  '100% _done_',
  null,
];
const QUERIES = ['STRASSE', 'ss', 'ΐ', 'FFI', 'İ', 'ı', 'i', 'σ', 'ς', 'Ꮳ', 'ꮳ', '\u0000', 'l\u0000c', '\u0001', 'CAFÉ', 'e\u0301', '👍', '%', '_d', 'x'];
const SENDERS = ['+911', '+922'];

const idsOf = (stream: SseClient): string[] => stream.events.map((e) => String((JSON.parse(e.data) as { message_id: string }).message_id));

describe('GET /messages/stream filters agree with GET /messages', () => {
  test('for every q (non-ASCII, NUL, wildcards) and from, following new rows and catching up alike', async (t) => {
    const app = await startApp(t);
    const filters: { q?: string; from?: string }[] = [...QUERIES.map((q) => ({ q })), { from: SENDERS[1] as string }, { from: SENDERS[0] as string, q: 'ss' }];
    const query = (f: { q?: string; from?: string }): string => new URLSearchParams(f).toString();
    const all = await openStream(`${app.url}/messages/stream`);
    t.after(() => all.close());
    // Matches no filter; the streams that catch up resume after it.
    assert.equal((await postSigned(app.url, message({ message_id: 'zero', from: SENDERS[0], text: 'zero' }))).status, 200);
    const start = (await all.waitForEvents(1))[0]?.id ?? '';
    const live = await Promise.all(filters.map((f) => openStream(`${app.url}/messages/stream?${query(f)}`)));
    for (const s of live) t.after(() => s.close());
    // Every message in the order of its ts too, so the listing's order is the stream's.
    const posted = TEXTS.flatMap((text, i) => SENDERS.map((from, j) => ({ message_id: `m${i}-${j}`, from, text, ts: `2025-01-01T00:${String(i).padStart(2, '0')}:0${j}Z` })));
    // Last, a text holding every q: each stream's last event, so none is still waiting for one.
    posted.push({ message_id: 'sentinel', from: SENDERS[0] as string, text: QUERIES.join(' | '), ts: '2025-01-02T00:00:00Z' });
    for (const m of posted) assert.equal((await postSigned(app.url, message(m))).status, 200);
    await all.waitForEvents(posted.length + 1);

    const resumed = await Promise.all(filters.map((f) => openStream(`${app.url}/messages/stream?${query(f)}&after=${encodeURIComponent(start)}`)));
    for (const s of resumed) t.after(() => s.close());
    const listed = async (f: { q?: string; from?: string }): Promise<string[]> => {
      const { status, body } = await getJson(`${app.url}/messages?limit=100&${query(f)}`);
      assert.equal(status, 200);
      return (body as { data: { message_id: string }[] }).data.map((m) => m.message_id);
    };
    for (const [i, f] of filters.entries()) {
      const expected = await listed(f);
      if (f.from === undefined || f.q !== undefined) assert.equal(expected.at(-1), 'sentinel', JSON.stringify(f));
      for (const [how, stream] of [['following', live[i]], ['catching up', resumed[i]]] as const) {
        await waitFor(() => idsOf(stream as SseClient).includes(expected.at(-1) ?? ''), 10_000).catch(() => {});
        assert.deepEqual(idsOf(stream as SseClient), expected, `${how} ${JSON.stringify(f)}`);
      }
    }
    // Not a vacuous agreement: the folding cases match what they should.
    assert.ok((await listed({ q: 'STRASSE' })).includes('m0-0'), 'ß folds to ss');
    assert.ok((await listed({ q: 'ΐ' })).includes('m2-0'), 'a decomposed text matches its composed q');
    assert.ok((await listed({ q: 'l\u0000c' })).includes('m11-1'), 'a NUL matches inside a text');
  });
});
