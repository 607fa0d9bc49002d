// What the page shows, in one object that render() draws, and the view's filters, which live in the
// page's URL so that back, reload and a shared link show the same messages.
import { readToken, type Failure, type Message, type Stats } from './api.ts';
import { instant, ui } from './dom.ts';

export type Order = 'newest' | 'oldest';
export type Filters = { q: string; from: string; since: string; order: Order; live: boolean };

export const state = {
  filters: readFilters(new URLSearchParams(location.search)),
  rows: [] as Message[],
  total: null as number | null,
  /** The listing's cursor after the last row shown: where `Load more` continues. */
  next: null as string | null,
  /** Messages that arrived live while the reader was scrolled away: shown behind the "N new" marker. */
  pending: [] as Message[],
  loading: false,
  failure: null as Failure | null,
  stats: null as Stats | null,
  needToken: false,
  tokenRefused: false,
  liveAvailable: false,
};

/** A refused read token asks for another; any other failure is shown in the list's place. */
export function fail(f: Failure): void {
  if (f.status === 401) {
    state.tokenRefused = readToken.get() !== null;
    state.needToken = true;
  } else state.failure = f;
}

export function readFilters(p: URLSearchParams): Filters {
  const from = p.get('from') ?? '';
  return {
    q: p.get('q') ?? '',
    // A link written by hand with an unencoded `+` gives a space, as the service reads it too.
    from: /^ [0-9]+$/.test(from) ? `+${from.slice(1)}` : from,
    since: p.get('since') ?? '',
    order: p.get('order') === 'oldest' ? 'oldest' : 'newest',
    live: p.get('live') !== '0',
  };
}

/** The page's own URL for these filters (what goes into history). */
export function filtersQuery(f: Filters): string {
  const p = new URLSearchParams();
  if (f.q !== '') p.set('q', f.q);
  if (f.from !== '') p.set('from', f.from);
  if (f.since !== '') p.set('since', f.since);
  if (f.order === 'oldest') p.set('order', 'oldest');
  if (!f.live) p.set('live', '0');
  const s = p.toString();
  return s === '' ? location.pathname : `?${s}`;
}

/** The filters as the service's query parameters (`from`, `since`, `q`), plus `extra`. */
export function listParams(f: Filters, extra: Record<string, string | number> = {}): URLSearchParams {
  const p = new URLSearchParams();
  if (f.from !== '') p.set('from', f.from);
  if (f.since !== '') p.set('since', f.since);
  if (f.q !== '') p.set('q', f.q);
  for (const [k, v] of Object.entries(extra)) p.set(k, String(v));
  return p;
}

/**
 * The filters as the form shows them now; `since` as it was unless its box changed: the box keeps no
 * fraction, and a local time may name two instants.
 */
export function formFilters(): Filters {
  const was = state.filters.since;
  const since = ui.since.value === '' ? '' : sinceFromLocal(ui.since.value);
  return {
    q: ui.q.value,
    from: ui.from.value.trim(),
    since: was !== '' && since === sinceFromLocal(localFromSince(was)) ? was : since,
    order: ui.order.value === 'oldest' ? 'oldest' : 'newest',
    live: ui.live.checked,
  };
}

export function fillForm(f: Filters): void {
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
