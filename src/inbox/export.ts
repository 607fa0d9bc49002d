// "Export what is shown": GET /messages/export with the view's filters, as NDJSON or CSV. Without a read
// token the links are plain downloads that the service streams to disk; with one, the bearer header must
// go along (never the token in a URL), so the file is fetched and saved from memory through a blob link.
import { authHeaders, detailOf, jsonOrNull, readToken, withQuery } from './api.ts';
import { ui } from './dom.ts';
import { listParams, state } from './state.ts';

const LINKS = [
  [ui.exportNdjson, 'ndjson'],
  [ui.exportCsv, 'csv'],
] as const;

function exportUrl(format: 'ndjson' | 'csv'): string {
  return withQuery('/messages/export', listParams(state.filters, format === 'csv' ? { format } : {}));
}

/** Points the links at the view's filters (called by render()). */
export function renderExports(): void {
  ui.exports.hidden = state.needToken;
  for (const [link, format] of LINKS) link.href = exportUrl(format);
}

async function download(format: 'ndjson' | 'csv'): Promise<void> {
  ui.notice.textContent = `Exporting (${format.toUpperCase()})…`;
  try {
    const res = await fetch(exportUrl(format), { headers: authHeaders(), cache: 'no-store' });
    if (!res.ok) {
      const detail = detailOf(await jsonOrNull(res));
      ui.notice.textContent = `The export failed: the service answered ${res.status}${detail === '' ? '' : ` (${detail})`}.`;
      return;
    }
    const name = /filename="?([^";]+)"?/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `messages.${format}`;
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    ui.notice.textContent = `Exported ${name}.`;
  } catch {
    ui.notice.textContent = 'The export failed: the service could not be reached.';
  }
}

export function wireExports(): void {
  for (const [link, format] of LINKS) {
    link.addEventListener('click', (e) => {
      if (readToken.get() === null) return; // a plain link: the browser streams it to disk
      e.preventDefault();
      void download(format);
    });
  }
}
