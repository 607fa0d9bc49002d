// The inbox page (SPEC "GET /inbox"). Every text that came from the service reaches the DOM through
// textContent or an attribute, never as markup: a stored `<img onerror>` must show, not run.

type Message = { message_id: string; from: string; to: string; ts: string; text: string | null; type?: string };
type Stats = {
  total_messages: number;
  senders_count: number;
  messages_per_sender: { from: string; count: number }[];
  first_message_ts: string | null;
  last_message_ts: string | null;
};
type Order = 'newest' | 'oldest';
type Filters = { q: string; from: string; since: string; order: Order; live: boolean };
/** Where the next `Load more` continues: the listing's cursor (oldest first), or the offset the loaded rows start at (newest first). */
type Next = { cursor: string } | { offset: number };
type Page = { rows: Message[]; total: number; next: Next | null };
type Failure = { status: number; detail: string };
type Answer<T> = { ok: true; body: T } | { ok: false; failure: Failure };

const PAGE = 50;
const TOKEN_KEY = 'lyftr-inbox-token';
const SEARCH_DELAY_MS = 200;
const NEAR_EDGE_PX = 80;
const LIVE_RETRY_MAX_MS = 15_000;
const CHART_BARS = 10;
const SVG = 'http://www.w3.org/2000/svg';

const state = {
  filters: readFilters(new URLSearchParams(location.search)),
  rows: [] as Message[],
  total: null as number | null,
  next: null as Next | null,
  /** Messages that arrived live while the reader was scrolled away: shown behind the "N new" marker. */
  pending: [] as Message[],
  loading: false,
  failure: null as Failure | null,
  stats: null as Stats | null,
  needToken: false,
  tokenRefused: false,
  liveAvailable: false,
};

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
};
const ui = {
  form: $<HTMLFormElement>('filters'),
  q: $<HTMLInputElement>('q'),
  from: $<HTMLInputElement>('from'),
  since: $<HTMLInputElement>('since'),
  order: $<HTMLSelectElement>('order'),
  clear: $<HTMLButtonElement>('clear'),
  liveToggle: $('live-toggle'),
  live: $<HTMLInputElement>('live'),
  forget: $<HTMLButtonElement>('forget'),
  statsPanel: $('stats'),
  figures: $('stats-figures'),
  chart: $('chart'),
  state: $('state'),
  table: $<HTMLTableElement>('messages'),
  rows: $('rows'),
  count: $('count'),
  more: $<HTMLButtonElement>('more'),
  marker: $<HTMLButtonElement>('new-marker'),
  detail: $<HTMLDialogElement>('detail'),
  detailTitle: $('detail-title'),
  detailFields: $('detail-fields'),
  detailJson: $('detail-json'),
  copy: $<HTMLButtonElement>('copy'),
  copied: $('copied'),
  token: $<HTMLDialogElement>('token'),
  tokenForm: $<HTMLFormElement>('token-form'),
  tokenWhy: $('token-why'),
  tokenInput: $<HTMLInputElement>('token-input'),
};

// ---- the URL holds the view: back, reload and a shared link show the same messages ----

function readFilters(p: URLSearchParams): Filters {
  return {
    q: p.get('q') ?? '',
    from: p.get('from') ?? '',
    since: p.get('since') ?? '',
    order: p.get('order') === 'oldest' ? 'oldest' : 'newest',
    live: p.get('live') !== '0',
  };
}

function filtersQuery(f: Filters): string {
  const p = new URLSearchParams();
  if (f.q !== '') p.set('q', f.q);
  if (f.from !== '') p.set('from', f.from);
  if (f.since !== '') p.set('since', f.since);
  if (f.order === 'oldest') p.set('order', 'oldest');
  if (!f.live) p.set('live', '0');
  const s = p.toString();
  return s === '' ? location.pathname : `?${s}`;
}

/** The filters as the form shows them now. */
function formFilters(): Filters {
  return {
    q: ui.q.value,
    from: ui.from.value.trim(),
    since: ui.since.value === '' ? '' : sinceFromLocal(ui.since.value),
    order: ui.order.value === 'oldest' ? 'oldest' : 'newest',
    live: ui.live.checked,
  };
}

