// CI's container check (`make container-check`): builds the image from the Dockerfile on a Node 24 Debian
// base (tools/container-base.ts), runs it with the settings docker-compose.yml gives the `api` service,
// and checks what an operator relies on; then runs `make up` and `make down` for real (podman-compose, the
// secrets override), and reads the compose files back through docker-compose. Each check prints one line;
// the last line counts them. Any failure exits 1.
// Needs root, podman, runc, debootstrap, docker-compose and podman-compose (.ci/run installs them).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign } from '../src/domain/signature.ts';
import { ensureBase, must, PODMAN_ENV, PODMAN_GLOBAL, podman, run, type Run } from './container-base.ts';
import { at, list, parseYaml, readRepoFile, ROOT, stringMap, type Yaml } from './container-files.ts';
import { startCluster } from '../test/postgres-cluster.ts';

const IMAGE = 'localhost/lyftr-webhook-api:local'; // the name docker-compose.yml (and so `make up`) gives it
const PREFIX = `lyftr-check-${process.pid}`;
const SECRET = 'container-check-secret';
const SERVICE_UID = '1000';

let passed = 0;
let failed = 0;
function check(name: string, ok: boolean, detail = ''): boolean {
  if (ok) passed += 1;
  else failed += 1;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || detail === '' ? '' : `\n       ${detail}`}\n`);
  return ok;
}
const note = (line: string): void => void process.stdout.write(`     ${line}\n`);
const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the `api` service of docker-compose.yml, as `podman run` arguments ------------------------------

const API = at(parseYaml(readRepoFile('docker-compose.yml')), 'services', 'api');
/** Keys of the api service this check turns into podman arguments; any other key fails the check. */
const HANDLED = ['build', 'image', 'ports', 'environment', 'volumes', 'read_only', 'tmpfs', 'security_opt', 'cap_drop', 'mem_limit', 'pids_limit', 'restart', 'stop_grace_period'];
const GRACE_SECONDS = Number.parseInt(String(at(API, 'stop_grace_period')), 10);

/**
 * What compose would pass for the api service, with the container port published on a free loopback port,
 * or (`hostNetwork`) on the host's network, unpublished: the service then listens where PORT says.
 */
function composeArgs(env: Record<string, string>, volume: string, hostNetwork = false): string[] {
  const args: string[] = [];
  if (at(API, 'read_only') === true) args.push('--read-only');
  for (const t of list(at(API, 'tmpfs'))) args.push('--tmpfs', String(t));
  for (const s of list(at(API, 'security_opt'))) args.push('--security-opt', String(s).replace(/:true$/, ''));
  for (const c of list(at(API, 'cap_drop'))) args.push('--cap-drop', String(c));
  args.push('--memory', String(at(API, 'mem_limit')), '--pids-limit', String(at(API, 'pids_limit')));
  const restart = at(API, 'restart');
  if (typeof restart === 'string') args.push('--restart', restart);
  args.push('--stop-timeout', String(GRACE_SECONDS));
  if (hostNetwork) args.push('--network', 'host');
  else for (const p of list(at(API, 'ports'))) args.push('-p', `127.0.0.1::${String(p).split(':').at(-1)}`);
  for (const v of list(at(API, 'volumes'))) args.push('-v', String(v).replace(/^app-data:/, `${volume}:`));
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  return args;
}

/**
 * The api service's environment as compose gives it for these operator settings: the file's fixed values,
 * and each passed-through setting (a key with no value) only when the operator set it.
 */
function composeEnv(settings: Record<string, string>): Record<string, string> {
  const declared = at(API, 'environment');
  const keys = declared !== null && typeof declared === 'object' && !Array.isArray(declared) ? declared : {};
  const fixed = Object.entries(keys).filter(([, v]) => v !== null).map(([k, v]) => [k, String(v)]);
  const passed = Object.entries(settings).filter(([k]) => keys[k] === null);
  return Object.fromEntries([...fixed, ...passed]);
}

// ---- containers ---------------------------------------------------------------------------------------

type Container = { name: string; url: string };

async function start(name: string, args: string[], image: string): Promise<Container> {
  must(podman(['run', '-d', '--name', name, ...args, image]), `podman run ${name}`);
  return { name, url: await portUrl(name) };
}

async function portUrl(name: string): Promise<string> {
  const mapped = must(podman(['port', name, '8000/tcp']), 'podman port').split('\n')[0] ?? '';
  return `http://${mapped}`;
}

