// GET /messages/stream (SPEC: live tail): server-sent events, one per message in the order stored, each
// with the store's opaque position as its `id`, so a client resumes with Last-Event-ID without gap or
// repeat. Each stream reads from the store at its own position when the store says rows may have
// arrived; the server (server.ts, sendEvents) bounds what a client that stops reading can hold.
import { messageJson } from '../../domain/export-query.ts';
import { parseListQuery } from '../../domain/list-query.ts';
import type { FieldError } from '../../domain/validation.ts';
import type { ServiceMetrics } from '../../observability/service-metrics.ts';
import type { ArrivalFilter, Store } from '../../store/store.ts';
import type { Req } from '../request.ts';
import { json, type Reply, type Sink } from '../response.ts';

/** Concurrent streams per process; past it a new one gets 503 (SPEC: a cap on concurrent streams). */
export const MAX_STREAMS = 100;
/** A comment line this often keeps proxies from closing an idle stream (SPEC: at least every 15 s). */
export const HEARTBEAT_MS = 10_000;
/** A client whose socket has not taken an event within this long is disconnected. */
export const DRAIN_MS = 5_000;
/** Messages read from the store and written at once; what one client may hold beyond the socket's buffers. */
export const EVENTS_PER_READ = 100;
/** After a failed read (the database away), a stream tries again this soon. */
export const RETRY_MS = 1_000;

export type StreamOptions = { maxStreams: number; heartbeatMs: number; drainMs: number };

export type StreamRoute = {
  handler: (req: Req) => Promise<Reply>;
  /** Shutdown: every stream ends now, and new ones are refused. */
  closeAll(): void;
};

type Open = { stop(): void };

export function createStreamRoute(store: Store, metrics: ServiceMetrics, options: Partial<StreamOptions> = {}): StreamRoute {
  const { maxStreams = MAX_STREAMS, heartbeatMs = HEARTBEAT_MS, drainMs = DRAIN_MS } = options;
  const open = new Set<Open>();
  let closing = false;

  return {
    async handler(req) {
      const parsed = parseListQuery(onlyFilters(req.query));
      if (!parsed.ok) return json(422, { detail: parsed.errors });
      const { from, q } = parsed.value;
      const filter: ArrivalFilter = { ...(from !== undefined && { from }), ...(q !== undefined && { q }) };
      if (closing) return json(503, { detail: 'shutting down' }, { headers: { 'retry-after': '1' } });
      if (open.size >= maxStreams) {
        metrics.streamDropped('over_capacity');
        return json(503, { detail: 'too many streams open; retry later' }, { headers: { 'retry-after': '5' } });
      }
      // An EventSource that reconnects sends Last-Event-ID; it wins over the `after` of the URL it reuses.
      const header = req.headers['last-event-id'];
      const given = typeof header === 'string' && header.trim() !== '' ? { id: header.trim(), loc: ['header', 'last-event-id'] } : eventIdParam(req.query);
      if (given !== null && 'errors' in given) return json(422, { detail: given.errors });
      if (given !== null && !(await store.arrivalIssued(given.id))) {
        return json(422, { detail: [{ loc: given.loc, msg: 'Unknown event id: pass the id of an event this service sent', type: 'event_id_invalid' }] });
      }
      const start = given?.id ?? (await store.arrivalHead());
      return {
        status: 200,
        body: null,
        contentType: 'text/event-stream; charset=utf-8',
        // Proxies that buffer (nginx) pass the events on at once.
        headers: { 'x-accel-buffering': 'no' },
        events: { drainMs, produce: follow({ store, metrics, open, heartbeatMs }, start, filter) },
      };
    },
    closeAll() {
      closing = true;
      for (const stream of open) stream.stop();
    },
  };
}

/** What a stream reads from and reports to. */
type Follow = { store: Store; metrics: ServiceMetrics; open: Set<Open>; heartbeatMs: number };

/** One stream: the events after `start`, as the store reports new rows, until the client or shutdown ends it. */
function follow({ store, metrics, open, heartbeatMs }: Follow, start: string, filter: ArrivalFilter) {
  return async (sink: Sink): Promise<void> => {
    let position = start;
    let due = true; // read at once: rows may have come since the start was taken
    let beat = false;
    let stopped = false;
    let wake: () => void = () => {};
    const poke = (): void => wake();
    const stream: Open = { stop: () => ((stopped = true), poke()) };
    const unwatch = store.watchArrivals(() => ((due = true), poke()));
    const heartbeat = setInterval(() => ((beat = true), poke()), heartbeatMs);
    sink.signal.addEventListener('abort', stream.stop);
    open.add(stream);
    metrics.streamsOpen(1);
    const send = async (chunk: string): Promise<boolean> => {
      const outcome = await sink.write(chunk);
      if (outcome === 'too_slow') metrics.streamDropped('too_slow');
      return outcome === 'written';
    };
    try {
      if (!(await send(': stream open\n\n'))) return;
      while (!stopped) {
        if (!due && !beat) await new Promise<void>((resolve) => (wake = resolve));
        if (stopped) break;
        if (beat) {
          beat = false;
          if (!(await send(': keep-alive\n\n'))) break;
        }
        if (!due) continue;
        due = false;
        let batch;
        try {
          batch = await store.arrivals(position, filter, EVENTS_PER_READ);
        } catch {
          setTimeout(() => ((due = true), poke()), RETRY_MS).unref();
          continue;
        }
        if (batch.length === 0) continue;
        if (!(await send(batch.map((a) => `id: ${a.position}\ndata: ${JSON.stringify(messageJson(a.message))}\n\n`).join('')))) break;
        metrics.streamEvents(batch.length);
        position = batch.at(-1)?.position ?? position;
        if (batch.length === EVENTS_PER_READ) due = true;
      }
    } finally {
      unwatch();
      clearInterval(heartbeat);
      open.delete(stream);
      metrics.streamsOpen(-1);
    }
  };
}

/** `from` and `q`, checked as GET /messages checks them; its other parameters mean nothing here. */
function onlyFilters(query: URLSearchParams): URLSearchParams {
  const kept = new URLSearchParams();
  for (const name of ['from', 'q']) for (const value of query.getAll(name)) kept.append(name, value);
  return kept;
}

function eventIdParam(query: URLSearchParams): { id: string; loc: string[] } | { errors: FieldError[] } | null {
  const all = query.getAll('after');
  if (all.length > 1) return { errors: [{ loc: ['query', 'after'], msg: 'Parameter given more than once', type: 'duplicate_parameter' }] };
  return all[0] === undefined || all[0] === '' ? null : { id: all[0], loc: ['query', 'after'] };
}
