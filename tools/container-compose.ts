// `make up`, `make down`, `make logs`: docker-compose.yml through whichever compose implementation the
// machine has, the same way on each.
//   node tools/container-compose.ts up|down|logs
// - The implementation: COMPOSE if set (`COMPOSE="docker compose"`), else Docker's `docker compose` or
//   `docker-compose` where a Docker engine answers, else podman-compose.
// - `up` builds the image once (service `api`), then starts `api` and the services of the profiles named in
//   COMPOSE_PROFILES (comma-separated), by name: podman-compose 1.0 knows no profiles and would otherwise
//   start every service, and build the image once per container.
// - With podman: NODE_IMAGE, when unset and the official Node image is not there, is the base
//   tools/container-base.ts assembles from Debian packages (no registry needed); images keep their
//   HEALTHCHECK (Docker format); containers get the caller's own file and process limits where those are
//   below podman's defaults, which runc cannot raise (sandboxes, CI machines).
// - COMPOSE_PROJECT_NAME is passed as `-p` (podman-compose 1.0 ignores the variable).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { at, list, parseDockerfile, parseYaml, readRepoFile, ROOT, type Yaml } from './container-files.ts';

export type Compose = { command: string[]; podman: boolean };

const succeeds = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

/** The compose implementation to use, or an Error that says what was looked for. */
export function findCompose(env: NodeJS.ProcessEnv = process.env): Compose | Error {
  const chosen = (env.COMPOSE ?? '').trim().split(/\s+/).filter(Boolean);
  if (chosen.length > 0) return { command: chosen, podman: chosen.some((w) => w.includes('podman')) };
  const engine = (env.DOCKER_HOST ?? '') !== '' || existsSync('/var/run/docker.sock') || succeeds('docker', ['info']);
  if (engine && succeeds('docker', ['compose', 'version'])) return { command: ['docker', 'compose'], podman: false };
  if (engine && succeeds('docker-compose', ['version'])) return { command: ['docker-compose'], podman: false };
  if (succeeds('podman-compose', ['version'])) return { command: ['podman-compose'], podman: true };
  return new Error(
    'no compose implementation: found no Docker engine with `docker compose` or `docker-compose`, and no podman-compose. ' +
      'Install one (Debian: apt-get install podman podman-compose), or set COMPOSE to the command to use.',
  );
}

const COMPOSE_FILE = parseYaml(readRepoFile('docker-compose.yml'));
const SERVICES = (at(COMPOSE_FILE, 'services') ?? {}) as Record<string, Yaml>;
/** The api service's stop_grace_period in seconds: `down` and a recreating `up` wait that long. */
export const GRACE_SECONDS = Number.parseInt(String(at(SERVICES.api, 'stop_grace_period')), 10);

/** `api` and the services of the named profiles, in the file's order. */
export function servicesFor(profiles: string): string[] {
  const wanted = profiles.split(',').map((p) => p.trim()).filter(Boolean);
  return Object.entries(SERVICES)
    .filter(([name, s]) => name === 'api' || list(at(s, 'profiles')).some((p) => wanted.includes(String(p))))
    .map(([name]) => name);
}

/** This process's hard limit of that name in /proc/self/limits ("Max open files"); Infinity when unknown. */
function hardLimit(name: string): number {
  const text = existsSync('/proc/self/limits') ? readFileSync('/proc/self/limits', 'utf8') : '';
  const value = new RegExp(`^${name}\\s+\\S+\\s+(\\d+)`, 'm').exec(text)?.[1];
  return value === undefined ? Infinity : Number(value);
}

/** podman's default open-files limit for a container; the process limit given where that is lowered. */
const PODMAN_NOFILE = 1_048_576;
const NPROC = 4096;

/** `--ulimit` arguments for podman build and run: limits runc can apply here, none where podman's can. */
function podmanLimits(): string[] {
  const nofile = hardLimit('Max open files');
  if (!(nofile < PODMAN_NOFILE)) return [];
  const nproc = Math.min(NPROC, hardLimit('Max processes'));
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}

/** The Node base for a podman build: NODE_IMAGE, the official image when present, else the assembled one. */
async function podmanNodeImage(env: NodeJS.ProcessEnv): Promise<string | null> {
  if ((env.NODE_IMAGE ?? '') !== '') return null;
  const official = parseDockerfile(readRepoFile('Dockerfile')).args.NODE_IMAGE ?? '';
  if (succeeds('podman', ['image', 'exists', official])) return null;
  if (process.getuid?.() !== 0 || !succeeds('debootstrap', ['--version'])) {
    throw new Error(`no ${official} here and no registry-free base: assembling one needs root and debootstrap; or set NODE_IMAGE`);
  }
  const { ensureBase } = await import('./container-base.ts');
  return ensureBase((line) => process.stderr.write(`${line}\n`));
}

function run(command: string[], env: NodeJS.ProcessEnv): number {
  process.stderr.write(`> ${command.join(' ')}\n`);
  const [cmd = '', ...args] = command;
  return spawnSync(cmd, args, { cwd: ROOT, env, stdio: 'inherit' }).status ?? 1;
}

