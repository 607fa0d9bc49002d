// The storage contract every engine implements (SQLite, PostgreSQL) and test/store/contract.ts holds them
// to. Async, as PostgreSQL's calls are, though node:sqlite's are synchronous. This file imports nothing:
// the domain and HTTP layers depend on it, never the reverse.

export type Message = {
  messageId: string;
  from: string;
  to: string;
  /** Exactly as the sender wrote it; ordering uses the instant it names. */
  ts: string;
  text: string | null;
  /** Absent for text messages; Meta's message type otherwise ('image', 'reaction', 'location', ...). */
  type?: string;
};

export type InsertOutcome = 'created' | 'duplicate';

/** `since`: inclusive, a valid contract timestamp. `q`: a substring of text once both are folded (fold.ts), `%` and `_` literal. */
export type MessageFilter = { from?: string; since?: string; q?: string };

export type ListQuery = MessageFilter & {
  limit: number;
  offset: number;
  /** Newest first: the exact reverse of the sort order. */
  descending?: boolean;
  /** Only messages after this position in the requested order (a cursor, decoded). */
  after?: ListPosition;
};

/** A place in the sort order: the instant of `ts` (as sent), then `messageId`. */
export type ListPosition = { ts: string; messageId: string };

/** `more`: rows follow the page in the requested order (whatever `total` says about rows before it). */
export type ListResult = { data: Message[]; total: number; more: boolean };

/** What an erasure removes: one message, or every message of one sender (never everything). */
export type EraseTarget = { messageId: string } | { from: string };

export type Stats = {
  totalMessages: number;
  sendersCount: number;
  /** Top senders: count descending, then sender ascending. */
  messagesPerSender: { from: string; count: number }[];
  firstMessageTs: string | null;
  lastMessageTs: string | null;
};

/** What an engine tells the operator: start-up work (migrations), and storage trouble and its end. */
export type OnEvent = (msg: string, fields?: Record<string, unknown>, level?: 'INFO' | 'WARNING' | 'ERROR') => void;

/** What an operator watches to see trouble coming; read without side effects. */
type StoreLoad = {
  /** Inserts accepted and not yet answered (waiting for, or in, a group commit). */
  pendingInserts: number;
  /** Engines with a connection pool: connections in use and the pool's size. */
  pool?: { busy: number; size: number };
};

export type ArrivalFilter = Pick<MessageFilter, 'from' | 'q'>;
export type Arrival = { position: string; message: Message };

export type Store = {
  /**
   * The messages of one request, in one transaction: resolves once it is durably committed, with an
   * outcome for each message in order: 'created', or 'duplicate' when the id is stored already or earlier
   * in the array (the first copy is kept). Rejects, with nothing stored, when the transaction fails, and
   * when the outcome is unknown: never guesses one.
   */
  insertMany(messages: Message[]): Promise<InsertOutcome[]>;
  list(query: ListQuery): Promise<ListResult>;
  stats(topSenders: number): Promise<Stats>;
  /** Throws unless the database answers a query on the applied schema. */
  ping(): Promise<void>;
  /** Deletes at most `limit` of the messages received before `before`; resolves with how many went. */
  prune(before: Date, limit: number): Promise<number>;
  load(): StoreLoad;
  /**
   * Erases one message, or every message of one sender, in batches small enough that ingest goes on;
   * resolves with how many went. Repeated after a crash part-way, it erases the rest. Counts and the
   * search index follow in the same transactions, and the text is made unreadable from the files as far
   * as the engine can.
   */
  erase(target: EraseTarget): Promise<number>;
  /** Every match of the filter in ascending order, a page of at most `pageSize` at a time, never counting. */
  scan(filter: MessageFilter, pageSize: number): AsyncIterable<Message[]>;
  /** Commits anything pending, then closes; calling it again gives the same promise. Further calls reject as unavailable. */
  close(): Promise<void>;

  // The live tail (GET /messages/stream): messages in the order they were stored, by a position that is
  // opaque to clients: dot-separated decimal integers whose order, part by part, is the arrival order.
  /** The position after every message a stream can read now: a stream that starts here gets the next ones stored. */
  arrivalHead(): Promise<string>;
  /** Whether this store could have issued `position` (well formed, not past the head); a client's id is checked once. */
  arrivalIssued(position: string): Promise<boolean>;
  /**
   * At most `limit` messages stored after `position`, in arrival order, matching the filter as `list`
   * matches it. Never skips one: a message that becomes visible later has a later position than any returned.
   */
  arrivals(position: string, filter: ArrivalFilter, limit: number): Promise<Arrival[]>;
  /**
   * Calls `onChange` when messages may have arrived: this store's commits before they are answered, others'
   * within a second, and once soon after the call (for rows that came before it). Returns the stop.
   */
  watchArrivals(onChange: () => void): () => void;
};

/**
 * Trouble that may pass (disk full, file locked or read-only, server gone): callers answer 503 with
 * Retry-After instead of 500, and readiness reports it.
 */
export type StoreUnavailable = Error & { readonly storeUnavailable: true };

export function storeUnavailable(message: string, cause?: unknown): StoreUnavailable {
  return Object.assign(new Error(message, { cause }), { storeUnavailable: true as const });
}

export function isStoreUnavailable(err: unknown): err is StoreUnavailable {
  return err instanceof Error && (err as Partial<StoreUnavailable>).storeUnavailable === true;
}

/**
 * An erasure, batch by batch (each batch its own transaction, deleting at most `size` rows) until one
 * deletes fewer: a crash part-way leaves the rest for a repeat. Resolves with how many rows went.
 */
export async function eraseInBatches(size: number, batch: () => Promise<number>): Promise<number> {
  for (let erased = 0; ; ) {
    const deleted = await batch();
    erased += deleted;
    if (deleted < size) return erased;
  }
}

/** Every page of a scan, each read by `page` after the last one's final position (both engines). */
export async function* scanPages(page: (after: ListPosition | undefined) => Promise<{ data: Message[]; more: boolean }>): AsyncGenerator<Message[]> {
  for (let after: ListPosition | undefined; ; ) {
    const { data, more } = await page(after);
    if (data.length > 0) yield data;
    const last = data.at(-1);
    if (!more || last === undefined) return;
    after = { ts: last.ts, messageId: last.messageId };
  }
}
