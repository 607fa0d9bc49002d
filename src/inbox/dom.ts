// The page's elements, and the helpers that put text from the service into them. That text reaches the
// DOM through textContent or an attribute only, never as markup: a stored `<img onerror>` must show, not run.

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
};

export const ui = {
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
  exports: $('exports'),
  exportNdjson: $<HTMLAnchorElement>('export-ndjson'),
  exportCsv: $<HTMLAnchorElement>('export-csv'),
  notice: $('notice'),
  eraseMessage: $<HTMLButtonElement>('erase-message'),
  eraseSender: $<HTMLButtonElement>('erase-sender'),
  erase: $<HTMLDialogElement>('erase'),
  eraseForm: $<HTMLFormElement>('erase-form'),
  eraseTitle: $('erase-title'),
  eraseWhat: $('erase-what'),
  adminToken: $<HTMLInputElement>('admin-token'),
  eraseProblem: $('erase-problem'),
  eraseConfirm: $<HTMLButtonElement>('erase-confirm'),
  eraseCancel: $<HTMLButtonElement>('erase-cancel'),
  token: $<HTMLDialogElement>('token'),
  tokenForm: $<HTMLFormElement>('token-form'),
  tokenWhy: $('token-why'),
  tokenInput: $<HTMLInputElement>('token-input'),
};

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className !== undefined) e.className = className;
  return e;
}

/** A `<dt>`/`<dd>` pair appended to a `<dl>`. */
export function term(list: HTMLElement, name: string, value: Node | string): void {
  const dd = el('dd');
  dd.append(value);
  list.append(el('dt', name), dd);
}

export const number = new Intl.NumberFormat();
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
export const shortFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** Milliseconds of a `ts`: Date reads three fraction digits at most, and the service keeps up to nine. */
export function instant(ts: string): number {
  return Date.parse(ts.replace(/(\.\d{3})\d+Z$/, '$1Z'));
}

/** A `ts` in the viewer's zone, with the exact `ts` as sent on hover. */
export function timeElement(ts: string, format = dateFormat): HTMLTimeElement {
  const t = instant(ts);
  const e = el('time', Number.isNaN(t) ? ts : format.format(t));
  e.dateTime = ts;
  e.title = ts;
  return e;
}
