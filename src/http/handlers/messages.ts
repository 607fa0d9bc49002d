import { messageJson } from '../../domain/export-query.ts';
import { encodeCursor, parseListQuery } from '../../domain/list-query.ts';
import type { Store } from '../../store/store.ts';
import type { Req } from '../request.ts';
import { json, type Reply } from '../response.ts';

/** GET /messages: a page of messages in the requested order (oldest first unless `order=desc`), with the total of all matches. */
export function createMessagesHandler(store: Store): (req: Req) => Promise<Reply> {
  return async (req) => {
    const parsed = parseListQuery(req.query);
    if (!parsed.ok) return json(422, { detail: parsed.errors });
    const query = parsed.value;
    const result = await store.list(query);
    const last = result.data.at(-1);
    return json(200, {
      // SPEC: text messages keep exactly the seed's five fields; a WhatsApp message of another type adds `type`.
      data: result.data.map(messageJson),
      total: result.total,
      limit: query.limit,
      offset: query.offset,
      // Keyset paging: the next page starts after this page's last row, however deep. null: no more.
      next_cursor: result.more && last ? encodeCursor(last) : null,
    });
  };
}