function fillForm(f: Filters): void {
  ui.q.value = f.q;
  ui.from.value = f.from;
  ui.since.value = f.since === '' ? '' : localFromSince(f.since);
  ui.order.value = f.order;
  ui.live.checked = f.live;
}

/** A datetime-local value (the viewer's zone) as the listing's `since` (UTC, `Z`). */
function sinceFromLocal(value: string): string {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString().replace('.000Z', 'Z');
}

function localFromSince(since: string): string {
  const d = new Date(instant(since));
  if (Number.isNaN(d.getTime())) return '';
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** Milliseconds of a `ts`: Date reads three fraction digits at most, and the service keeps up to nine. */
function instant(ts: string): number {
  return Date.parse(ts.replace(/(\.\d{3})\d+Z$/, '$1Z'));
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const shortFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
function localTime(ts: string, format = dateFormat): string {
  const t = instant(ts);
  return Number.isNaN(t) ? ts : format.format(t);
}

// ---- the service ----

function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authHeaders(): Record<string, string> {
  const t = token();
  return t === null ? {} : { authorization: `Bearer ${t}` };
}

async function api<T>(path: string, params: URLSearchParams | null, guard: (v: unknown) => v is T): Promise<Answer<T>> {
  let res: Response;
  try {
    res = await fetch(params && params.size > 0 ? `${path}?${params}` : path, { headers: authHeaders(), cache: 'no-store' });
  } catch {
    return { ok: false, failure: { status: 0, detail: 'the service could not be reached' } };
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // A proxy's HTML error page: the status says enough.
  }
  if (res.ok && guard(body)) return { ok: true, body };
  return { ok: false, failure: { status: res.ok ? 502 : res.status, detail: detailOf(body) } };
}

/** The `detail` of an error body: a string, or FastAPI-style items whose messages are joined. */
function detailOf(body: unknown): string {
  if (!isRecord(body)) return '';
  const d = body.detail;
  if (typeof d === 'string') return d;
  if (Array.isArray(d)) return d.map((e: unknown) => (isRecord(e) && typeof e.msg === 'string' ? e.msg : '')).filter(Boolean).join('; ');
  return '';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isMessage(v: unknown): v is Message {
  return (
    isRecord(v) &&
    typeof v.message_id === 'string' &&
    typeof v.from === 'string' &&
    typeof v.to === 'string' &&
    typeof v.ts === 'string' &&
    (typeof v.text === 'string' || v.text === null)
  );
}

type Listing = { data: Message[]; total: number; next_cursor: string | null };
function isListing(v: unknown): v is Listing {
  return (
    isRecord(v) &&
    Array.isArray(v.data) &&
    v.data.every(isMessage) &&
    typeof v.total === 'number' &&
    (typeof v.next_cursor === 'string' || v.next_cursor === null)
  );
}

function isStats(v: unknown): v is Stats {
  return isRecord(v) && typeof v.total_messages === 'number' && Array.isArray(v.messages_per_sender);
}

function listParams(f: Filters, extra: Record<string, string | number>): URLSearchParams {
  const p = new URLSearchParams();
  if (f.from !== '') p.set('from', f.from);
  if (f.since !== '') p.set('since', f.since);
  if (f.q !== '') p.set('q', f.q);
  for (const [k, v] of Object.entries(extra)) p.set(k, String(v));
  return p;
}

/**
 * One page in the chosen order. GET /messages lists oldest first only, so newest first asks for the
 * total, then reads the pages from the end by offset (the store walks a page past the middle from the
 * end) and reverses each one; offsets counted from the oldest message stay put while new ones arrive.
 */
async function fetchPage(f: Filters, next: Next | null): Promise<Answer<Page>> {
  if (f.order === 'oldest') {
    const a = await api('/messages', listParams(f, next && 'cursor' in next ? { limit: PAGE, cursor: next.cursor } : { limit: PAGE }), isListing);
    if (!a.ok) return a;
    return { ok: true, body: { rows: a.body.data, total: a.body.total, next: a.body.next_cursor === null ? null : { cursor: a.body.next_cursor } } };
  }
  let end: number;
  if (next && 'offset' in next) end = next.offset;
  else {
    // The total first, with one row: the page then ends there.
    const first = await api('/messages', listParams(f, { limit: 1 }), isListing);
    if (!first.ok || first.body.total <= 1) return first.ok ? { ok: true, body: { rows: first.body.data, total: first.body.total, next: null } } : first;
    end = first.body.total;
  }
  for (let tries = 1; ; tries++) {
    if (end === 0) return { ok: true, body: { rows: [], total: 0, next: null } };
    const start = Math.max(0, end - PAGE);
    const a = await api('/messages', listParams(f, { limit: end - start, offset: start }), isListing);
    if (!a.ok) return a;
    // A message stored between the two requests moved the end: the first page is read again from it.
    if (next === null && a.body.total !== end && tries < 3) {
      end = a.body.total;
      continue;
    }
    return { ok: true, body: { rows: a.body.data.reverse(), total: a.body.total, next: start > 0 ? { offset: start } : null } };
  }
}

// ---- loading: never more than one listing request in flight ----

let inFlight = false;
let queued = false;

/** Lists from the first page for the current filters; asked again while a load runs, it runs once more after it. */
async function reload(): Promise<void> {
  if (inFlight) {
    queued = true;
    return;
  }
  inFlight = true;
  state.loading = true;
  render();
  try {
    do {
      queued = false;
      const page = await fetchPage(state.filters, null);
      if (queued) continue; // the filters changed meanwhile: only the newest answer is shown
      state.pending = [];
      if (page.ok) {
        state.rows = page.body.rows;
        state.total = page.body.total;
        state.next = page.body.next;
        state.failure = null;
      } else fail(page.failure);
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

async function loadMore(): Promise<void> {
  if (inFlight || state.next === null) return;
  inFlight = true;
  state.loading = true;
  render();
  try {
    const page = await fetchPage(state.filters, state.next);
    if (page.ok) {
      const seen = new Set(state.rows.map((m) => m.message_id));
      state.rows = [...state.rows, ...page.body.rows.filter((m) => !seen.has(m.message_id))];
      state.total = page.body.total;
      state.next = page.body.next;
      state.failure = null;
    } else fail(page.failure);
  } finally {
    settle();
    if (queued) void reload();
  }
}

async function loadStats(): Promise<void> {
  const a = await api('/stats', null, isStats);
  if (a.ok) state.stats = a.body;
  else fail(a.failure);
  render();
}

function fail(f: Failure): void {
  if (f.status === 401) {
    state.tokenRefused = token() !== null;
    state.needToken = true;
  } else state.failure = f;
}

/** Takes the form's filters into the URL (a history entry) and lists again. */
function apply(): void {
  const f = formFilters();
  const changedList = f.q !== state.filters.q || f.from !== state.filters.from || f.since !== state.filters.since || f.order !== state.filters.order;
  const changedLive = f.live !== state.filters.live;
  state.filters = f;
  const url = filtersQuery(f);
  if (url !== (location.search === '' ? location.pathname : location.search)) history.pushState(null, '', url);
  if (changedList) void reload();
  if (changedList || changedLive) restartLive();
}

// ---- live mode: GET /messages/stream read with fetch, so the bearer header goes along ----

let live: AbortController | null = null;

function restartLive(): void {
  live?.abort();
  live = null;
  followIfWanted();
}

/** Opens the stream when it is served, wanted and not open yet. */
function followIfWanted(): void {
  if (live === null && state.liveAvailable && state.filters.live && !state.needToken) {
    live = new AbortController();
    void follow(live.signal);
  }
}

async function follow(signal: AbortSignal): Promise<void> {
  let lastId: string | null = null;
  let delay = 1000;
  while (!signal.aborted) {
    try {
      const headers = authHeaders();
      if (lastId !== null) headers['last-event-id'] = lastId;
      const p = listParams(state.filters, {});
      p.delete('since');
      const res = await fetch(p.size > 0 ? `/messages/stream?${p}` : '/messages/stream', { headers, signal, cache: 'no-store' });
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
      if (res.ok && res.body) {
        delay = 1000;
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
    }
    if (signal.aborted) return;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, LIVE_RETRY_MAX_MS);
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

let statsTimer: number | undefined;
/** Streamed while a listing request was in flight: its answer would replace them, so they wait for it. */
const early: Message[] = [];

/** A streamed message: shown at once where the reader is looking, otherwise counted behind the marker. */
function arrived(m: Message): void {
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
  }, 2000);
  render();
}

function showPending(): void {
  if (state.filters.order === 'newest') {
    state.rows = [...state.pending.reverse(), ...state.rows];
    state.pending = [];
    render();
    window.scrollTo({ top: 0 });
  } else {
    state.rows = [...state.rows, ...state.pending];
    state.pending = [];
    render();
    window.scrollTo({ top: document.documentElement.scrollHeight });
  }
}

// ---- drawing: one render() from the state ----

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className !== undefined) e.className = className;
  return e;
}

function timeElement(ts: string, format = dateFormat): HTMLTimeElement {
  const t = el('time', localTime(ts, format));
  t.dateTime = ts;
  t.title = ts;
  return t;
}

const rowCache = new WeakMap<Message, HTMLTableRowElement>();

function rowFor(m: Message): HTMLTableRowElement {
  const cached = rowCache.get(m);
  if (cached) return cached;
  const tr = el('tr');
  tr.tabIndex = 0;
  const from = el('td', undefined, 'from');
  from.append(el('span', m.from, 'sender'), el('span', `to ${m.to}`, 'to'));
  const time = el('td', undefined, 'time');
  time.append(timeElement(m.ts));
  const text = el('td', undefined, 'text');
  if (m.type !== undefined) text.append(el('span', m.type, 'badge'), ' ');
  text.append(m.text === null ? el('span', 'no text', 'none') : el('span', m.text));
  tr.append(from, time, text);
  tr.addEventListener('click', () => openDetail(m));
  tr.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      openDetail(m);
    }
  });
  rowCache.set(m, tr);
  return tr;
}

const number = new Intl.NumberFormat();

function render(): void {
  const { rows, total, loading, failure, filters } = state;
  const filtered = filters.q !== '' || filters.from !== '' || filters.since !== '';
  ui.rows.replaceChildren(...rows.map(rowFor));
  ui.table.hidden = rows.length === 0;
  ui.table.setAttribute('aria-busy', String(loading));
  ui.state.replaceChildren();
  ui.state.className = 'state';
  if (failure) {
    const unavailable = failure.status === 0 || failure.status >= 500;
    ui.state.className = 'state problem';
    const what =
      failure.status === 0 ? 'The service could not be reached.'
      : failure.status === 422 ? 'These filters are not valid.'
      : unavailable ? `The service is not available right now (${failure.status}).`
      : `The service answered ${failure.status}.`;
    ui.state.append(el('strong', what), ' ', el('span', failure.detail));
    const retry = el('button', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => {
      state.failure = null;
      void reload();
      void loadStats();
    });
    if (unavailable) ui.state.append(' ', retry);
  } else if (state.needToken) ui.state.textContent = 'A read token is needed to show messages.';
  else if (loading && rows.length === 0) ui.state.textContent = 'Loading messages…';
  else if (total === 0 && filtered) {
    ui.state.append('No message matches these filters. ');
    const clear = el('button', 'Clear filters');
    clear.type = 'button';
    clear.addEventListener('click', clearFilters);
    ui.state.append(clear);
  } else if (total === 0) ui.state.textContent = 'No messages yet. They appear here as senders post them to /webhook.';
  ui.state.hidden = ui.state.childNodes.length === 0;

  ui.count.textContent = total === null || total === 0 ? '' : `Showing ${number.format(rows.length)} of ${number.format(total)}`;
  ui.more.hidden = state.next === null;
  ui.more.disabled = loading;
  ui.more.textContent = loading && rows.length > 0 ? 'Loading…' : 'Load more';
  ui.marker.hidden = state.pending.length === 0;
  ui.marker.textContent = `${state.pending.length} new ${filters.order === 'newest' ? '↑' : '↓'}`;
  ui.liveToggle.hidden = !state.liveAvailable;
  ui.forget.hidden = token() === null;
  renderStats();
  if (state.needToken && !ui.token.open) {
    ui.tokenWhy.textContent = state.tokenRefused
      ? 'That token was not accepted. Enter a read token of this service.'
      : 'This service needs a read token to show its messages. It is kept in this tab only (sessionStorage) and sent as a bearer header.';
    ui.tokenInput.value = '';
    ui.token.showModal();
  }
}

function renderStats(): void {
  const s = state.stats;
  ui.figures.replaceChildren();
  ui.statsPanel.hidden = s === null;
  if (!s) {
    ui.chart.replaceChildren();
    return;
  }
  const figure = (name: string, value: Node | string): void => {
    const dd = el('dd');
    dd.append(value);
    ui.figures.append(el('dt', name), dd);
  };
  figure('Messages', number.format(s.total_messages));
  figure('Senders', number.format(s.senders_count));
  figure('First', s.first_message_ts === null ? '–' : timeElement(s.first_message_ts, shortFormat));
  figure('Last', s.last_message_ts === null ? '–' : timeElement(s.last_message_ts, shortFormat));
  ui.chart.replaceChildren(chart(s.messages_per_sender.slice(0, CHART_BARS)));
}

/** A horizontal bar chart of the top senders, drawn as SVG; a bar filters the list by its sender. */
function chart(top: { from: string; count: number }[]): Node {
  if (top.length === 0) return el('p', 'No senders yet.', 'none');
  const rowHeight = 24;
  const label = 122;
  const width = 320;
  const countWidth = 44;
  const max = Math.max(...top.map((t) => t.count));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${top.length * rowHeight}`);
  svg.setAttribute('role', 'list');
  svg.setAttribute('aria-label', 'Messages per sender, top senders');
  svg.classList.add('chart');
  top.forEach((t, i) => {
    const g = document.createElementNS(SVG, 'g');
    g.setAttribute('role', 'listitem');
    g.setAttribute('tabindex', '0');
    g.setAttribute('aria-label', `${t.from}: ${t.count} message${t.count === 1 ? '' : 's'}`);
    g.classList.add('bar');
    const y = i * rowHeight;
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${t.from}: ${number.format(t.count)} message${t.count === 1 ? '' : 's'} (show only these)`;
    const name = document.createElementNS(SVG, 'text');
    name.setAttribute('x', String(label - 8));
    name.setAttribute('y', String(y + rowHeight / 2));
    name.setAttribute('text-anchor', 'end');
    name.setAttribute('dominant-baseline', 'central');
    name.textContent = t.from.length > 17 ? `${t.from.slice(0, 16)}…` : t.from;
    // The whole row takes the pointer, not only the bar and the letters.
    const hit = document.createElementNS(SVG, 'rect');
    hit.setAttribute('y', String(y));
    hit.setAttribute('width', String(width));
    hit.setAttribute('height', String(rowHeight));
    hit.classList.add('hit');
    const rect = document.createElementNS(SVG, 'rect');
    rect.classList.add('value');
    rect.setAttribute('x', String(label));
    rect.setAttribute('y', String(y + 4));
    rect.setAttribute('height', String(rowHeight - 8));
    rect.setAttribute('rx', '3');
    rect.setAttribute('width', String(Math.max(2, ((width - label - countWidth) * t.count) / max)));
    const count = document.createElementNS(SVG, 'text');
    count.setAttribute('x', String(label + ((width - label - countWidth) * t.count) / max + 6));
    count.setAttribute('y', String(y + rowHeight / 2));
    count.setAttribute('dominant-baseline', 'central');
    count.classList.add('count');
    count.textContent = number.format(t.count);
    g.append(title, hit, name, rect, count);
    const pick = (): void => {
      ui.from.value = t.from;
      apply();
    };
    g.addEventListener('click', pick);
    g.addEventListener('keydown', (e) => {
      if (e instanceof KeyboardEvent && (e.key === 'Enter' || e.key === ' ')) {
        e.preventDefault();
        pick();
      }
    });
    svg.append(g);
  });
  return svg;
}

