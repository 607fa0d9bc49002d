// Live mode: GET /messages/stream read with fetch (so the bearer header goes along, which EventSource
// cannot do), resumed with Last-Event-ID after a dropped connection.
import { authHeaders, isMessage, withQuery } from './api.ts';
import { arrived, reload } from './load.ts';
import { render } from './render.ts';
import { fail, listParams, state } from './state.ts';

const RETRY_FIRST_MS = 1000;
/** The list waits this long at most for the stream to answer (a proxy that holds back its head, say). */
const OPEN_WAIT_MS = 1000;
const RETRY_MAX_MS = 15_000;

let live: AbortController | null = null;

export function stopLive(): void {
  live?.abort();
  live = null;
}

export function restartLive(): Promise<void> {
  stopLive();
  return followIfWanted();
}

/**
 * Opens the stream when it is served, wanted and not open yet. Resolves once its answer has come (the
 * stream then starts after the newest message stored) or it failed: a list read after that misses
 * nothing that arrives in between, and arrived() drops the stream's copy of a message listed already.
 * Without an answer within OPEN_WAIT_MS it resolves all the same, so the list never waits for long.
 * `unconfirmed`: asked for before GET / has said whether the stream is served; the caller stops it if not.
 */
export function followIfWanted(unconfirmed = false): Promise<void> {
  if (live !== null || !(state.liveAvailable || unconfirmed) || !state.filters.live || state.needToken) return Promise.resolve();
  const { signal } = (live = new AbortController());
  return new Promise((opened) => {
    window.setTimeout(opened, OPEN_WAIT_MS);
    void follow(signal, opened).finally(() => {
      opened();
      // Refused (401) or not served (404): ended, so that a start after a token is given opens it anew.
      if (live?.signal === signal) live = null;
    });
  });
}

async function follow(signal: AbortSignal, opened: () => void): Promise<void> {
  let lastId: string | null = null;
  let dropped = false;
  let delay = RETRY_FIRST_MS;
  while (!signal.aborted) {
    try {
      const headers = authHeaders();
      if (lastId !== null) headers['last-event-id'] = lastId;
      const p = listParams(state.filters);
      p.delete('since'); // the stream has no `since`: arrived() drops what is older
      const res = await fetch(withQuery('/messages/stream', p), { headers, signal, cache: 'no-store' });
      opened();
      if (res.status === 404) {
        state.liveAvailable = false;
        render();
        return;
      }
      if (res.status === 401) {
        fail({ status: 401, detail: '' });
        render();
        return;
      }
      // Refused for what it asks (a filter the list's answer shows as wrong): asking again cannot help.
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) return;
      if (res.ok && res.body) {
        delay = RETRY_FIRST_MS;
        // Dropped before its first event, the stream left no position to resume from: this one starts
        // after the newest message, and the list, read again now, has those stored in between.
        if (dropped && lastId === null) void reload();
        for await (const event of serverSentEvents(res.body)) {
          if (event.id !== null) lastId = event.id;
          let data: unknown = null;
          try {
            data = JSON.parse(event.data);
          } catch {
            continue;
          }
          if (isMessage(data)) arrived(data);
        }
      }
    } catch {
      // Dropped or refused: try again below, resuming after the last event seen.
      opened();
    }
    if (signal.aborted) return;
    dropped = true;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}

type StreamEvent = { id: string | null; data: string };

/** The events of a text/event-stream body: `id:` and `data:` fields, a blank line ends each; comments skipped. */
async function* serverSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = '';
  let id: string | null = null;
  let data: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) yield { id, data: data.join('\n') };
        id = null;
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const raw = colon < 0 ? '' : line.slice(colon + 1);
      const v = raw.startsWith(' ') ? raw.slice(1) : raw;
      if (field === 'data') data.push(v);
      else if (field === 'id') id = v;
    }
  }
}
