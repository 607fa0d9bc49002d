// The inbox page (SPEC "GET /inbox"): its wiring. The modules: dom (elements), api (the service's
// endpoints), state (what is shown, the URL's filters), load (the list), live (the stream), render and
// chart (drawing), detail (one message), export (downloads), erase (loaded when first asked for).
import { isRecord, readToken } from './api.ts';
import { copyJson, openDetail, shown } from './detail.ts';
import { ui } from './dom.ts';
import { wireExports } from './export.ts';
import { followIfWanted, restartLive, stopLive } from './live.ts';
import { loadMore, loadStats, reload, scrolled, showPending } from './load.ts';
import { render, rowMessage } from './render.ts';
import { fillForm, filtersQuery, formFilters, readFilters, state } from './state.ts';

const SEARCH_DELAY_MS = 200;

/** Whether the current history entry is a search being typed: the next pause in typing replaces it. */
let typedEntry = false;

/** Takes the form's filters into the URL (a history entry; one for a whole search typed) and lists again. */
function apply(typing = false): void {
  const f = formFilters();
  const was = state.filters;
  const changedList = f.q !== was.q || f.from !== was.from || f.since !== was.since || f.order !== was.order;
  const changedLive = f.live !== was.live;
  state.filters = f;
  const url = filtersQuery(f);
  if (url !== (location.search === '' ? location.pathname : location.search)) {
    if (typing && typedEntry) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
  }
  typedEntry = typing;
  // The stream first, then the list (live.ts says why). Live turned back on lists again: the new stream
  // starts after the newest message, and those stored while it was off would be missing.
  const opened = changedList || changedLive ? restartLive() : Promise.resolve();
  if (changedList || (changedLive && f.live)) void opened.then(() => reload());
}

function clearFilters(): void {
  fillForm({ q: '', from: '', since: '', order: state.filters.order, live: state.filters.live });
  apply();
}

let searchTimer: number | undefined;
ui.q.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = window.setTimeout(() => apply(true), SEARCH_DELAY_MS);
});
for (const input of [ui.from, ui.since, ui.order, ui.live]) input.addEventListener('change', () => apply());
ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  clearTimeout(searchTimer);
  apply();
});
ui.clear.addEventListener('click', clearFilters);
ui.more.addEventListener('click', () => void loadMore());
ui.marker.addEventListener('click', showPending);
ui.copy.addEventListener('click', () => void copyJson());
for (const [button, kind] of [[ui.eraseMessage, 'message'], [ui.eraseSender, 'sender']] as const) {
  button.addEventListener('click', () => {
    const m = shown;
    if (m) void import('./erase.ts').then((erase) => erase.confirmErase(kind, m));
  });
}
wireExports();
ui.state.addEventListener('click', (e) => {
  const action = e.target instanceof HTMLElement ? e.target.dataset.action : undefined;
  if (action === 'clear') clearFilters();
  else if (action === 'retry') void start();
});
ui.rows.addEventListener('click', (e) => {
  const m = rowMessage(e.target);
  if (m) openDetail(m);
});
ui.rows.addEventListener('keydown', (e) => {
  const m = rowMessage(e.target);
  if (m && (e.key === 'Enter' || e.key === ' ')) {
    e.preventDefault();
    openDetail(m);
  }
});
ui.forget.addEventListener('click', () => {
  readToken.forget();
  stopLive();
  state.rows = [];
  state.stats = null;
  state.total = null;
  void start();
});
ui.tokenForm.addEventListener('submit', (e) => {
  const t = ui.tokenInput.value.trim();
  if (t === '') return e.preventDefault(); // only spaces: the prompt stays open
  readToken.set(t);
  state.needToken = false;
  state.tokenRefused = false;
  void start();
});
ui.token.addEventListener('cancel', (e) => e.preventDefault()); // nothing to show without a token
window.addEventListener('popstate', () => {
  typedEntry = false;
  state.filters = readFilters(new URLSearchParams(location.search));
  fillForm(state.filters);
  void restartLive().then(() => reload());
});
window.addEventListener('scroll', scrolled);
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

/** GET /'s answer, kept once it says yes: one that failed (a service restarting) is asked again at the next start. */
let served: Promise<boolean> | undefined = streamServed();

async function start(): Promise<void> {
  state.failure = null;
  const asked = served ?? streamServed();
  // The stream, then the messages (live.ts says why), then /stats: on a large database it costs more
  // than a page, and the service answers in turn. The stream is asked for beside GET /, not after it,
  // since its answer is on the way to the first page; a service that does not list it calls it off.
  const listed = reload(followIfWanted(true));
  state.liveAvailable = await asked;
  served = state.liveAvailable ? asked : undefined;
  if (!state.liveAvailable) stopLive();
  render();
  await listed;
  await loadStats();
}

fillForm(state.filters);
void start();
