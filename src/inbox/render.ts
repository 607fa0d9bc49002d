// Drawing: one render() from the state. Buttons drawn here carry a `data-action` that the page's wiring
// (inbox.ts) answers, and rows map back to their message, so drawing calls nothing that loads.
import { readToken, type Message } from './api.ts';
import { renderStats } from './chart.ts';
import { el, number, timeElement, ui } from './dom.ts';
import { renderExports } from './export.ts';
import { state } from './state.ts';

const rowCache = new WeakMap<Message, HTMLTableRowElement>();
const messageOfRow = new WeakMap<Element, Message>();

/** The message a click or a key inside the table was about, if any. */
export function rowMessage(target: EventTarget | null): Message | undefined {
  const tr = target instanceof Element ? target.closest('tr') : null;
  return tr === null ? undefined : messageOfRow.get(tr);
}

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
  text.append(m.text === null ? el('span', 'no text', 'none') : Object.assign(el('span', m.text), { dir: 'auto' }));
  tr.append(from, time, text);
  rowCache.set(m, tr);
  messageOfRow.set(tr, m);
  return tr;
}

function actionButton(label: string, action: string): HTMLButtonElement {
  const b = el('button', label);
  b.type = 'button';
  b.dataset.action = action;
  return b;
}

/** Runs a redraw of `part`; a focused element in it that is drawn again (rows are kept) keeps the focus. */
function keepingFocus(part: HTMLElement, redraw: () => void): void {
  const focused = document.activeElement;
  redraw();
  if (focused instanceof HTMLElement && part.contains(focused) && document.activeElement !== focused) focused.focus({ preventScroll: true });
}

export function render(): void {
  const { rows, total, loading, failure, filters } = state;
  const filtered = filters.q !== '' || filters.from !== '' || filters.since !== '';
  keepingFocus(ui.rows, () => ui.rows.replaceChildren(...rows.map(rowFor)));
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
    if (unavailable) ui.state.append(' ', actionButton('Retry', 'retry'));
  } else if (state.needToken) ui.state.textContent = 'A read token is needed to show messages.';
  else if (loading && rows.length === 0) ui.state.textContent = 'Loading messages…';
  else if (total === 0 && filtered) ui.state.append('No message matches these filters. ', actionButton('Clear filters', 'clear'));
  else if (total === 0) ui.state.textContent = 'No messages yet. They appear here as senders post them to /webhook.';
  ui.state.hidden = ui.state.childNodes.length === 0;

  ui.count.textContent = total === null || total === 0 ? '' : `Showing ${number.format(rows.length)} of ${number.format(total)}`;
  ui.more.hidden = state.next === null;
  ui.more.disabled = loading;
  ui.more.textContent = loading && rows.length > 0 ? 'Loading…' : 'Load more';
  ui.marker.hidden = state.pending.length === 0;
  ui.marker.textContent = `${state.pending.length} new ${filters.order === 'newest' ? '↑' : '↓'}`;
  ui.liveToggle.hidden = !state.liveAvailable;
  ui.forget.hidden = readToken.get() === null;
  renderStats();
  renderExports();
  if (state.needToken && !ui.token.open) {
    ui.tokenWhy.textContent = state.tokenRefused
      ? 'That token was not accepted. Enter a read token of this service.'
      : 'This service needs a read token to show its messages. It is kept in this tab only (sessionStorage) and sent as a bearer header.';
    ui.tokenInput.value = '';
    ui.token.showModal();
  }
}