/** Polls until `path` answers `status` (or the time runs out); the last answer's status, 0 for none. */
async function waitFor(c: Container, path: string, status: number, ms = 15_000): Promise<number> {
  const deadline = Date.now() + ms;
  let last = 0;
  while (Date.now() < deadline) {
    last = await fetch(`${c.url}${path}`).then((r) => r.status, () => 0);
    if (last === status) return last;
    await sleep(200);
  }
  return last;
}

const inspect = (name: string, format: string): string => podman(['inspect', name, '--format', format]).stdout.trim();
const exec = (name: string, command: string, user?: string): ReturnType<typeof podman> =>
  podman(['exec', ...(user ? ['--user', user] : []), name, '/bin/sh', '-c', command]);

let sequence = 0;
function message(from = '+919876543210'): string {
  sequence += 1;
  return JSON.stringify({ message_id: `c${sequence}`, from, to: '+14155550100', ts: `2025-01-15T10:00:${String(sequence).padStart(2, '0')}Z`, text: 'hi' });
}
const post = (c: Container, body: string, secret = SECRET): Promise<Response> =>
  fetch(`${c.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': sign(body, secret) }, body });
const getJson = async (c: Container, path: string): Promise<unknown> => (await fetch(`${c.url}${path}`)).json();
const total = async (c: Container): Promise<unknown> => at((await getJson(c, '/messages')) as Yaml, 'total');

/** `podman healthcheck run` until the container reports healthy (no systemd here runs the timer). */
async function healthy(name: string, ms = 20_000): Promise<string> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    podman(['healthcheck', 'run', name]);
    const status = inspect(name, '{{.State.Health.Status}}');
    if (status === 'healthy') return status;
    await sleep(500);
  }
  return inspect(name, '{{.State.Health.Status}}');
}


// ---- the image ------------------------------------------------------------------------------------------

function build(base: string): string | null {
  const started = Date.now();
  const previous = podman(['image', 'inspect', IMAGE, '--format', '{{.Id}}']).stdout.trim();
  const r = podman(['build', '--layers=false', '--format', 'docker', '--network', 'host', '--build-arg', `NODE_IMAGE=${base}`, '-t', IMAGE, '.']);
  if (!check(`the Dockerfile builds on ${base}`, r.status === 0, r.status === 0 ? '' : r.stderr.trim().split('\n').slice(-5).join(' | '))) return null;
  note(`build: ${seconds(started)}`);
  const id = inspect(IMAGE, '{{.Id}}');
  // The last run's image, untagged by this one, would otherwise stay behind at full size (vfs).
  if (previous !== '' && previous !== id) podman(['rmi', previous]);
  return id;
}

/** The lockfile's production packages, by their folder directly under node_modules. */
function productionFolders(): string[] {
  const lock = JSON.parse(readRepoFile('package-lock.json')) as { packages: Record<string, { dev?: boolean }> };
  const folders = Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && p.dev !== true)
    .map(([path]) => path.slice('node_modules/'.length).split('/node_modules/')[0]?.split('/')[0] ?? '');
  return [...new Set(folders)].sort();
}

function imageContents(id: string): void {
  const bytes = Number(inspect(id, '{{.Size}}'));
  note(`image size: ${(bytes / 1e6).toFixed(0)} MB (${IMAGE})`);
  const [image] = JSON.parse(must(podman(['image', 'inspect', id]), 'image inspect')) as [Yaml];
  const user = at(image, 'Config', 'User');
  check('the image runs as the non-root user `node`', user === 'node', String(user));
  const probe = JSON.stringify(at(image, 'Healthcheck', 'Test') ?? null);
  check('the image keeps its HEALTHCHECK (Node asks /health/ready)', probe.includes('/health/ready'), probe);
  const tools = 'npm npx corepack yarn tsc tsx gcc cc c++ g++ make';
  const script = `for c in ${tools}; do command -v $c; done; echo --; find / -xdev -name node_modules -type d -prune 2>/dev/null; echo --; ls -A /app/node_modules`;
  const [found = '', folders = '', installed = ''] = must(podman(['run', '--rm', '--entrypoint', '/bin/sh', id, '-c', script]), 'listing the image').split('--');
  check(`no npm, no compiler in the image (${tools})`, found.trim() === '', found.trim().replace(/\n/g, ' '));
  check('one node_modules in the image, /app/node_modules', folders.trim() === '/app/node_modules', folders.trim().replace(/\n/g, ' '));
  const expected = productionFolders();
  const actual = installed.trim().split('\n').filter(Boolean).sort();
  check(`/app/node_modules holds the production dependencies only (${expected.length === 0 ? 'none' : expected.join(' ')})`, JSON.stringify(actual) === JSON.stringify(expected), actual.join(' '));
}

// ---- the service, run as docker-compose.yml runs it -----------------------------------------------------

/** Uid, CapEff, CapBnd, NoNewPrivs of the container's tini and node (PID 1 and the service). */
function processes(name: string): Record<string, string>[] {
  const script = 'for p in /proc/[0-9]*; do [ $p = /proc/$$ ] && continue; case "$(tr "\\0" " " < $p/cmdline)" in *tini*|*dist/main.js*)' +
    ' grep -E "^(Uid|CapEff|CapBnd|NoNewPrivs):" $p/status | tr "\\n" " "; echo;; esac; done';
  return exec(name, script)
    .stdout.split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Object.fromEntries([...l.matchAll(/(\w+):\t(\S+)/g)].map((m) => [m[1] ?? '', m[2] ?? ''])));
}

async function hardening(c: Container): Promise<void> {
  const procs = processes(c.name);
  const bad = (p: Record<string, string>): boolean => p.Uid !== SERVICE_UID || !/^0+$/.test(p.CapEff ?? '') || !/^0+$/.test(p.CapBnd ?? '') || p.NoNewPrivs !== '1';
  check(
    'tini and node run as uid 1000, no capabilities (effective and bounding), no-new-privileges',
    procs.length === 2 && !procs.some(bad),
    JSON.stringify(procs),
  );
  const write = exec(c.name, 'touch /app/probe', '0');
  check('the root filesystem is read-only (even root cannot write /app)', write.status !== 0 && /read-only/i.test(write.stderr), write.stderr.trim());
  const owner = exec(c.name, 'stat -c %u /data /data/app.db').stdout.trim().split('\n');
  check('a fresh named volume on /data is the service user\'s, and holds its database', owner.length === 2 && owner.every((u) => u === SERVICE_UID), owner.join(' '));
}

async function ingest(c: Container): Promise<string[]> {
  const bodies = [message(), message(), message('+14155550199')];
  const first = await post(c, bodies[0] ?? '');
  check('signed POST /webhook: 200 {"status":"ok"}', first.status === 200 && (await first.text()) === '{"status":"ok"}', String(first.status));
  const again = await post(c, bodies[0] ?? '');
  const forged = await post(c, bodies[1] ?? '', 'wrong-secret');
  check('the same message again: 200; a wrong signature: 401', again.status === 200 && forged.status === 401, `${again.status} ${forged.status}`);
  const listing = (await getJson(c, '/messages')) as Yaml;
  const row = list(at(listing, 'data'))[0];
  const sent = JSON.parse(bodies[0] ?? '') as Record<string, string>;
  check('GET /messages lists it', String(at(listing, 'total')) === '1' && JSON.stringify(row) === JSON.stringify(sent), JSON.stringify(listing));
  for (const b of bodies.slice(1)) await post(c, b);
  const page = await fetch(`${c.url}/inbox`);
  const script = await fetch(`${c.url}/inbox/inbox.js`);
  check('the image serves the inbox page and its script', page.status === 200 && script.status === 200, `${page.status} ${script.status}`);
  return bodies;
}

async function sqliteCli(c: Container, bodies: string[]): Promise<void> {
  const count = exec(c.name, "sqlite3 /data/app.db 'SELECT count(*) FROM messages'");
  check('sqlite3 in the container reads the live database', count.stdout.trim() === '3', `${count.stdout.trim()} ${count.stderr.trim()}`);
  const firstId = (JSON.parse(bodies[0] ?? '{}') as { message_id: string }).message_id;
  const del = exec(c.name, `sqlite3 /data/app.db "DELETE FROM messages WHERE message_id = '${firstId}'"`);
  check('sqlite3 in the container deletes a message', del.status === 0, del.stderr.trim());
  const [, second, third] = bodies.map((b) => JSON.parse(b) as Record<string, string>);
  const expected = {
    total_messages: 2,
    senders_count: 2,
    messages_per_sender: [second?.from, third?.from].sort().map((from) => ({ from, count: 1 })),
    first_message_ts: second?.ts,
    last_message_ts: third?.ts,
  };
  const stats = await getJson(c, '/stats');
  check('and /stats is right after it', JSON.stringify(stats) === JSON.stringify(expected), JSON.stringify(stats));
}

/** A POST whose body is half sent when `podman stop` begins, finished a second later: its status. */
async function stopWhileInFlight(c: Container): Promise<{ status: number; stopped: Run; ms: number }> {
  const body = message();
  const url = new URL(c.url);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const head = `POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Signature: ${sign(body, SECRET)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  socket.write(head + body.slice(0, 10));
  let reply = '';
  socket.on('data', (d: Buffer) => (reply += d.toString()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const started = Date.now();
  const stopping = runAsync('podman', [...PODMAN_GLOBAL, 'stop', '-t', String(GRACE_SECONDS), c.name]);
  await sleep(1000);
  socket.write(body.slice(10));
  await closed;
  const stopped = await stopping;
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0), stopped, ms: Date.now() - started };
}

function runAsync(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: PODMAN_ENV });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}

