// Erase one person's messages through the service's API (DELETE /messages?from= or /messages/{id}):
//   ADMIN_TOKEN=... npm run --silent erase -- --from +919876543210     (or --id <message_id>)
// Prints the answer ({"deleted":N}); exits 0 on 200, 1 otherwise (404 included), 2 on a usage error.
import { bearerFrom, call, fail, parseCommand } from './service-client.ts';

const USAGE = 'usage: ADMIN_TOKEN=<one of ADMIN_TOKENS> npm run --silent erase -- (--from <sender> | --id <message_id>) [--url http://host:port]';

const { values, url } = parseCommand(process.argv.slice(2), ['from', 'id'], USAGE);
if ((values.from === undefined) === (values.id === undefined)) fail(`give exactly one of --from and --id\n${USAGE}`, 2);
const auth = bearerFrom('ADMIN_TOKEN');
if (!('authorization' in auth)) fail(`ADMIN_TOKEN is not set\n${USAGE}`, 2);
// fetch resolves `.` and `..` in a path (`%2E` too), which would send the DELETE elsewhere.
if (values.id === '.' || values.id === '..') {
  fail(`an id of ${values.id} cannot travel in a URL through fetch; erase it with:\ncurl --path-as-is -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" ${url}/messages/${values.id}`, 2);
}
const target = values.id !== undefined ? `/messages/${encodeURIComponent(values.id)}` : `/messages?from=${encodeURIComponent(values.from ?? '')}`;
const res = await call(`${url}${target}`, { method: 'DELETE', headers: auth });
const text = await res.text();
if (res.status !== 200) fail(`HTTP ${res.status}: ${text}`);
process.stdout.write(`${text}\n`);
