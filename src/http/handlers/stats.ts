import type { Store } from '../../store/store.ts';
import { json, type Reply } from '../response.ts';

export const TOP_SENDERS = 10;

/** GET /stats: totals, the top senders (count desc, then sender asc) and the first and last instants. */
export function createStatsHandler(store: Store): () => Promise<Reply> {
  return async () => {
    const s = await store.stats(TOP_SENDERS);
    return json(200, {
      total_messages: s.totalMessages,
      senders_count: s.sendersCount,
      messages_per_sender: s.messagesPerSender.map((p) => ({ from: p.from, count: p.count })),
      first_message_ts: s.firstMessageTs,
      last_message_ts: s.lastMessageTs,
    });
  };
}
