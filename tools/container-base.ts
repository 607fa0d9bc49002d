// The Node 24 base image CI builds the Dockerfile on, since no image registry is reachable from the build
// machines: Debian trixie (debootstrap --variant=minbase, from the Debian mirror apt already uses), the
// project's pinned Node at /usr/local/bin/node, this machine's npm at /usr/local/lib/node_modules/npm and a
// `node` user of uid 1000, as in the official node:24-trixie-slim. npm's own folder also holds an npmrc with this
// machine's registry and CA bundle, so `npm ci` in the build stage reaches the registry the way npm on
// this machine does; the runtime stage deletes that folder with npm. Nothing of the machine enters the repo.
// Imported once under a name keyed by what went into it, and reused while it exists. `make up` uses it too,
// with podman, when no official Node image is there (tools/container-compose.ts).
//   node tools/container-base.ts      prints the base image's name (assembling it first when missing)
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './container-files.ts';

export const SUITE = 'trixie';
/** Raised when what the base holds changes, so an old one is not reused. */
const RECIPE = 3;
const NODE_BINARY = join(ROOT, 'node_modules', 'node', 'bin', 'node');
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * podman as the build machines need it: root storage with the vfs driver (CONTAINER_STORAGE_DRIVER to
 * change it), runc, and resource limits the sandbox allows (it cannot raise them), through a containers.conf
 * of our own so podman-compose's calls get the same.
 */
export const PODMAN_GLOBAL = ['--storage-driver', process.env.CONTAINER_STORAGE_DRIVER || 'vfs'];
const CONF_DIR = mkdtempSync(join(tmpdir(), 'lyftr-podman-'));
writeFileSync(
  join(CONF_DIR, 'containers.conf'),
  '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n\n[engine]\nruntime = "runc"\n',
);
export const PODMAN_ENV: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: join(CONF_DIR, 'containers.conf') };
process.on('exit', () => rmSync(CONF_DIR, { recursive: true, force: true }));

export type Run = { status: number; stdout: string; stderr: string };

