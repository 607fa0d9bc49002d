// The list: pages in the chosen order, never more than one listing request in flight, and messages that
// arrive live placed against the rows as they are.
import { api, isListing, isStats, withQuery, type Answer, type Message } from './api.ts';
import { instant } from './dom.ts';
import { render } from './render.ts';
import { fail, listParams, state, type Filters } from './state.ts';

const PAGE = 50;
const NEAR_EDGE_PX = 80;
const STATS_AFTER_ARRIVAL_MS = 2000;

type Page = { rows: Message[]; total: number; next: string | null };

/**
 * One page in the chosen order, by the listing's keyset cursor (`order=desc` for newest first): each
 * page continues after the last row shown, so messages stored meanwhile move nothing, whatever their
 * `ts`, and Load more neither repeats nor skips.
 */
async function fetchPage(f: Filters, cursor: string | null): Promise<Answer<Page>> {
  const extra: Record<string, string | number> = { limit: PAGE };
  if (f.order === 'newest') extra.order = 'desc';
  if (cursor !== null) extra.cursor = cursor;
  const a = await api(withQuery('/messages', listParams(f, extra)), isListing);
  return a.ok ? { ok: true, body: { rows: a.body.data, total: a.body.total, next: a.body.next_cursor } } : a;
}

let inFlight = false;
let queued = false;
/** Streamed while a listing request was in flight or about to start: its answer would replace them, so they wait for it. */
const early: Message[] = [];

/** Lists from the first page for the current filters; asked again while a load runs, it runs once more after it. */
export async function reload(after: Promise<void> = Promise.resolve()): Promise<void> {
  if (inFlight) {
    queued = true;
    return;
  }
  inFlight = true;
  state.loading = true;
  render();
  try {
    // What streams in before the list is read waits for it too (settle), as if it were in flight.
    await after;
    do {
      queued = false;
      // Streamed before this request: stored before it, so in its answer where they match, and from a
      // stream of the filters before a change where they may not.
      early.length = 0;
      const page = await fetchPage(state.filters, null);
      if (queued) continue; // the filters changed meanwhile: only the newest answer is shown
      state.pending = [];
      // A failure leaves nothing listed: rows of the view before (other filters, perhaps) would be taken for
      // this one's, and Load more would continue them under these filters.
      state.rows = page.ok ? page.body.rows : [];
      state.total = page.ok ? page.body.total : null;
      state.next = page.ok ? page.body.next : null;
      if (page.ok) state.failure = null;
      else fail(page.failure);
    } while (queued);
  } finally {
    settle();
  }
}

/** The end of a listing request: what streamed in meanwhile is placed now, against the rows as they are. */
function settle(): void {
  inFlight = false;
  state.loading = false;
  for (const m of early.splice(0)) arrived(m);
  render();
}

export async function loadMore(): Promise<void> {
  if (inFlight || state.next === null) return;
  inFlight = true;
  state.loading = true;
  render();
  try {
    const page = await fetchPage(state.filters, state.next);
    if (page.ok) {
      const seen = new Set(state.rows.map((m) => m.message_id));
      state.rows = [...state.rows, ...page.body.rows.filter((m) => !seen.has(m.message_id))];
      // A message that streamed in behind the marker and is on this page (an older ts) is shown here only.
      const listed = new Set(page.body.rows.map((m) => m.message_id));
      state.pending = state.pending.filter((m) => !listed.has(m.message_id));
      state.total = page.body.total;
      state.next = page.body.next;
      state.failure = null;
    } else fail(page.failure);
  } finally {
    settle();
    if (queued) void reload();
  }
}

export async function loadStats(): Promise<void> {
  const a = await api('/stats', isStats);
  if (a.ok) state.stats = a.body;
  else fail(a.failure);
  render();
}

let statsTimer: number | undefined;

/** A streamed message: shown at once where the reader is looking, otherwise counted behind the marker. */
export function arrived(m: Message): void {
  if (inFlight) {
    early.push(m);
    return;
  }
  if (state.filters.since !== '' && instant(m.ts) < instant(state.filters.since)) return;
  if (state.rows.some((r) => r.message_id === m.message_id) || state.pending.some((r) => r.message_id === m.message_id)) return;
  if (state.total !== null) state.total += 1;
  if (state.filters.order === 'newest') {
    if (window.scrollY <= NEAR_EDGE_PX && state.pending.length === 0) state.rows = [m, ...state.rows];
    else state.pending = [...state.pending, m];
  } else if (state.next === null) {
    const atBottom = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - NEAR_EDGE_PX;
    if (atBottom && state.pending.length === 0) state.rows = [...state.rows, m];
    else state.pending = [...state.pending, m];
  }
  statsTimer ??= window.setTimeout(() => {
    statsTimer = undefined;
    void loadStats();
  }, STATS_AFTER_ARRIVAL_MS);
  render();
}

export function showPending(): void {
  const newest = state.filters.order === 'newest';
  state.rows = newest ? [...state.pending.reverse(), ...state.rows] : [...state.rows, ...state.pending];
  state.pending = [];
  render();
  window.scrollTo({ top: newest ? 0 : document.documentElement.scrollHeight });
}

/** Scrolled back to the top of a newest-first list: what waited behind the marker is shown. */
export function scrolled(): void {
  if (state.pending.length > 0 && state.filters.order === 'newest' && window.scrollY <= NEAR_EDGE_PX) showPending();
}