/** One container on a fresh volume through its life: ingest, hardening, sqlite3, restart, stop, re-create. */
async function lifecycle(): Promise<void> {
  const volume = `${PREFIX}-data`;
  const args = composeArgs(composeEnv({ WEBHOOK_SECRET: SECRET }), volume);
  note(`podman run ${args.join(' ')}`);
  let c = await start(`${PREFIX}-api`, args, IMAGE);
  check('the container turns healthy (its healthcheck, run by `podman healthcheck run`)', (await healthy(c.name)) === 'healthy');
  const bodies = await ingest(c);
  await hardening(c);
  await sqliteCli(c, bodies);

  const kept = String(await total(c));
  must(podman(['restart', '-t', String(GRACE_SECONDS), c.name]), 'podman restart');
  c = { name: c.name, url: await portUrl(c.name) };
  const ready = await waitFor(c, '/health/ready', 200);
  const after = String(await total(c));
  check(`after \`restart\` the data is still there (${kept} messages)`, ready === 200 && after === kept, `${ready} ${after}`);

  const { status, stopped, ms } = await stopWhileInFlight(c);
  const exit = inspect(c.name, '{{.State.ExitCode}}');
  const logs = podman(['logs', c.name]).stdout;
  check(`\`stop\` finishes the request in flight (${status}), exits 0 within the ${GRACE_SECONDS} s grace (${(ms / 1000).toFixed(1)} s), logs "stopped"`,
    status === 200 && stopped.status === 0 && exit === '0' && ms < GRACE_SECONDS * 1000 && logs.includes('"msg":"stopped"'), `exit ${exit} ${stopped.stderr.trim()}`);

  must(podman(['rm', c.name]), 'podman rm');
  c = await start(`${PREFIX}-api2`, args, IMAGE);
  const again = await waitFor(c, '/health/ready', 200);
  const recreated = String(await total(c));
  check('a new container on the same volume has every message (the drained one too)', again === 200 && recreated === String(Number(kept) + 1), `${kept} + 1 != ${recreated}`);
  must(podman(['stop', '-t', String(GRACE_SECONDS), c.name]), 'podman stop');
}