/** Runs a command to its end; never throws (a missing program is status 127). */
export function run(cmd: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Run {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? PODMAN_ENV,
    input: options.input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) return { status: 127, stdout: '', stderr: `${cmd}: ${r.error.message}` };
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export const podman = (args: string[], input?: string): Run => run('podman', [...PODMAN_GLOBAL, ...args], { input });

/** Throws with the command's own words when it failed. */
export function must(r: Run, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return r.stdout.trim();
}

/** The machine's Debian release, whose entry in apt's sources names the mirror. */
function hostCodename(): string {
  const release = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  return /^VERSION_CODENAME=(\S+)$/m.exec(release)?.[1] ?? '';
}

/** The URI of the Debian archive in apt's sources (deb822 *.sources or one-line *.list): the entry of `suite`. */
export function debianMirror(dir = '/etc/apt', suite = hostCodename()): string {
  const files = [join(dir, 'sources.list')];
  const parts = join(dir, 'sources.list.d');
  if (existsSync(parts)) files.push(...readdirSync(parts).map((f) => join(parts, f)));
  for (const file of files.filter((f) => existsSync(f) && /\.(list|sources)$/.test(f))) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string): string[] =>
          (new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(stanza)?.[1] ?? '').split(/\s+/).filter(Boolean);
        if (field('Enabled')[0] === 'no' || !field('Types').includes('deb')) continue;
        const uri = field('URIs')[0];
        if (uri && field('Suites').includes(suite)) return uri;
      }
    } else {
      const m = new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${suite}\\s`, 'm').exec(text);
      if (m?.[1]) return m[1];
    }
  }
  throw new Error(`no "${suite}" entry in ${dir}/sources.list or sources.list.d: debootstrap needs a Debian mirror`);
}

type Inputs = { nodeVersion: string; npmDir: string; npmVersion: string; registry: string; mirror: string; ca: string | null };

function inputs(): Inputs {
  const nodeVersion = must(run(NODE_BINARY, ['--version'], { env: process.env }), 'the pinned node').replace(/^v/, '');
  // This machine's npm as it runs outside the project (make puts the pinned node first on PATH, which
  // would move npm's global prefix into node_modules).
  const bin = join(ROOT, 'node_modules', '.bin');
  const machine = { ...process.env, PATH: (process.env.PATH ?? '').split(':').filter((d) => d !== bin).join(':') };
  const npmDir = join(must(run('npm', ['root', '-g'], { env: machine }), 'npm root -g'), 'npm');
  const npmVersion = (JSON.parse(readFileSync(join(npmDir, 'package.json'), 'utf8')) as { version: string }).version;
  const registry = must(run('npm', ['config', 'get', 'registry'], { env: machine }), 'npm config get registry');
  return { nodeVersion, npmDir, npmVersion, registry, mirror: debianMirror(), ca: existsSync(CA_BUNDLE) ? readFileSync(CA_BUNDLE, 'utf8') : null };
}

/** debootstrap, trimmed of what the slim images also leave out; Node, npm and the `node` user added. */
function assemble(rootfs: string, x: Inputs): void {
  must(run('debootstrap', ['--variant=minbase', SUITE, rootfs, x.mirror], { env: process.env }), 'debootstrap');
  for (const dir of ['var/cache/apt', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/info']) {
    rmSync(join(rootfs, dir), { recursive: true, force: true });
    mkdirSync(join(rootfs, dir), { recursive: true });
  }
  mkdirSync(join(rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
  const npm = join(rootfs, 'usr/local/lib/node_modules/npm');
  mkdirSync(join(rootfs, 'usr/local/lib/node_modules'), { recursive: true });
  must(run('cp', ['-a', x.npmDir, npm], { env: process.env }), 'copying npm');
  must(run('cp', [NODE_BINARY, join(rootfs, 'usr/local/bin/node')], { env: process.env }), 'copying node');
  must(run('ln', ['-s', '../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm')], { env: process.env }), 'npm link');
  must(run('ln', ['-s', '../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx')], { env: process.env }), 'npx link');
  // npm's builtin config: read by this npm only, and gone with it in the runtime stage.
  let npmrc = `registry=${x.registry}\n`;
  if (x.ca !== null) {
    writeFileSync(join(npm, 'machine-ca.crt'), x.ca);
    npmrc += 'cafile=/usr/local/lib/node_modules/npm/machine-ca.crt\n';
  }
  writeFileSync(join(npm, 'npmrc'), npmrc);
  must(run('chroot', [rootfs, 'groupadd', '--gid', '1000', 'node'], { env: process.env }), 'groupadd node');
  must(run('chroot', [rootfs, 'useradd', '--uid', '1000', '--gid', 'node', '--shell', '/bin/bash', '--create-home', 'node'], { env: process.env }), 'useradd node');
}

/** The base's name; assembled and imported first when no image of that name exists. */
export function ensureBase(log: (line: string) => void = () => {}): string {
  const x = inputs();
  const key = createHash('sha256').update(JSON.stringify({ RECIPE, ...x })).digest('hex').slice(0, 12);
  const name = `localhost/lyftr-node-base:${x.nodeVersion}-${SUITE}-${key}`;
  if (podman(['image', 'exists', name]).status === 0) {
    log(`reused ${name}`);
    return name;
  }
  const started = Date.now();
  const work = mkdtempSync(join('/var/tmp', 'lyftr-base-'));
  try {
    const rootfs = join(work, 'rootfs');
    assemble(rootfs, x);
    const changes = ['--change', `ENV ${PATH_ENV}`, '--change', 'CMD ["node"]'];
    const script = 'tar -C "$0" -c . | podman "$@"';
    must(run('bash', ['-o', 'pipefail', '-c', script, rootfs, ...PODMAN_GLOBAL, 'import', ...changes, '-', name]), 'podman import');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`assembled ${name} in ${((Date.now() - started) / 1000).toFixed(0)} s (Debian ${SUITE} from ${x.mirror}, Node ${x.nodeVersion}, npm ${x.npmVersion})`);
  return name;
}

if (import.meta.main) process.stdout.write(`${ensureBase((line) => process.stderr.write(`${line}\n`))}\n`);
