// Export stored messages through the service's API (GET /messages/export) to stdout:
//   READ_TOKEN=... npm run --silent export -- --format csv [--from +91...] [--since <ts>] [--q <text>] > messages.csv
// READ_TOKEN only when the service has READ_TOKENS. Exits 0 once the whole export is written, 1 when
// the service refuses it or the connection ends early (the output is then incomplete), 2 on a usage error.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { bearerFrom, call, fail, parseCommand } from './service-client.ts';

const USAGE = 'usage: [READ_TOKEN=<token>] npm run --silent export -- [--format ndjson|csv] [--from <sender>] [--since <ts>] [--q <text>] [--url http://host:port] > file';

const { values, url } = parseCommand(process.argv.slice(2), ['format', 'from', 'since', 'q'], USAGE);
const query = new URLSearchParams(values);
const res = await call(`${url}/messages/export?${query}`, { headers: bearerFrom('READ_TOKEN') });
if (res.status !== 200 || res.body === null) fail(`HTTP ${res.status}: ${await res.text()}`);
try {
  // Written as fast as stdout takes it: a slow disk or pipe slows the service's query, never fills memory.
  await pipeline(Readable.fromWeb(res.body as ReadableStream<Uint8Array>), process.stdout);
} catch (err) {
  fail(`export cut short: ${err instanceof Error ? err.message : String(err)}`);
}
