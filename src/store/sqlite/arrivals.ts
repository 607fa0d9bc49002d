// The live tail on SQLite (GET /messages/stream). A position is arrival_seq's counter (schema.ts), which
// only the one writer advances, inside its transaction: rows become visible in position order, so a read
// after a position never skips one that commits later.
import type { DatabaseSync } from 'node:sqlite';
import { fold } from '../fold.ts';
import type { Arrival, ArrivalFilter } from '../store.ts';
import { MATCH_ANY, statementCache, toMessage } from './list.ts';

/** A position this engine issues. */
const POSITION = /^(0|[1-9][0-9]{0,14})$/;

type Row = Parameters<typeof toMessage>[0];

/** The tail's reads, each inside the caller's read transaction. */
export function createTail(db: DatabaseSync): { head(): string; issued(position: string): boolean; after(position: string, filter: ArrivalFilter, limit: number): Arrival[] } {
  const headStmt = db.prepare('SELECT last FROM arrival_seq WHERE id = 0');
  const prepare = statementCache(db);
  const head = (): string => String((headStmt.get() as Row | undefined)?.last ?? 0);
  return {
    head,
    issued: (position) => POSITION.test(position) && Number(position) <= Number(head()),
    after(position, filter, limit) {
      const where = ['arrival > :after', ...(filter.from === undefined ? [] : ['from_msisdn = :from']), ...(filter.q === undefined ? [] : [MATCH_ANY])];
      const sql = `SELECT arrival, message_id, from_msisdn, to_msisdn, ts, text, type FROM messages INDEXED BY idx_messages_arrival
        WHERE ${where.join(' AND ')} ORDER BY arrival LIMIT :limit`;
      const params = { after: Number(position), limit, ...(filter.from !== undefined && { from: filter.from }), ...(filter.q !== undefined && { folded: fold(filter.q) }) };
      return (prepare(sql).all(params) as Row[]).map((r) => ({ position: String(r.arrival), message: toMessage(r) }));
    },
  };
}