/** No secret: the service stays up, live but not ready, and refuses webhooks; it is not restarted. */
async function missingSecret(): Promise<void> {
  const c = await start(`${PREFIX}-nosecret`, composeArgs(composeEnv({}), `${PREFIX}-nosecret`), IMAGE);
  const live = await waitFor(c, '/health/live', 200);
  await sleep(3000);
  const ready = await fetch(`${c.url}/health/ready`);
  const text = await ready.text();
  const hook = await post(c, message());
  const state = `${inspect(c.name, '{{.State.Running}}')} ${inspect(c.name, '{{.RestartCount}}')}`;
  const probe = podman(['healthcheck', 'run', c.name]).status;
  check('without a secret: live 200, ready 503 naming the secret, POST 503, still running, never restarted, healthcheck fails',
    live === 200 && ready.status === 503 && /secret/i.test(text) && hook.status === 503 && state === 'true 0' && probe !== 0,
    `${live} ${ready.status} ${text} ${hook.status} running/restarts: ${state} probe: ${probe}`);
}

/**
 * The image on PostgreSQL, as the compose profile `scale` runs it (whose postgres and haproxy images need
 * a registry): two containers of the image on one throwaway cluster of the host's server binaries,
 * host networking, each on a port of its own. The driver comes from the image's node_modules.
 */
