// The one reader of new rows that every stream of GET /messages/stream shares (stream.ts): it reads the
// new rows once, unfiltered, when the store says rows may have arrived, serialises each event once and
// hands the same bytes to every stream whose filter matches. A stream that starts behind it (an older
// Last-Event-ID), or falls behind (a client slower than the arrivals), reads on its own (catchUp) until
// it reaches the follower, then joins it.
import { messageJson } from '../../domain/export-query.ts';
import { fold } from '../../store/fold.ts';
import type { Arrival, ArrivalFilter, Message, Store } from '../../store/store.ts';

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

/** A stream as the follower sees it: what it has been handed up to, what it wants, where it takes events. */
export type Subscriber = {
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
export function createFollower(store: Store): Follower {
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

export type Follower = {
  /** How far the follower has read; null while it is not running. */
  head(): string | null;
  /** `s` has every event it wants up to `s.through`: from now on the follower hands it the rest. */
  join(s: Subscriber): void;
  leave(s: Subscriber): void;
};

/**
 * One step of a stream that is not following: joins the follower when at its head, else reads after
 * `through` itself. A short read has every match up to where the follower stood when it began: the stream
 * joins there, and the follower reads the few rows since once more. With no follower it joins at its last
 * match, and the follower it starts reads every row after that (more of them the rarer the filter's
 * matches). Resolves with the events read (maybe none), or null when the read failed.
 */
export async function catchUp(store: Store, follower: Follower, me: Subscriber, filter: ArrivalFilter): Promise<{ events: number; text: string } | null> {
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
export function matcher(filter: ArrivalFilter): (e: Event) => boolean {
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
