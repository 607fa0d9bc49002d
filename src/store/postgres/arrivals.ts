// The live tail on PostgreSQL (GET /messages/stream). A position is (arrival_tx, arrival): the id of the
// transaction that inserted the row, then its sequence number (schema.ts). Replicas commit out of
// sequence order, so a row of a transaction still running could later appear before rows already
// streamed; a read therefore stops below the horizon, the oldest transaction id still running
// (pg_snapshot_xmin of the statement's snapshot): every row before it is committed or never will be.
import type { Sql } from 'postgres';
import type { Store } from '../store.ts';
import { filters, toMessage, type Param, type Stored } from './list.ts';
import { UNFOLDED } from './schema.ts';
import { withFoldedTexts } from './text.ts';

/** A position this engine issues: transaction id, a dot, sequence number. */
const POSITION = /^(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,18})$/;
const HORIZON = 'arrival_tx < pg_snapshot_xmin(pg_current_snapshot())';
const COLUMNS = 'arrival_tx::text AS tx, arrival::text AS n, message_id, from_msisdn, to_msisdn, ts, text, type';

/** A row read, or (tx null) none, with whether the snapshot holds a text an operator's edit left unfolded. */
type Row = (Stored & { tx: string; n: string } & { unfolded: boolean }) | { tx: null; unfolded: boolean };

export function createTail(sql: Sql): Pick<Store, 'arrivalHead' | 'arrivalIssued' | 'arrivals'> {
  // With q, the snapshot is also asked for unfolded texts, which q cannot match until folded (list.ts).
  const read = async (where: string[], params: Param[], order: string, limit: number, q = false): Promise<{ unfolded: boolean; answer: (Row & { tx: string })[] }> => {
    const rows = await sql.unsafe<Row[]>(
      `WITH t AS MATERIALIZED (SELECT ${q ? `EXISTS (SELECT FROM messages WHERE ${UNFOLDED})` : 'false'} AS unfolded)
      SELECT t.unfolded, p.* FROM t LEFT JOIN (SELECT arrival_tx, arrival, ${COLUMNS} FROM messages WHERE ${[...where, HORIZON].join(' AND ')}
        ORDER BY arrival_tx ${order}, arrival ${order} LIMIT $${params.push(limit)}::int) p ON true
      ORDER BY p.arrival_tx ${order}, p.arrival ${order}`,
      params as never[],
      { prepare: true },
    );
    return { unfolded: rows[0]?.unfolded === true, answer: rows.filter((r): r is Row & { tx: string } => r.tx !== null) };
  };
  return {
    async arrivalHead() {
      const [row] = (await read([], [], 'DESC', 1)).answer;
      return row === undefined ? '0.0' : `${row.tx}.${row.n}`;
    },
    async arrivalIssued(position) {
      const m = POSITION.exec(position);
      // xid8 and bigint bounds: past them the casts below would fail (a 500, not a refusal).
      if (m === null || BigInt(m[1] ?? '') >= 2n ** 64n || BigInt(m[2] ?? '') >= 2n ** 63n) return false;
      const [row] = await sql<{ ok: boolean }[]>`
        SELECT ${m[1] ?? ''}::xid8 < pg_snapshot_xmax(pg_current_snapshot())
          AND ${m[2] ?? ''}::bigint <= coalesce(pg_sequence_last_value(pg_get_serial_sequence('messages', 'arrival')::regclass), 0) AS ok`;
      return row?.ok === true;
    },
    async arrivals(position, filter, limit) {
      const [tx = '0', n = '0'] = position.split('.');
      const params: Param[] = [tx, n];
      const where = ['(arrival_tx, arrival) > ($1::xid8, $2::bigint)', ...filters(filter, params).where];
      const rows = await withFoldedTexts(sql, () => read(where, [...params], 'ASC', limit, filter.q !== undefined));
      return rows.map((r) => ({ position: `${r.tx}.${r.n}`, message: toMessage(r) }));
    },
  };
}