async function postgresReplicas(): Promise<void> {
  const cluster = startCluster();
  const url = (await cluster.database('image')).replace('postgres://', 'postgresql://');
  const replicas: Container[] = [];
  for (const n of [1, 2]) {
    const port = await freePort();
    // The compose profile's own URL and the port of the service name are what host networking replaces here.
    const env = { ...composeEnv({ WEBHOOK_SECRET: SECRET }), DATABASE_URL: url, HOST: '127.0.0.1', PORT: String(port) };
    const args = composeArgs(env, `${PREFIX}-pg${n}`, true);
    must(podman(['run', '-d', '--name', `${PREFIX}-pg${n}`, ...args, IMAGE]), `podman run ${PREFIX}-pg${n}`);
    replicas.push({ name: `${PREFIX}-pg${n}`, url: `http://127.0.0.1:${port}` });
  }
  const [a, b] = replicas as [Container, Container];
  const ready = [await waitFor(a, '/health/ready', 200, 30_000), await waitFor(b, '/health/ready', 200, 30_000)];
  const body = message();
  const both = await Promise.all([post(a, body), post(b, body)]);
  const other = message('+14155550177');
  const acked = await post(a, other);
  const listed = (await getJson(b, `/messages?from=${encodeURIComponent('+14155550177')}`)) as Yaml;
  const all = await total(b);
  const engine = podman(['logs', a.name]).stdout.includes('"database":"postgresql://');
  check('two containers on one PostgreSQL: ready, one id sent to both at once 200 twice and stored once, the other replica lists what one acknowledged',
    ready.join() === '200,200' && both.every((r) => r.status === 200) && acked.status === 200 && String(all) === '2' && String(at(listed, 'total')) === '1' && engine,
    `ready ${ready.join()} posts ${both.map((r) => r.status).join()} ${acked.status} total ${String(all)} listed ${JSON.stringify(listed)} engine log ${engine}`);
  for (const r of replicas) podman(['stop', '-t', String(GRACE_SECONDS), r.name]);
  await cluster.stop();
}

// ---- compose ----------------------------------------------------------------------------------------------