/** The project's name as Docker Compose makes it from the folder, for every implementation alike. */
export function projectName(env: NodeJS.ProcessEnv): string {
  return (env.COMPOSE_PROJECT_NAME ?? '') || basename(ROOT).toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

/**
 * The api image built with podman itself: podman-compose 1.0 exits 0 when the build fails. The image's
 * name and build arguments are the compose file's (NODE_IMAGE its one argument).
 */
function podmanBuild(env: NodeJS.ProcessEnv, limits: string[]): number {
  const build = at(SERVICES.api, 'build');
  const nodeImage = /^\$\{NODE_IMAGE:-(.+)\}$/.exec(String(at(build, 'args', 'NODE_IMAGE')))?.[1] ?? '';
  const layers = env.CONTAINER_STORAGE_DRIVER === 'vfs' ? ['--layers=false'] : [];
  // Docker's format keeps the HEALTHCHECK; on vfs every cached layer would be a full copy of the tree.
  return run(['podman', 'build', '--format', 'docker', ...layers, ...limits, '--build-arg', `NODE_IMAGE=${env.NODE_IMAGE || nodeImage}`,
    '-t', String(at(SERVICES.api, 'image')), String(at(build, 'context'))], env);
}

/** podman-compose 1.0 exits 0 when a container fails to start too: the services without a running one (`-a`: any). */
function notRunning(project: string, services: string[], all: string[] = []): string[] {
  const labels = (service: string): string[] =>
    ['--filter', `label=io.podman.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`];
  return services.filter((s) => spawnSync('podman', ['ps', '-q', ...all, ...labels(s)], { encoding: 'utf8' }).stdout.trim() === '');
}

/**
 * podman-compose 1.0 `down` of the services that have containers (it reports every other one as missing),
 * then the project's network, which it leaves behind. Named volumes stay, as with any `down`.
 */
function podmanDown(base: string[], env: NodeJS.ProcessEnv): number {
  const project = projectName(env);
  const present = Object.keys(SERVICES).filter((s) => !notRunning(project, [s], ['-a']).length);
  const status = present.length === 0 ? 0 : run([...base, 'down', '-t', String(GRACE_SECONDS), ...present], env);
  spawnSync('podman', ['network', 'rm', `${project}_default`], { stdio: 'ignore' });
  return status;
}

// The secrets readiness counts (SPEC, Health): WhatsApp's alone leave /health/ready at 503.
const SECRETS = ['WEBHOOK_SECRET', 'WEBHOOK_SECRET_FILE', 'STANDARD_WEBHOOKS_SECRET'];

async function up(compose: Compose, base: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (!SECRETS.some((name) => (env[name] ?? '') !== '')) {
    process.stderr.write(`note: none of ${SECRETS.join(', ')} is set: the service starts, but /webhook and /health/ready answer 503\n`);
  }
  const services = servicesFor(env.COMPOSE_PROFILES ?? '');
  if (services.includes('prometheus')) {
    // Prometheus reads its bearer token from this file (ops/prometheus/prometheus.yml); git ignores it.
    writeFileSync(join(ROOT, 'ops', 'prometheus', 'metrics_token'), env.METRICS_TOKEN ?? '', { mode: 0o644 });
  }
  if (!compose.podman) {
    const built = run([...base, 'build', 'api'], env);
    return built !== 0 ? built : run([...base, 'up', '-d', '--no-build', ...services], env);
  }
  // The storage podman itself uses, for the base too (container-base.ts reads it when loaded).
  env.CONTAINER_STORAGE_DRIVER ||= spawnSync('podman', ['info', '--format', '{{.Store.GraphDriverName}}'], { encoding: 'utf8' }).stdout.trim();
  try {
    const image = await podmanNodeImage(env);
    if (image !== null) env.NODE_IMAGE = image;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const limits = podmanLimits();
  const imageId = (): string => spawnSync('podman', ['image', 'inspect', '--format', '{{.Id}}', String(at(SERVICES.api, 'image'))], { encoding: 'utf8' }).stdout.trim();
  const previous = imageId();
  const built = podmanBuild(env, limits);
  if (built !== 0) return built;
  // podman-compose 1.0 ignores pids_limit, and takes run arguments for all containers at once: the
  // largest of the services' limits, so that each has at least its own.
  const pids = Math.max(...services.map((s) => Number(at(SERVICES[s], 'pids_limit') ?? 0)));
  const runArgs = [...limits, ...(pids > 0 ? ['--pids-limit', String(pids)] : [])];
  // --force-recreate: podman-compose 1.0 would otherwise keep a running container on the old image.
  run([...base, '--podman-run-args', runArgs.join(' '), 'up', '-d', '--no-build', '--force-recreate', ...services], env);
  // The image this build replaced, untagged now, once no container runs it (each is a full copy on vfs).
  if (previous !== '' && previous !== imageId()) spawnSync('podman', ['rmi', previous], { stdio: 'ignore' });
  const failed = notRunning(projectName(env), services);
  if (failed.length > 0) process.stderr.write(`not running: ${failed.join(', ')} (podman ps -a; podman logs <container>)\n`);
  return failed.length === 0 ? 0 : 1;
}

export async function main(action: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const compose = findCompose(env);
  if (compose instanceof Error) {
    process.stderr.write(`${compose.message}\n`);
    return 1;
  }
  const base = [...compose.command, '-p', projectName(env)];
  if (action === 'up') return up(compose, base, env);
  if (action === 'down') return compose.podman ? podmanDown(base, env) : run([...base, 'down', '-t', String(GRACE_SECONDS)], env);
  if (action === 'logs') return run([...base, 'logs', '-f', 'api'], env);
  process.stderr.write('usage: node tools/container-compose.ts up|down|logs\n');
  return 2;
}

if (import.meta.main) process.exitCode = await main(process.argv[2] ?? '');
