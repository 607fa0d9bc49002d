// A message's detail: its fields, its JSON as GET /messages gives it, and a copy button.
import type { Message } from './api.ts';
import { el, term, timeElement, ui } from './dom.ts';

/** The message the detail shows (what its erase buttons are about). */
export let shown: Message | null = null;

export function openDetail(m: Message): void {
  shown = m;
  ui.detailTitle.textContent = `Message from ${m.from}`;
  ui.detailFields.replaceChildren();
  term(ui.detailFields, 'Message id', m.message_id);
  term(ui.detailFields, 'From', m.from);
  term(ui.detailFields, 'To', m.to);
  term(ui.detailFields, 'Time', timeElement(m.ts));
  term(ui.detailFields, 'ts (as sent)', m.ts);
  if (m.type !== undefined) term(ui.detailFields, 'Type', m.type);
  // The whole text, its lines kept, in its own direction (the list shows three lines at most).
  term(ui.detailFields, 'Text', m.text === null ? el('span', 'no text', 'none') : Object.assign(el('span', m.text, 'full-text'), { dir: 'auto' }));
  ui.detailJson.textContent = JSON.stringify(m, null, 2);
  ui.copied.textContent = '';
  ui.detail.showModal();
}

export async function copyJson(): Promise<void> {
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