function openDetail(m: Message): void {
  ui.detailTitle.textContent = `Message from ${m.from}`;
  ui.detailFields.replaceChildren();
  const field = (name: string, value: Node | string): void => {
    const dd = el('dd');
    dd.append(value);
    ui.detailFields.append(el('dt', name), dd);
  };
  field('Message id', m.message_id);
  field('From', m.from);
  field('To', m.to);
  field('Time', timeElement(m.ts));
  field('ts (as sent)', m.ts);
  if (m.type !== undefined) field('Type', m.type);
  ui.detailJson.textContent = JSON.stringify(m, null, 2);
  ui.copied.textContent = '';
  ui.detail.showModal();
}

async function copyJson(): Promise<void> {
  try {
    await navigator.clipboard.writeText(ui.detailJson.textContent ?? '');
    ui.copied.textContent = 'Copied';
  } catch {
    // No clipboard (an insecure origin, or denied): select the JSON so Ctrl+C copies it.
    const range = document.createRange();
    range.selectNodeContents(ui.detailJson);
    getSelection()?.removeAllRanges();
    getSelection()?.addRange(range);
    ui.copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy';
  }
}

function clearFilters(): void {
  fillForm({ q: '', from: '', since: '', order: state.filters.order, live: state.filters.live });
  apply();
}

