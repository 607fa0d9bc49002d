// GET /messages/stream (SPEC: live tail): server-sent events, one per message in the order stored, each
// with the store's opaque position as its `id`, so a client resumes with Last-Event-ID without gap or
// repeat. Streams share one reader of new rows (stream-follower.ts) and read on their own while behind
// it. The server (server.ts, sendStream) bounds what a client that stops reading can hold, and cuts one
// that takes nothing.
import { parseListQuery } from '../../domain/list-query.ts';
import { repeatedParameter, type FieldError } from '../../domain/validation.ts';
import type { ServiceMetrics } from '../../observability/service-metrics.ts';
import type { ArrivalFilter, Store } from '../../store/store.ts';
import type { Req } from '../request.ts';
import { json, streamed, type Reply } from '../response.ts';
import { catchUp, createFollower, EVENTS_PER_READ, matcher, RETRY_MS, type Follower, type Subscriber } from './stream-follower.ts';

/** Concurrent streams per process; past it a new one gets 503 (SPEC: a cap on concurrent streams). */
export const MAX_STREAMS = 100;
/** A comment line this often keeps proxies from closing an idle stream (SPEC: at least every 15 s). */
export const HEARTBEAT_MS = 10_000;
/** A client whose socket has not taken an event within this long is disconnected. */
export const DRAIN_MS = 5_000;
export type StreamOptions = { maxStreams: number; heartbeatMs: number; drainMs: number };

export type StreamRoute = {
  handler: (req: Req) => Promise<Reply>;
  /** Shutdown: every stream ends now, and new ones are refused. */
  closeAll(): void;
};

export function createStreamRoute(store: Store, metrics: ServiceMetrics, options: Partial<StreamOptions> = {}): StreamRoute {
  const { maxStreams = MAX_STREAMS, heartbeatMs = HEARTBEAT_MS, drainMs = DRAIN_MS } = options;
  const open = new Set<() => void>();
  const follower = createFollower(store);
  let closing = false;

  return {
    async handler(req) {
      const parsed = parseListQuery(onlyFilters(req.query));
      if (!parsed.ok) return json(422, { detail: parsed.errors });
      const { from, q } = parsed.value;
      const filter: ArrivalFilter = { ...(from !== undefined && { from }), ...(q !== undefined && { q }) };
      // An EventSource that reconnects sends Last-Event-ID; it wins over the `after` of the URL it reuses.
      const header = req.headers['last-event-id'];
      const given = typeof header === 'string' && header.trim() !== '' ? { id: header.trim(), loc: ['header', 'last-event-id'] } : eventIdParam(req.query);
      if (given !== null && 'errors' in given) return json(422, { detail: given.errors });
      if (given !== null && !(await store.arrivalIssued(given.id))) {
        return json(422, { detail: [{ loc: given.loc, msg: 'Unknown event id: pass the id of an event this service sent', type: 'event_id_invalid' }] });
      }
      const start = given?.id ?? (await store.arrivalHead());
      // After the reads: from here the stream takes its place in `open` with no wait between, so streams
      // asked for at once, or during shutdown, cannot pass these checks together.
      if (closing) return json(503, { detail: 'shutting down' }, { headers: { 'retry-after': '1' } });
      if (open.size >= maxStreams) {
        metrics.streamDropped('over_capacity');
        return json(503, { detail: 'too many streams open; retry later' }, { headers: { 'retry-after': '5' } });
      }
      const stream = {
        chunks: (gone: AbortSignal) => follow({ store, metrics, open, follower, heartbeatMs }, start, filter, gone),
        stalledMs: drainMs,
        ended: (end: string) => end === 'stalled' && metrics.streamDropped('too_slow'),
      };
      // Proxies that buffer (nginx) pass the events on at once; the connection ends with the stream.
      return streamed(200, 'text/event-stream; charset=utf-8', stream, { headers: { 'x-accel-buffering': 'no', connection: 'close' } });
    },
    closeAll() {
      closing = true;
      for (const stop of open) stop();
    },
  };
}

type Follow = { store: Store; metrics: ServiceMetrics; open: Set<() => void>; follower: Follower; heartbeatMs: number };

/** One stream's body: the events after `start`, until the client or shutdown ends it. */
async function* follow({ store, metrics, open, follower, heartbeatMs }: Follow, start: string, filter: ArrivalFilter, gone: AbortSignal): AsyncGenerator<string | Buffer> {
  let pending: Buffer[] = [];
  let held = 0;
  let beat = false;
  let stopped = false;
  let wake = (): void => {};
  const stop = (): void => ((stopped = true), wake());
  const me: Subscriber = {
    through: start,
    joined: false,
    wants: matcher(filter),
    take(chunk, events) {
      if (held + events > EVENTS_PER_READ) return false;
      pending.push(chunk);
      held += events;
      wake();
      return true;
    },
    dropped: () => wake(),
  };
  const heartbeat = setInterval(() => ((beat = true), wake()), heartbeatMs);
  gone.addEventListener('abort', stop);
  open.add(stop);
  metrics.streamsOpen(1);
  try {
    yield ': stream open\n\n';
    while (!stopped) {
      if (held > 0) {
        const out = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
        metrics.streamEvents(held);
        [pending, held] = [[], 0];
        yield out;
      } else if (beat) {
        beat = false;
        yield ': keep-alive\n\n';
      } else if (!me.joined) {
        const read = await catchUp(store, follower, me, filter);
        if (read === null) await new Promise<void>((resolve) => ((wake = resolve), setTimeout(resolve, RETRY_MS)));
        else if (read.events > 0) {
          metrics.streamEvents(read.events);
          yield read.text;
        }
      } else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    follower.leave(me);
    clearInterval(heartbeat);
    gone.removeEventListener('abort', stop);
    open.delete(stop);
    metrics.streamsOpen(-1);
  }
}

/** `from` and `q`, checked as GET /messages checks them; its other parameters mean nothing here. */
function onlyFilters(query: URLSearchParams): URLSearchParams {
  const kept = new URLSearchParams();
  for (const name of ['from', 'q']) for (const value of query.getAll(name)) kept.append(name, value);
  return kept;
}

function eventIdParam(query: URLSearchParams): { id: string; loc: string[] } | { errors: FieldError[] } | null {
  const all = query.getAll('after');
  if (all.length > 1) return { errors: [repeatedParameter('after')] };
  return all[0] === undefined || all[0] === '' ? null : { id: all[0], loc: ['query', 'after'] };
}
