// Group commit, for both engines: what arrives while a batch commits goes in the next batch, one
// transaction (one fsync) a batch; each caller is answered only from the engine's report of that commit.
import { storeUnavailable, type InsertOutcome, type Message } from './store.ts';

/** An engine's answer for each request of a batch, in order: its outcomes, or why it failed. */
export type BatchResult = (InsertOutcome[] | Error)[];

export type GroupCommit = {
  /** The messages of one request, committed together; one outcome per message, in order. */
  add(messages: Message[]): Promise<InsertOutcome[]>;
  /** Messages accepted and not answered yet. */
  pending(): number;
  /** Refuses new requests; resolves once every accepted one is answered. */
  drain(): Promise<void>;
};

type GroupCommitOptions = {
  /** Commits a batch (requests in arrival order); rejects when the whole batch failed. */
  commit(batch: Message[][]): Promise<BatchResult>;
  /** A request still waiting for its batch after this long is refused (503) and never sent. */
  waitLimitMs?: number;
};

type Request = { messages: Message[]; resolve(o: InsertOutcome[]): void; reject(e: unknown): void; timer?: NodeJS.Timeout };

export function createGroupCommit({ commit, waitLimitMs }: GroupCommitOptions): GroupCommit {
  let queue: Request[] = [];
  /** Messages of the batch being committed: one batch in flight at a time. */
  let inFlight = 0;
  let closing = false;
  const idle: (() => void)[] = [];
  const count = (requests: Request[]): number => requests.reduce((n, r) => n + r.messages.length, 0);

  const settle = (batch: Request[], result: BatchResult): void => {
    // Fail closed: a request the engine's report does not account for is an error, never a default.
    batch.forEach((request, i) => {
      const outcome = result[i];
      if (outcome instanceof Error) request.reject(outcome);
      else if (outcome?.length !== request.messages.length) request.reject(new Error('the engine reported no outcome for this insert'));
      else request.resolve(outcome);
    });
  };
  const flush = (): void => {
    if (inFlight > 0) return;
    if (queue.length === 0) return void idle.splice(0).forEach((done) => done());
    const batch = queue;
    queue = [];
    for (const request of batch) clearTimeout(request.timer);
    inFlight = count(batch);
    // The next batch goes to the engine before this one's answers are written: settling only queues them.
    const next = (): void => {
      inFlight = 0;
      flush();
    };
    commit(batch.map((r) => r.messages)).then(
      (result) => {
        settle(batch, result);
        next();
      },
      (err: unknown) => {
        batch.forEach((r) => r.reject(err));
        next();
      },
    );
  };

  return {
    add(messages) {
      if (closing) return Promise.reject(storeUnavailable('store is closed'));
      if (messages.length === 0) return Promise.resolve([]);
      return new Promise<InsertOutcome[]>((resolve, reject) => {
        const request: Request = { messages, resolve, reject };
        if (waitLimitMs !== undefined) {
          request.timer = setTimeout(() => {
            queue = queue.filter((r) => r !== request);
            reject(storeUnavailable(`the database did not take the insert within ${waitLimitMs} ms`));
            flush(); // a drain may be waiting for this request alone
          }, waitLimitMs);
        }
        queue.push(request);
        // Once this turn of the event loop has queued what arrived with it.
        if (queue.length === 1) setImmediate(flush);
      });
    },
    pending: () => count(queue) + inFlight,
    drain() {
      closing = true;
      return new Promise<void>((resolve) => {
        idle.push(resolve);
        flush();
      });
    },
  };
}