function composeFiles(): void {
  const compose = (args: string[], env: Record<string, string> = {}): Run =>
    run('docker-compose', args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env } });
  const version = compose(['version', '--short']).stdout.trim();
  const config = (env: Record<string, string>, files = ['-f', 'docker-compose.yml']): Yaml => {
    const r = compose([...files, 'config'], env);
    if (r.status !== 0) throw new Error(`docker-compose config: ${r.stderr.trim()}`);
    return parseYaml(r.stdout);
  };
  // Every setting the file passes through, each given a value of its own.
  const settings = Object.entries(stringMap(at(API, 'environment'))).filter(([, v]) => v === '').map(([k]): [string, string] => [k, `value-of-${k}`]);
  const given = config(Object.fromEntries(settings));
  const unset = config({});
  for (const name of ['api', 'api-pg']) {
    const env = (c: Yaml): Record<string, string> => stringMap(at(c, 'services', name, 'environment'));
    const wrong = settings.filter(([k, v]) => env(given)[k] !== v || env(unset)[k] !== '');
    check(`docker-compose ${version} config: ${name} gets each of the ${settings.length} settings the operator sets, and no value for one left unset`, wrong.length === 0, wrong.map(([k]) => k).join(' '));
  }
  const published = (c: Yaml, service: string): string => list(at(c, 'services', service, 'ports')).map(String).join(' ');
  const open = config({ API_BIND: '0.0.0.0', PORT: '9000' });
  check('ports: api on 127.0.0.1:8000, HAProxy on 127.0.0.1:8080, Prometheus on 127.0.0.1:9090; API_BIND=0.0.0.0 PORT=9000 moves the api and HAProxy',
    published(unset, 'api') === '127.0.0.1:8000:8000/tcp' && published(unset, 'haproxy') === '127.0.0.1:8080:8080/tcp' && published(unset, 'prometheus') === '127.0.0.1:9090:9090/tcp' &&
      published(open, 'api') === '0.0.0.0:9000:8000/tcp' && published(open, 'haproxy') === '0.0.0.0:8080:8080/tcp',
    `${published(unset, 'api')} ${published(unset, 'haproxy')} ${published(unset, 'prometheus')} ${published(open, 'api')} ${published(open, 'haproxy')}`);
  const services = at(unset, 'services');
  const names = Object.keys(services !== null && typeof services === 'object' ? services : {});
  const unlimited = names.filter((n) => !at(services as Yaml, n, 'mem_limit') || !at(services as Yaml, n, 'pids_limit'));
  check(`memory and pids limits on every service (${names.join(', ')})`, names.length === 5 && unlimited.length === 0, unlimited.join(' '));
  const pg = `${String(at(config({ POSTGRES_PASSWORD: 'pw-from-env' }), 'services', 'api-pg', 'environment', 'DATABASE_URL'))} ${String(at(unset, 'services', 'postgres', 'environment', 'POSTGRES_PASSWORD'))}`;
  check('the PostgreSQL password is POSTGRES_PASSWORD, with no default', pg === 'postgres://lyftr:pw-from-env@postgres:5432/lyftr ', pg);
  const merged = config({}, ['-f', 'docker-compose.yml', '-f', 'docker-compose.secret-file.yml']);
  const mounts = ['api', 'api-pg'].map((n) => list(at(merged, 'services', n, 'volumes')).map(String).find((v) => v.endsWith(':/run/secrets:ro')) ?? '');
  check('docker-compose config: docker-compose.secret-file.yml mounts ./secrets read-only at /run/secrets in api and api-pg', mounts.every((m) => m.endsWith('/secrets:/run/secrets:ro')), mounts.join(' '));
  const profiles = new Map<string, string[]>();
  for (const [name, svc] of Object.entries(at(parseYaml(readRepoFile('docker-compose.yml')), 'services') as Record<string, Yaml>)) {
    for (const p of list(at(svc, 'profiles'))) profiles.set(String(p), [...(profiles.get(String(p)) ?? []), name]);
  }
  const listed = compose(['-f', 'docker-compose.yml', 'config', '--profiles']).stdout.trim().split('\n').sort();
  check(`docker-compose config --profiles: ${listed.join(', ')}`, JSON.stringify(listed) === JSON.stringify([...profiles.keys()].sort()), listed.join(' '));
  for (const [profile, members] of profiles) {
    const r = compose(['-f', 'docker-compose.yml', '--profile', profile, 'config', '-q']);
    check(`docker-compose --profile ${profile} config: ${members.join(', ')} beside api`, r.status === 0, r.stderr.trim());
  }
  const images = [...profiles.values()].flat().map((n) => String(at(services as Yaml, n, 'image'))).filter((i) => !i.startsWith('lyftr-'));
  note(`profiles ${[...profiles.keys()].join(', ')}: \`up\` not run here, their images (${[...new Set(images)].join(', ')}) need a registry this machine cannot reach`);
}

