// GET /messages/stream (SPEC: live tail): server-sent events, one per message in the order stored, each
// with the store's opaque position as its `id`, so a client resumes with Last-Event-ID without gap or
// repeat. One follower per process reads the new rows once, unfiltered, when the store says rows may have
// arrived, serialises each event once and hands the same bytes to every stream whose filter matches. A
// stream that starts behind it (an older Last-Event-ID), or falls behind (a client slower than the
// arrivals), reads on its own until it reaches the follower, then joins it. The server (server.ts,
// sendStream) bounds what a client that stops reading can hold, and cuts one that takes nothing.
import { messageJson } from '../../domain/export-query.ts';
import { parseListQuery } from '../../domain/list-query.ts';
import { repeatedParameter, type FieldError } from '../../domain/validation.ts';
import type { ServiceMetrics } from '../../observability/service-metrics.ts';
import { fold } from '../../store/fold.ts';
import type { Arrival, ArrivalFilter, Message, Store } from '../../store/store.ts';
import type { Req } from '../request.ts';
import { json, streamed, type Reply } from '../response.ts';

/** Concurrent streams per process; past it a new one gets 503 (SPEC: a cap on concurrent streams). */
export const MAX_STREAMS = 100;
/** A comment line this often keeps proxies from closing an idle stream (SPEC: at least every 15 s). */
export const HEARTBEAT_MS = 10_000;
/** A client whose socket has not taken an event within this long is disconnected. */
export const DRAIN_MS = 5_000;
/**
 * Messages read from the store at once; also the most events a stream holds for a client that has not
 * taken them yet: past it the stream leaves the follower and reads at its client's pace.
 */
export const EVENTS_PER_READ = 250;
/**
 * The follower reads at most this often unless it is behind: under load one read, and one write to each
 * client, covers several commits instead of one each; an event waits at most this long for it. Each
 * write to a socket costs both sides about as much as the bytes it carries, so fewer, larger writes
 * leave more of the cores to ingest (bench/README.md, the live tail).
 */
export const FOLLOW_EVERY_MS = 25;
/** After a failed read (the database away), the reader tries again this soon. */
export const RETRY_MS = 1_000;

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

/** A stream as the follower sees it: what it has been handed up to, what it wants, where it takes events. */
type Subscriber = {
  /** Every event up to this position was handed over or not wanted. */
  through: string;
  /** Whether the follower hands it events (set by the follower, which also leaves a stream out). */
  joined: boolean;
  wants(event: Event): boolean;
  /** False when the stream holds too many events already: it is then left out, and reads on its own. */
  take(chunk: Buffer, events: number): boolean;
  /** Left out (`joined` turned false): it resumes after `through` by its own reads. */
  dropped(): void;
};

/** A message read by the follower: serialised once, folded once if some stream has a `q`. */
type Event = { key: string; message: Message; folded?: string | null };

/**
 * The one reader of new rows for all streams. It reads from the position of the stream furthest behind
 * (every joined stream is at its head, but for one that joined a few rows back), so each row is read
 * and serialised once, and runs only while some stream follows it.
 */