// ---- wiring ----

let searchTimer: number | undefined;
ui.q.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = window.setTimeout(apply, SEARCH_DELAY_MS);
});
for (const input of [ui.from, ui.since, ui.order, ui.live]) input.addEventListener('change', apply);
ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  clearTimeout(searchTimer);
  apply();
});
ui.clear.addEventListener('click', clearFilters);
ui.more.addEventListener('click', () => void loadMore());
ui.marker.addEventListener('click', showPending);
ui.copy.addEventListener('click', () => void copyJson());
ui.forget.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  live?.abort();
  state.rows = [];
  state.stats = null;
  state.total = null;
  void start();
});
ui.tokenForm.addEventListener('submit', () => {
  const t = ui.tokenInput.value.trim();
  if (t === '') return;
  sessionStorage.setItem(TOKEN_KEY, t);
  state.needToken = false;
  state.tokenRefused = false;
  void start();
});
ui.token.addEventListener('cancel', (e) => e.preventDefault()); // nothing to show without a token
window.addEventListener('popstate', () => {
  state.filters = readFilters(new URLSearchParams(location.search));
  fillForm(state.filters);
  void reload();
  restartLive();
});
window.addEventListener('scroll', () => {
  if (state.pending.length > 0 && state.filters.order === 'newest' && window.scrollY <= NEAR_EDGE_PX) showPending();
});
document.addEventListener('keydown', (e) => {
  const t = e.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
  if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey && !ui.detail.open && !ui.token.open) {
    e.preventDefault();
    ui.q.focus();
    ui.q.select();
  }
});

/** Whether this service has the live stream: GET / lists every route, so no request has to fail to find out. */
async function streamServed(): Promise<boolean> {
  try {
    const res = await fetch('/', { cache: 'no-store' });
    const body: unknown = await res.json();
    return isRecord(body) && Array.isArray(body.endpoints) && body.endpoints.some((e: unknown) => isRecord(e) && e.path === '/messages/stream');
  } catch {
    return false;
  }
}

async function start(): Promise<void> {
  state.failure = null;
  // The messages first: on a large database /stats costs more than a page, and the service answers in turn.
  await reload();
  await loadStats();
  followIfWanted();
}

fillForm(state.filters);
void Promise.all([streamServed(), start()]).then(([served]) => {
  state.liveAvailable = served;
  render();
  followIfWanted();
});