/** `haproxy -c` on the scale profile's config, with Debian's haproxy (3.0, as the compose image) on the base. */
function haproxyConfig(base: string): void {
  const script = 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null 2>&1' +
    ' && haproxy -v | head -1 && haproxy -c -V -f /cfg/haproxy.cfg';
  const r = podman(['run', '--rm', '--network', 'host', '-v', `${join(ROOT, 'ops', 'haproxy')}:/cfg:ro`, base, 'sh', '-c', script]);
  const version = /HAProxy version (\S+)/.exec(r.stdout)?.[1] ?? '?';
  check(`haproxy ${version} -c: ops/haproxy/haproxy.cfg is valid`, r.status === 0 && /Configuration file is valid/.test(r.stdout + r.stderr), (r.stderr || r.stdout).trim().slice(-500));
}

/** The project's containers by service name, and its volumes (`-a`: stopped ones too). */
function projectState(project: string): { services: string[]; volumes: string[] } {
  const services = podman(['ps', '-a', '--filter', `label=io.podman.compose.project=${project}`, '--format', '{{index .Labels "com.docker.compose.service"}}']);
  return { services: services.stdout.trim().split('\n').filter(Boolean).sort(), volumes: podman(['volume', 'ls', '-q']).stdout.trim().split('\n').filter(Boolean) };
}

/**
 * `make up` and `make down` as an operator runs them, on this machine's podman-compose: secrets from files
 * (docker-compose.secret-file.yml), tokens from the environment, PORT for the host port.
 */
