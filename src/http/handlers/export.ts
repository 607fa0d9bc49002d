// GET /messages/export (SPEC): every match of the filters in listing order, as NDJSON or CSV, streamed a
// page at a time with backpressure (server.ts), so memory stays flat whatever the number of rows.
import { csvRecord, CSV_HEADER, messageJson, parseExportQuery, type ExportFormat } from '../../domain/export-query.ts';
import type { Message, Store } from '../../store/store.ts';
import type { Req } from '../request.ts';
import { json, streamed, type Reply, type StreamEnd } from '../response.ts';

/** Rows read from the store at a time, and written as one chunk: about 100 KB of typical messages. */
export const EXPORT_PAGE_ROWS = 500;

export type ExportDeps = {
  store: Store;
  clock: () => Date;
  onStarted(format: ExportFormat): void;
  onFinished(format: ExportFormat, end: 'complete' | 'disconnected' | 'failed'): void;
};

const CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
};

export function createExportHandler(deps: ExportDeps): (req: Req) => Promise<Reply> {
  return async (req) => {
    const parsed = parseExportQuery(req.query);
    if (!parsed.ok) return json(422, { detail: parsed.errors });
    const { format, filter } = parsed.value;
    // The first page before the status: storage trouble is still a 503, not a 200 cut short.
    const pages = deps.store.scan(filter, EXPORT_PAGE_ROWS)[Symbol.asyncIterator]();
    const first = await pages.next();
    const stamp = deps.clock().toISOString().slice(0, 19).replaceAll(':', '-');
    const stream = {
      chunks: () => chunks(deps, format, first, pages),
      // A reader cut for taking nothing has left, as far as the export's metrics tell.
      ended: (end: StreamEnd) => deps.onFinished(format, end === 'stalled' ? 'disconnected' : end),
    };
    return streamed(200, CONTENT_TYPES[format], stream, {
      headers: { 'content-disposition': `attachment; filename="messages-${stamp}Z.${format}"` },
      log: { format },
    });
  };
}

/** The body, a page a chunk; counted as started when the server asks for the first chunk. */
async function* chunks(deps: ExportDeps, format: ExportFormat, first: IteratorResult<Message[]>, pages: AsyncIterator<Message[]>): AsyncGenerator<string> {
  deps.onStarted(format);
  const render = format === 'csv' ? csvRecord : (m: Message): string => JSON.stringify(messageJson(m)) + '\n';
  try {
    if (format === 'csv') yield CSV_HEADER;
    for (let page = first; page.done !== true; page = await pages.next()) yield page.value.map(render).join('');
  } finally {
    // Stops the store's walk when the client left part-way.
    await pages.return?.();
  }
}
