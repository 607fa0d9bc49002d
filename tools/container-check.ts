// CI's container check (`make container-check`): builds the image from the Dockerfile on a Node 24 Debian
// base (tools/container-base.ts), runs it with the settings docker-compose.yml gives the `api` service,
// and checks what an operator relies on, then validates the compose files with a real compose
// implementation. Each check prints one line; the last line counts them. Any failure exits 1.
// Needs root, podman, runc, debootstrap, docker-compose and podman-compose (.ci/run installs them).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
const HANDLED = ['build', 'image', 'ports', 'environment', 'volumes', 'read_only', 'tmpfs', 'security_opt', 'cap_drop', 'restart', 'stop_grace_period'];
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
  const restart = at(API, 'restart');
  if (typeof restart === 'string') args.push('--restart', restart);
  args.push('--stop-timeout', String(GRACE_SECONDS));
  if (hostNetwork) args.push('--network', 'host');
  else for (const p of list(at(API, 'ports'))) args.push('-p', `127.0.0.1::${String(p).split(':').at(-1)}`);
  for (const v of list(at(API, 'volumes'))) args.push('-v', String(v).replace(/^app-data:/, `${volume}:`));
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  return args;
}

/** The api service's environment with the values an operator would give it, plus overrides. */
function composeEnv(overrides: Record<string, string>): Record<string, string> {
  const defaults = Object.entries(stringMap(at(API, 'environment'))).map(([k, v]): [string, string] => {
    const m = /^\$\{(\w+)(?::[-?](.*))?\}$/.exec(v);
    return [k, m ? (k === 'WEBHOOK_SECRET' ? SECRET : (m[2] ?? '')) : v];
  });
  return { ...Object.fromEntries(defaults), ...overrides };
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
  const args = composeArgs(composeEnv({}), volume);
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
  const c = await start(`${PREFIX}-nosecret`, composeArgs(composeEnv({ WEBHOOK_SECRET: '' }), `${PREFIX}-nosecret`), IMAGE);
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
    const args = composeArgs(composeEnv({ DATABASE_URL: url, HOST: '127.0.0.1', PORT: String(port) }), `${PREFIX}-pg${n}`, true);
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

/** WEBHOOK_SECRET_FILE from a mounted file, as docker-compose.secret-file.yml sets it. */
async function secretFile(dir: string): Promise<void> {
  const file = join(dir, 'webhook_secret');
  writeFileSync(file, 'secret-from-a-file\n', { mode: 0o644 });
  const override = stringMap(at(parseYaml(readRepoFile('docker-compose.secret-file.yml')), 'services', 'api', 'environment'));
  const target = override.WEBHOOK_SECRET_FILE ?? '';
  const args = [...composeArgs(composeEnv(override), `${PREFIX}-secretfile`), '-v', `${file}:${target}:ro`];
  const c = await start(`${PREFIX}-secretfile`, args, IMAGE);
  const ready = await waitFor(c, '/health/ready', 200);
  const good = await post(c, message(), 'secret-from-a-file');
  const bad = await post(c, message(), SECRET);
  check(`the secret from a mounted file (WEBHOOK_SECRET_FILE=${target}): ready, its signature 200, another 401`,
    ready === 200 && good.status === 200 && bad.status === 401, `${ready} ${good.status} ${bad.status}`);
}

// ---- compose ----------------------------------------------------------------------------------------------

function composeFiles(): void {
  const compose = (args: string[], env: Record<string, string> = { WEBHOOK_SECRET: 'x' }): Run =>
    run('docker-compose', args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env } });
  const version = compose(['version', '--short']).stdout.trim();
  const base = compose(['-f', 'docker-compose.yml', 'config', '-q']);
  check(`docker-compose ${version} config: docker-compose.yml`, base.status === 0, base.stderr.trim());
  const unset = compose(['-f', 'docker-compose.yml', 'config', '-q'], {});
  check('docker-compose config without WEBHOOK_SECRET stops with the message', unset.status !== 0 && unset.stderr.includes('set WEBHOOK_SECRET'), unset.stderr.trim());
  const merged = compose(['-f', 'docker-compose.yml', '-f', 'docker-compose.secret-file.yml', 'config']);
  check('docker-compose config: docker-compose.yml + docker-compose.secret-file.yml', merged.status === 0 && merged.stdout.includes('WEBHOOK_SECRET_FILE: /run/secrets/webhook_secret'), merged.stderr.trim());
  const services = at(parseYaml(readRepoFile('docker-compose.yml')), 'services');
  const profiles = new Map<string, string[]>();
  for (const [name, s] of Object.entries(services !== null && typeof services === 'object' ? services : {})) {
    for (const p of list(at(s, 'profiles'))) profiles.set(String(p), [...(profiles.get(String(p)) ?? []), name]);
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

/** podman-compose up of the api service with the secret-file override; its settings read back. */
async function podmanCompose(dir: string, port: number): Promise<void> {
  const project = `${PREFIX}-compose`;
  const args = ['--podman-args', `--storage-driver ${PODMAN_GLOBAL[1]}`, '-p', project, '-f', 'docker-compose.yml', '-f', 'docker-compose.secret-file.yml'];
  const env = { ...PODMAN_ENV, WEBHOOK_SECRET: 'from-file', WEBHOOK_SECRET_PATH: join(dir, 'webhook_secret'), API_PORT: String(port) };
  const up = run('podman-compose', [...args, 'up', '-d', '--no-build', 'api'], { env });
  const name = `${project}_api_1`;
  if (!check('podman-compose up -d api (docker-compose.yml + docker-compose.secret-file.yml)', up.status === 0 && inspect(name, '{{.State.Running}}') === 'true', up.stderr.trim().split('\n').slice(-3).join(' | '))) return;
  const c: Container = { name, url: `http://127.0.0.1:${port}` };
  const ready = await waitFor(c, '/health/ready', 200);
  const posted = await post(c, message(), 'secret-from-a-file');
  const settings = `${inspect(name, '{{.HostConfig.ReadonlyRootfs}}')} ${inspect(name, '{{.Config.User}}')}`;
  const nnp = processes(name).map((p) => `${p.Uid} ${p.CapEff} ${p.NoNewPrivs}`);
  check('under podman-compose: healthy, its signature 200, read-only root, user node, uid 1000 without capabilities, no-new-privileges',
    ready === 200 && (await healthy(name)) === 'healthy' && posted.status === 200 && settings === 'true node' && nnp.length === 2 && nnp.every((p) => p === `${SERVICE_UID} 0000000000000000 1`),
    `${ready} ${posted.status} ${settings} ${nnp.join()}`);
  must(podman(['stop', '-t', String(GRACE_SECONDS), name]), 'podman stop');
  run('podman-compose', [...args, 'down', '-v'], { env });
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
  try {
    note(`${must(podman(['--version']), 'podman')}, ${must(run('runc', ['--version']), 'runc').split('\n')[0]}`);
    const baseStarted = Date.now();
    const base = ensureBase(note);
    note(`base: ${seconds(baseStarted)}`);
    const id = build(base);
    if (id !== null) {
      imageContents(id);
      await lifecycle();
      await missingSecret();
      await secretFile(dir);
      await podmanCompose(dir, await freePort());
      await postgresReplicas();
    }
    composeFiles();
    haproxyConfig(base);
  } catch (err) {
    check('the check ran to its end', false, err instanceof Error ? err.message : String(err));
  } finally {
    cleanUp();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`container-check: ${passed} passed, ${failed} failed (${seconds(started)})\n`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
