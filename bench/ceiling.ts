// The machine's practical limit for this work: read the body, check the HMAC, parse the JSON, answer.
// No storage, no logging, no metrics. Same signature code as the service. Usage: node ceiling.ts PORT SECRET
import { createServer } from 'node:http';
import { verifySignature } from '../src/domain/signature.ts';

const [port = '0', secret = ''] = process.argv.slice(2);
const OK = Buffer.from('{"status":"ok"}');

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const signature = req.headers['x-signature'];
    let status = 401;
    if (verifySignature(body, typeof signature === 'string' ? signature : undefined, [secret])) {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      status = typeof parsed === 'object' && parsed !== null ? 200 : 422;
    }
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': OK.length });
    res.end(OK);
  });
});
server.keepAliveTimeout = 5_000;
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
