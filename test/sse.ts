// A small server-sent-events reader over fetch for the tests and the bench: the events of one stream as
// they arrive, parsed as the SSE spec says (fields, blank line ends an event, ':' lines are comments).
export type SseEvent = { id: string; data: string };

export type SseClient = {
  status: number;
  headers: Headers;
  events: SseEvent[];
  /** Comment lines seen (heartbeats), without the colon. */
  comments: string[];
  /** Resolves once the server ended the stream (or it was closed). */
  ended: Promise<void>;
  /** Resolves when `n` events have arrived; rejects after `ms`. */
  waitForEvents(n: number, ms?: number): Promise<SseEvent[]>;
  close(): void;
};

export async function openStream(url: string, headers: Record<string, string> = {}, onEvent?: (e: SseEvent) => void): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  let done = false;
  const ended = (async () => {
    if (res.body === null) return;
    const decoder = new TextDecoder();
    let buffer = '';
    let event: SseEvent = { id: '', data: '' };
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf('\n')) !== -1) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line === '') {
            if (event.data !== '') {
              events.push(event);
              onEvent?.(event);
            }
            event = { id: '', data: '' };
          } else if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else if (line.startsWith('id: ')) event.id = line.slice(4);
          else if (line.startsWith('data: ')) event.data += line.slice(6);
        }
        for (const w of waiters) w();
      }
    } catch {
      // closed by us (abort) or by the server: the events so far stand
    } finally {
      done = true;
      for (const w of waiters) w();
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    ended,
    waitForEvents(n, ms = 5_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (events.length >= n) {
            finish();
            resolve(events.slice(0, n));
          } else if (done) {
            finish();
            reject(new Error(`stream ended after ${events.length} of ${n} events`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${events.length} of ${n} events after ${ms} ms`));
        }, ms);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () => abort.abort(),
  };
}
