// The writer's thread, both ends: the HTTP thread's (a request in, its reply out, in order) and the
// thread's own start (at the end of this file).
import type { DatabaseSync } from 'node:sqlite';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { errorInfo, toError, type SqliteErrorInfo } from './errors.ts';
import { createWriter, type WriterConfig, type WriterReply, type WriterRequest } from './writer.ts';

/** Fault injection for tests: SQL on the writing connection (PRAGMA max_page_count, query_only), or its end. */
export type WriterControl = { exec(sql: string): Promise<void>; stop(): Promise<void> };

export type WriterLink = {
  /** Settles once the writer has the database open (or could not). */
  ready: Promise<void>;
  send(req: WriterRequest): Promise<WriterReply>;
  close(): Promise<void>;
  control: WriterControl;
};

// This file, which starts the thread's side below: writer-link.js in the build (dist/), where tsc rewrites
// import specifiers but not this URL.
const WRITER_MODULE = import.meta.url.endsWith('.ts') ? './writer-link.ts' : './writer-link.js';

/** A writer thread for a file; for ':memory:' (which no second connection can see) `shared`, the store's. */
export function connectWriter(config: WriterConfig, shared?: DatabaseSync): WriterLink {
  return shared ? inlineWriter(config, shared) : threadWriter(config);
}

function threadWriter(config: WriterConfig): WriterLink {
  // Its JavaScript holds one batch at a time: a small young generation keeps the thread's memory small.
  const worker = new Worker(new URL(WRITER_MODULE, import.meta.url), {
    workerData: { writer: config },
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  const waiting = new Map<number, (reply: WriterReply) => void>();
  let seq = 0;
  let closing = false;
  let down: SqliteErrorInfo | null = null;
  // Should the thread ever stop (a bug, memory), writes fail as storage trouble: 503s and a failing
  // readiness probe, which restarts the service where an orchestrator watches it.
  const stopped = (why: string): void => {
    down ??= { message: `writer thread stopped: ${why}`, errstr: `writer thread stopped: ${why}`, passing: true };
    for (const done of waiting.values()) done({ ok: false, error: down });
    waiting.clear();
  };
  worker.on('message', ({ seq: n, reply }: { seq: number; reply: WriterReply }) => {
    const done = waiting.get(n);
    waiting.delete(n);
    // Referenced only while it owes an answer (or is closing): an idle writer never keeps the process alive.
    if (waiting.size === 0 && !closing) worker.unref();
    done?.(reply);
  });
  worker.on('error', (err) => stopped(err.message));
  worker.on('exit', (code) => stopped(`exit code ${code}`));
  const ready = new Promise<void>((resolve, reject) => {
    waiting.set(0, (reply) => (reply.ok ? resolve() : reject(toError(reply.error))));
  });
  ready.catch(() => {}); // handled here; whoever awaits `ready` still sees the failure
  const send = (req: WriterRequest): Promise<WriterReply> => {
    if (down) return Promise.resolve({ ok: false, error: down });
    seq += 1;
    const n = seq;
    return new Promise((resolve) => {
      waiting.set(n, resolve);
      worker.ref();
      worker.postMessage({ seq: n, req });
    });
  };
  return {
    ready,
    send,
    async close() {
      if (down) return;
      closing = true;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      await send({ kind: 'close' });
      await exited;
    },
    control: { exec: execVia(send), stop: async () => void (await worker.terminate()) },
  };
}

/** The writer's work on the store's own connection, one event-loop turn later. */
function inlineWriter(config: WriterConfig, db: DatabaseSync): WriterLink {
  const handle = createWriter(config, db);
  const send = (req: WriterRequest): Promise<WriterReply> => new Promise((resolve) => setImmediate(() => resolve(handle(req))));
  return {
    ready: Promise.resolve(),
    send,
    close: async () => {},
    control: { exec: execVia(send), stop: async () => {} },
  };
}

function execVia(send: WriterLink['send']): WriterControl['exec'] {
  return async (sql) => {
    const reply = await send({ kind: 'exec', sql });
    if (!reply.ok) throw toError(reply.error);
  };
}

// As a worker thread: open, report ready (seq 0), then answer each request in order until 'close'.
if (!isMainThread && parentPort && workerData?.writer) {
  const port = parentPort;
  let handle: ((req: WriterRequest) => WriterReply) | undefined;
  try {
    handle = createWriter(workerData.writer as WriterConfig);
    port.postMessage({ seq: 0, reply: { ok: true } });
  } catch (err) {
    port.postMessage({ seq: 0, reply: { ok: false, error: errorInfo(err) } });
    port.close();
  }
  port.on('message', ({ seq, req }: { seq: number; req: WriterRequest }) => {
    if (!handle) return;
    port.postMessage({ seq, reply: handle(req) });
    if (req.kind === 'close') port.close();
  });
}