async function makeUpDown(dir: string, port: number): Promise<void> {
  const project = `${PREFIX}-compose`;
  const secrets = join(dir, 'secrets');
  mkdirSync(secrets, { mode: 0o755 });
  writeFileSync(join(secrets, 'webhook_secret'), 'secret-from-a-file\n', { mode: 0o644 });
  writeFileSync(join(secrets, 'read_tokens'), 'read-token-from-a-file\n', { mode: 0o644 });
  const operator: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, CI: process.env.CI };
  const env = {
    ...operator, COMPOSE_PROJECT_NAME: project, PORT: String(port), SECRETS_DIR: secrets,
    COMPOSE_FILE: 'docker-compose.yml:docker-compose.secret-file.yml',
    WEBHOOK_SECRET_FILE: '/run/secrets/webhook_secret', READ_TOKENS_FILE: '/run/secrets/read_tokens', METRICS_TOKEN: 'metrics-token-from-env',
  };
  const volumesBefore = projectState(project).volumes;
  const started = Date.now();
  const up = run('make', ['up'], { env });
  const { services } = projectState(project);
  if (!check(`make up (podman-compose, docker-compose.secret-file.yml): exit 0, only the default service runs (${services.join(', ')}), in ${seconds(started)}`,
    up.status === 0 && services.join() === 'api', (up.stderr || up.stdout).trim().split('\n').slice(-5).join(' | '))) return;
  const name = `${project}_api_1`;
  const c: Container = { name, url: `http://127.0.0.1:${port}` };
  const ready = await waitFor(c, '/health/ready', 200);
  const mapped = must(podman(['port', name]), 'podman port');
  const health = run('make', ['health'], { env });
  check(`published on loopback only (${mapped}); make health asks PORT ${port}: live and ready`,
    ready === 200 && mapped === `8000/tcp -> 127.0.0.1:${port}` && health.status === 0 && health.stdout.includes('"status":"ready"'), `${ready} ${health.stdout.trim()} ${health.stderr.trim()}`);
  const get = (path: string, token?: string): Promise<number> =>
    fetch(`${c.url}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
  const statuses = [
    (await post(c, message(), 'secret-from-a-file')).status, (await post(c, message(), SECRET)).status,
    await get('/messages'), await get('/messages', 'read-token-from-a-file'), await get('/metrics'), await get('/metrics', 'metrics-token-from-env'),
  ].join(' ');
  check(`settings reach it: the secret file signs (200, another 401), READ_TOKENS_FILE guards /messages (401, 200), METRICS_TOKEN /metrics (401, 200)`,
    statuses === '200 401 401 200 401 200', statuses);
  const inside = exec(name, 'env').stdout;
  const leaked = Object.keys(stringMap(at(API, 'environment'))).filter((k) => !(k in env) && k !== 'DATABASE_URL' && new RegExp(`^${k}=`, 'm').test(inside));
  const limits = `${inspect(name, '{{.HostConfig.Memory}}')} ${inspect(name, '{{.HostConfig.PidsLimit}}')}`;
  const expected = `${512 * 1024 * 1024} ${String(at(API, 'pids_limit'))}`;
  const procs = processes(name).map((p) => `${p.Uid} ${p.CapEff} ${p.NoNewPrivs}`);
  const hardened = inspect(name, '{{.HostConfig.ReadonlyRootfs}}') === 'true' && procs.length === 2 && procs.every((p) => p === `${SERVICE_UID} 0000000000000000 1`);
  check(`settings left unset stay unset inside; memory and pids limits ${limits} (mem_limit ${String(at(API, 'mem_limit'))}, pids_limit ${String(at(API, 'pids_limit'))}); read-only root, uid 1000 without capabilities, no-new-privileges`,
    leaked.length === 0 && limits === expected && hardened, `${leaked.join(' ')} ${limits} ${procs.join()}`);
  const down = run('make', ['down'], { env });
  const after = projectState(project);
  const created = after.volumes.filter((v) => !volumesBefore.includes(v));
  check(`make down: no container left, the data volume stays, no anonymous volume (new volumes: ${created.join(' ') || 'none'})`,
    down.status === 0 && after.services.length === 0 && created.join() === `${project}_app-data`, `${down.stderr.trim().slice(-300)} ${after.services.join()} ${created.join()}`);
}

// ---- main -------------------------------------------------------------------------------------------------

function cleanUp(): void {
  const names = podman(['ps', '-a', '--filter', `name=^${PREFIX}`, '--format', '{{.Names}}']).stdout.trim().split('\n').filter(Boolean);
  if (names.length > 0) podman(['rm', '-f', '-v', '-t', '0', ...names]);
  const volumes = podman(['volume', 'ls', '--filter', `name=${PREFIX}`, '--format', '{{.Name}}']).stdout.trim().split('\n').filter(Boolean);
  if (volumes.length > 0) podman(['volume', 'rm', '-f', ...volumes]);
  podman(['network', 'rm', '-f', `${PREFIX}-compose_default`]);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function main(): Promise<void> {
  const started = Date.now();
  if (!check('running as root (podman keeps the images in root storage; debootstrap needs root)', process.getuid?.() === 0)) {
    process.stdout.write(`container-check: ${passed} passed, ${failed} failed\n`);
    process.exitCode = 1;
    return;
  }
  const unknown = Object.keys(API !== null && typeof API === 'object' ? API : {}).filter((k) => !HANDLED.includes(k));
  check('every setting of the compose service `api` is one this check applies', unknown.length === 0, unknown.join(' '));
  const dir = mkdtempSync(join(tmpdir(), 'lyftr-check-'));
  let id: string | null = null;
  try {
    note(`${must(podman(['--version']), 'podman')}, ${must(run('runc', ['--version']), 'runc').split('\n')[0]}`);
    const baseStarted = Date.now();
    const base = ensureBase(note);
    note(`base: ${seconds(baseStarted)}`);
    id = build(base);
    if (id !== null) {
      imageContents(id);
      await lifecycle();
      await missingSecret();
      await makeUpDown(dir, await freePort());
      await postgresReplicas();
    }
    composeFiles();
    haproxyConfig(base);
  } catch (err) {
    check('the check ran to its end', false, err instanceof Error ? err.message : String(err));
  } finally {
    cleanUp();
    // make up built the image again under the same name: this run's first build would stay behind untagged.
    if (id !== null && inspect(IMAGE, '{{.Id}}') !== id) podman(['rmi', id]);
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`container-check: ${passed} passed, ${failed} failed (${seconds(started)})\n`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
