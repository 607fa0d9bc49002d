// Erasure from a message's detail (SPEC "Erasure"): this message, or every message of its sender, each
// behind a confirmation that says what will go. Loaded on first use: the first view does not need it.
import { api, bearer, isListing, isRecord, withQuery, type Failure, type Message } from './api.ts';
import { el, ui } from './dom.ts';
import { loadStats, reload } from './load.ts';
import { state } from './state.ts';

type Target = { kind: 'message'; message: Message } | { kind: 'sender'; from: string };

/**
 * The admin token lives in this page's memory only: a reload or another tab asks again. Unlike the read
 * token, it destroys data for good, so it is not left in storage that outlives the action (docs/inbox.md).
 */
let adminToken = '';
let target: Target | null = null;

const plural = (n: number): string => `${n.toLocaleString()} message${n === 1 ? '' : 's'}`;

/** Asks before erasing: names what will go, and asks for an admin token unless this page holds one. */
export async function confirmErase(kind: Target['kind'], m: Message): Promise<void> {
  target = kind === 'message' ? { kind, message: m } : { kind, from: m.from };
  ui.eraseProblem.textContent = '';
  ui.adminToken.value = adminToken;
  // A browser takes `.` and `..` in a path (%2E too) as steps to another URL: such an id cannot be sent.
  const unsendable = kind === 'message' && (m.message_id === '.' || m.message_id === '..');
  for (const part of [ui.eraseConfirm, ui.adminToken.labels?.[0]]) if (part) part.hidden = unsendable;
  if (unsendable) {
    target = null;
    ui.eraseTitle.textContent = 'This message cannot be erased from the page';
    ui.eraseWhat.textContent = `A browser cannot put the id ${m.message_id} in a URL. Erase it with curl --path-as-is -X DELETE -H "Authorization: Bearer <admin token>" ${location.origin}/messages/${m.message_id}, or erase all from this sender here.`;
  } else if (kind === 'message') {
    ui.eraseTitle.textContent = 'Erase this message?';
    // The id isolated: a bidirectional control in it cannot reorder the rest of the sentence.
    ui.eraseWhat.replaceChildren('The message ', el('bdi', m.message_id), ` from ${m.from} (sent ${m.ts}) will be deleted from the service for good. This cannot be undone.`);
  } else {
    ui.eraseTitle.textContent = 'Erase every message of this sender?';
    const count = await api(withQuery('/messages', new URLSearchParams({ from: m.from, limit: '1' })), isListing);
    const how = count.ok ? `All ${plural(count.body.total)}` : 'All messages';
    ui.eraseWhat.textContent = `${how} from ${m.from} will be deleted from the service for good, not only those shown, including any that arrive before you confirm. This cannot be undone.`;
  }
  ui.erase.showModal();
  (adminToken === '' && !unsendable ? ui.adminToken : ui.eraseCancel).focus();
}

const isDeleted = (v: unknown): v is { deleted: number } => isRecord(v) && typeof v.deleted === 'number';

function problem(f: Failure): string {
  const detail = f.detail === '' ? '' : ` (${f.detail})`;
  if (f.status === 401) return `That admin token was not accepted (401). Enter one of the service's ADMIN_TOKENS.`;
  if (f.status === 403) return `Erasure is disabled on this service (403)${detail}.`;
  if (f.status === 404) return `This message is already gone (404)${detail}.`;
  if (f.status === 0) return 'The service could not be reached.';
  return `The service answered ${f.status}${detail}.`;
}

async function erase(e: SubmitEvent): Promise<void> {
  e.preventDefault();
  const t = target;
  adminToken = ui.adminToken.value.trim();
  if (t === null || adminToken === '') return;
  ui.eraseConfirm.disabled = true;
  const path = t.kind === 'message' ? `/messages/${encodeURIComponent(t.message.message_id)}` : withQuery('/messages', new URLSearchParams({ from: t.from }));
  const a = await api(path, isDeleted, { method: 'DELETE', headers: bearer(adminToken) });
  ui.eraseConfirm.disabled = false;
  if (!a.ok) {
    if (a.failure.status === 401) adminToken = '';
    ui.eraseProblem.textContent = problem(a.failure);
    // Gone already: the list is out of date, so it follows.
    if (a.failure.status === 404) void reload().then(loadStats);
    return;
  }
  const at = state.rows.findIndex((m) => (t.kind === 'message' ? m.message_id === t.message.message_id : m.from === t.from));
  ui.erase.close();
  ui.detail.close();
  ui.notice.textContent = t.kind === 'message' ? `Erased ${plural(a.body.deleted)}: ${t.message.message_id}.` : `Erased ${plural(a.body.deleted)} from ${t.from}.`;
  await reload();
  // The focus went back to the erased row, which is gone: the row in its place takes it, as in a list.
  const rows = ui.rows.querySelectorAll('tr');
  if (!ui.rows.contains(document.activeElement)) (rows[Math.min(Math.max(at, 0), rows.length - 1)] ?? ui.q).focus();
  await loadStats();
}

ui.eraseForm.addEventListener('submit', (e) => void erase(e));
ui.eraseCancel.addEventListener('click', () => ui.erase.close());
