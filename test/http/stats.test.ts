import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { getJson, message, postSigned, startApp, SQLITE_ONLY } from '../helpers.ts';

describe('GET /stats', () => {
  test('an empty store: zeros, an empty list and null timestamps', async (t) => {
    const app = await startApp(t);
    const { status, body } = await getJson(`${app.url}/stats`);
    assert.equal(status, 200);
    assert.deepEqual(body, {
      total_messages: 0,
      senders_count: 0,
      messages_per_sender: [],
      first_message_ts: null,
      last_message_ts: null,
    });
  });

  test('totals, top senders by count then sender, and the earliest and latest instants', async (t) => {
    const app = await startApp(t);
    const plan: [string, number][] = [
      ['+300', 3],
      ['+100', 2],
      ['+200', 2],
      ['+400', 1],
    ];
    let n = 0;
    for (const [from, count] of plan) {
      for (let i = 0; i < count; i++) {
        n += 1;
        const ts = `2025-03-0${n}T12:00:00${n === 4 ? '.25' : ''}Z`;
        assert.equal((await postSigned(app.url, message({ message_id: `m${n}`, from, ts }))).status, 200);
      }
    }
    // Mixed precision: the latest instant is ...08T12:00:00Z, the earliest ...01; a fractional one sits between.
    await postSigned(app.url, message({ message_id: 'm1', from: '+999' })); // duplicate: not counted
    const { body } = await getJson(`${app.url}/stats`);
    assert.deepEqual(body, {
      total_messages: 8,
      senders_count: 4,
      messages_per_sender: [
        { from: '+300', count: 3 },
        { from: '+100', count: 2 },
        { from: '+200', count: 2 },
        { from: '+400', count: 1 },
      ],
      first_message_ts: '2025-03-01T12:00:00Z',
      last_message_ts: '2025-03-08T12:00:00Z',
    });
  });

  test('first and last compare instants: a fraction sorts after the whole second', async (t) => {
    const app = await startApp(t);
    await postSigned(app.url, message({ message_id: 'x', ts: '2025-01-01T00:00:00.5Z' }));
    await postSigned(app.url, message({ message_id: 'y', ts: '2025-01-01T00:00:00Z' }));
    await postSigned(app.url, message({ message_id: 'z', ts: '2025-01-01T00:00:00.05Z' }));
    const { body } = await getJson(`${app.url}/stats`);
    const s = body as { first_message_ts: string; last_message_ts: string };
    assert.equal(s.first_message_ts, '2025-01-01T00:00:00Z');
    assert.equal(s.last_message_ts, '2025-01-01T00:00:00.5Z');
  });

  test('only the top 10 senders are listed, while senders_count counts all', async (t) => {
    const app = await startApp(t);
    for (let i = 0; i < 12; i++) {
      for (let j = 0; j <= i % 3; j++) {
        await postSigned(app.url, message({ message_id: `s${i}-${j}`, from: `+1${String(i).padStart(2, '0')}` }));
      }
    }
    const { body } = await getJson(`${app.url}/stats`);
    const s = body as { senders_count: number; total_messages: number; messages_per_sender: { from: string; count: number }[] };
    assert.equal(s.senders_count, 12);
    assert.equal(s.total_messages, 24);
    assert.deepEqual(s.messages_per_sender, [
      { from: '+102', count: 3 },
      { from: '+105', count: 3 },
      { from: '+108', count: 3 },
      { from: '+111', count: 3 },
      { from: '+101', count: 2 },
      { from: '+104', count: 2 },
      { from: '+107', count: 2 },
      { from: '+110', count: 2 },
      { from: '+100', count: 1 },
      { from: '+103', count: 1 },
    ]);
  });

  test('stay right after an operator deletes rows through another connection', { skip: SQLITE_ONLY }, async (t) => {
    const app = await startApp(t);
    for (const [id, from] of [
      ['a', '+1'],
      ['b', '+1'],
      ['c', '+2'],
    ] as const) {
      await postSigned(app.url, message({ message_id: id, from }));
    }
    const other = new DatabaseSync(app.dbPath, { timeout: 5_000 });
    other.exec("DELETE FROM messages WHERE from_msisdn = '+2'");
    other.close();
    const { body } = await getJson(`${app.url}/stats`);
    assert.deepEqual(body, {
      total_messages: 2,
      senders_count: 1,
      messages_per_sender: [{ from: '+1', count: 2 }],
      first_message_ts: '2025-01-15T10:00:00Z',
      last_message_ts: '2025-01-15T10:00:00Z',
    });
  });
});