function createFollower(store: Store): Follower {
  const subscribers = new Set<Subscriber>();
  let head: string | null = null;
  let due = false;
  let lastRead = 0;
  let wake = (): void => {};
  const poke = (): void => ((due = true), wake());

  const deliver = (batch: Arrival[]): void => {
    const events: Event[] = batch.map((a) => ({ key: orderKey(a.position), message: a.message }));
    const texts: string[] = [];
    const text = (i: number): string => (texts[i] ??= eventText(batch[i] as Arrival));
    let all: Buffer | null = null;
    const last = batch.at(-1)?.position ?? '';
    const lastKey = events.at(-1)?.key ?? '';
    for (const s of subscribers) {
      const after = orderKey(s.through);
      const picked: number[] = [];
      events.forEach((e, i) => e.key > after && s.wants(e) && picked.push(i));
      const chunk = (): Buffer => (picked.length === batch.length ? (all ??= Buffer.from(batch.map((_, i) => text(i)).join(''))) : Buffer.from(picked.map(text).join('')));
      if (picked.length > 0 && !s.take(chunk(), picked.length)) {
        subscribers.delete(s);
        s.joined = false;
        s.dropped();
      } else if (lastKey > after) s.through = last;
    }
    if (lastKey > orderKey(head ?? '')) head = last;
  };

  const run = async (): Promise<void> => {
    const unwatch = store.watchArrivals(poke);
    try {
      while (subscribers.size > 0) {
        if (!due) await new Promise<void>((resolve) => (wake = resolve));
        const wait = lastRead + FOLLOW_EVERY_MS - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        lastRead = performance.now();
        due = false;
        const from = [...subscribers].reduce((a, s) => (orderKey(s.through) < orderKey(a) ? s.through : a), head ?? '');
        if (subscribers.size === 0) break;
        let batch;
        try {
          batch = await store.arrivals(from, {}, EVENTS_PER_READ);
        } catch {
          setTimeout(poke, RETRY_MS).unref();
          continue;
        }
        deliver(batch);
        // A full read: more rows wait, read on at once.
        if (batch.length === EVENTS_PER_READ) {
          due = true;
          lastRead = -Infinity;
        }
      }
    } finally {
      unwatch();
      head = null;
    }
  };

  return {
    head: () => head,
    join(s) {
      subscribers.add(s);
      s.joined = true;
      if (head === null) {
        head = s.through;
        due = true;
        void run();
      } else if (orderKey(s.through) < orderKey(head)) poke();
    },
    leave(s) {
      if (subscribers.delete(s) && subscribers.size === 0) wake();
    },
  };
}

type Follower = {
  /** How far the follower has read; null while it is not running. */
  head(): string | null;
  /** `s` has every event it wants up to `s.through`: from now on the follower hands it the rest. */
  join(s: Subscriber): void;
  leave(s: Subscriber): void;
};

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

/**
 * One step of a stream that is not following: joins the follower when at its head, else reads after
 * `through` itself. A short read has every match up to where the follower stood when it began (or, with
 * no follower, up to the newest row): the stream joins there, and the follower reads the few rows since
 * once more. Resolves with the events read (maybe none), or null when the read failed.
 */
async function catchUp(store: Store, follower: Follower, me: Subscriber, filter: ArrivalFilter): Promise<{ events: number; text: string } | null> {
  const head = follower.head();
  if (head !== null && orderKey(me.through) >= orderKey(head)) {
    follower.join(me);
    return { events: 0, text: '' };
  }
  let batch;
  try {
    batch = await store.arrivals(me.through, filter, EVENTS_PER_READ);
  } catch {
    return null;
  }
  me.through = batch.at(-1)?.position ?? me.through;
  if (batch.length < EVENTS_PER_READ) {
    if (head !== null && orderKey(head) > orderKey(me.through)) me.through = head;
    follower.join(me);
  }
  return { events: batch.length, text: batch.map(eventText).join('') };
}

/** One event as the stream sends it: its position, then the message as GET /messages shows it. */
function eventText(a: Arrival): string {
  return `id: ${a.position}\ndata: ${JSON.stringify(messageJson(a.message))}\n\n`;
}

/**
 * `from` exactly, and `q` as both engines match it (GET /messages): a substring of the text after both
 * are folded (fold.ts); a message without text never matches a `q`.
 */
function matcher(filter: ArrivalFilter): (e: Event) => boolean {
  const q = filter.q === undefined ? undefined : fold(filter.q);
  return (e) => {
    if (filter.from !== undefined && e.message.from !== filter.from) return false;
    if (q === undefined) return true;
    if (e.folded === undefined) e.folded = e.message.text === null ? null : fold(e.message.text);
    return e.folded !== null && e.folded.includes(q);
  };
}

/**
 * A position as a string that sorts in arrival order. Both engines issue dot-separated decimal numbers
 * compared part by part (SQLite one, PostgreSQL transaction id then sequence); '' sorts first.
 */
function orderKey(position: string): string {
  return position === '' ? '' : position.split('.').map((n) => n.padStart(20, '0')).join('.');
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
