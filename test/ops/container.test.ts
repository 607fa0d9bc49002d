// The Dockerfile, docker-compose.yml (and its override), the Makefile's `make run` and
// tools/service-command.ts each say how the service starts. This test fails when they disagree on its
// flags, port, user, data path or health probe. Building, running and attacking the real image is
// `make container-check` (tools/container-check.ts), which CI runs.
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { describe, test } from 'node:test';
import { at, list, parseDockerfile, parseYaml, readRepoFile, type Yaml } from '../../tools/container-files.ts';
import { serviceFlags } from '../../tools/service-command.ts';
import { balancerConfig } from '../replicas.ts';
import { DEFAULT_DATABASE_URL, DEFAULT_PORT, loadConfig } from '../../src/config.ts';
import { parseDatabaseUrl } from '../../src/database-url.ts';

const dockerfile = parseDockerfile(readRepoFile('Dockerfile'));
const runtime = dockerfile.stages.at(-1) ?? { from: '', name: '', instructions: [] };
const ops = (op: string): string[] => runtime.instructions.filter((i) => i.op === op).map((i) => i.args);
/** KEY=value pairs of the runtime stage's ENV lines. */
const imageEnv = Object.fromEntries(ops('ENV').flatMap((e) => [...e.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]])));
const compose = parseYaml(readRepoFile('docker-compose.yml'));
const services = (at(compose, 'services') ?? {}) as Record<string, Yaml>;
/** The services that run this image (the others are Prometheus, PostgreSQL, HAProxy). */
const ours = Object.entries(services).filter(([, s]) => at(s, 'build', 'context') === '.');
const api = services.api;
const makefile = readRepoFile('Makefile');
const containerPort = (mapping: Yaml): string => String(mapping).split(':').at(-1) ?? '';

/** HEALTHCHECK [--option=value ...] CMD [json] -> options and command. */
function imageHealthcheck(): { options: Record<string, string>; command: string[] } {
  const [line = ''] = ops('HEALTHCHECK');
  const cmd = line.indexOf('CMD ');
  const options = Object.fromEntries([...line.slice(0, cmd).matchAll(/--([\w-]+)=(\S+)/g)].map((m) => [m[1], m[2]]));
  const command: unknown = JSON.parse(line.slice(cmd + 4));
  assert.ok(Array.isArray(command) && command.every((w) => typeof w === 'string'), line);
  return { options, command };
}

describe('the purpose-built readers (tools/container-files.ts)', () => {
  test('YAML: nested maps, scalar and map list items, quoted and flow values, anchors merged', () => {
    const yaml =
      'x: &base\n  k: 1\n  m: old\na:\n  <<: *base\n  m: new\n  b: "x: y"\n  c:\n    - one\n    - k: v\n      n: true\n  d: ["p", "q"]\n# note\ne: \'it\'\'s\'\nf:\n  g:\n  h: null\n  i:\n  - p\n  - k: v\n  j: x\n';
    assert.deepEqual(parseYaml(yaml), {
      x: { k: '1', m: 'old' },
      a: { k: '1', m: 'new', b: 'x: y', c: ['one', { k: 'v', n: true }], d: ['p', 'q'] },
      e: "it's",
      f: { g: null, h: null, i: ['p', { k: 'v' }], j: 'x' },
    });
    assert.throws(() => parseYaml('a:\n  <<: *nowhere\n'), /no map anchor/);
  });

  test('Dockerfile: continuation lines joined, stages named', () => {
    const { args, stages } = parseDockerfile('ARG X=y\nFROM ${X} AS one\nRUN a \\\n  b\nFROM ${X} AS two\nUSER u\n');
    assert.deepEqual(args, { X: 'y' });
    assert.deepEqual(stages, [
      { from: '${X}', name: 'one', instructions: [{ op: 'RUN', args: 'a b' }] },
      { from: '${X}', name: 'two', instructions: [{ op: 'USER', args: 'u' }] },
    ]);
  });
});

describe('one service, described alike everywhere', () => {
  test('flags: the image, npm start and make run start node with NODE_FLAGS on dist/main.js; compose keeps the image\'s command', () => {
    const flags = serviceFlags();
    assert.ok(flags.includes('--max-semi-space-size=4'), `NODE_FLAGS: ${flags.join(' ')}`);
    const start = ['node', ...flags, 'dist/main.js'];
    assert.deepEqual(JSON.parse(ops('CMD')[0] ?? '[]'), start);
    const pkg = JSON.parse(readRepoFile('package.json')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.start, start.join(' '));
    assert.match(makefile, /^\tDATABASE_URL=\S+ exec node \$\(NODE_FLAGS\) dist\/main\.js$/m);
    for (const [name, s] of ours) assert.equal(at(s, 'command') ?? at(s, 'entrypoint'), undefined, name);
    // PID 1 forwards SIGTERM to node, so `docker stop` drains.
    assert.deepEqual(JSON.parse(ops('ENTRYPOINT')[0] ?? '[]'), ['/usr/bin/tini', '--']);
  });

  test('port: 8000 in the config default, the image, compose, the probes, make health and the load balancer', () => {
    const port = String(DEFAULT_PORT);
    assert.equal(imageEnv.PORT, port);
    assert.deepEqual(ops('EXPOSE'), [port]);
    assert.deepEqual(list(at(api, 'ports')).map(containerPort), [port]);
    // make up, make health and make send: one PORT on the host.
    assert.equal(list(at(api, 'ports'))[0], `\${API_BIND:-127.0.0.1}:\${PORT:-${port}}:${port}`);
    assert.match(makefile, new RegExp(`^PORT \\?= ${port}$`, 'm'));
    assert.match(JSON.stringify(imageHealthcheck().command), new RegExp(`\\|\\|${port}\\)`));
    assert.match(readRepoFile('ops/haproxy/haproxy.cfg'), new RegExp(`^\\s+server-template api-pg \\d+ api-pg:${port}$`, 'm'));
    assert.deepEqual(at(parseYaml(readRepoFile('ops/prometheus/prometheus.yml')), 'scrape_configs'), [
      {
        job_name: 'lyftr-webhook-api',
        metrics_path: '/metrics',
        authorization: { type: 'Bearer', credentials_file: 'metrics_token' },
        static_configs: [{ targets: [`api:${port}`] }],
        dns_sd_configs: [{ names: ['api-pg'], type: 'A', port: String(port), refresh_interval: '15s' }],
      },
    ]);
  });

  test('user: the image runs as `node`, which owns /data; no compose service overrides the user', () => {
    assert.deepEqual(ops('USER'), ['node']);
    assert.ok(ops('RUN').some((r) => /mkdir -p \/data && chown node:node \/data/.test(r)));
    for (const [name, s] of ours) assert.equal(at(s, 'user'), undefined, name);
  });

  test('data path: /data/app.db in the config default, the image and compose; make run keeps ./data/app.db', () => {
    const path = parseDatabaseUrl(DEFAULT_DATABASE_URL) ?? '';
    assert.equal(path, '/data/app.db');
    assert.equal(imageEnv.DATABASE_URL, DEFAULT_DATABASE_URL);
    assert.deepEqual(ops('VOLUME'), [JSON.stringify([posix.dirname(path)])]);
    assert.equal(at(api, 'environment', 'DATABASE_URL'), DEFAULT_DATABASE_URL);
    assert.deepEqual(list(at(api, 'volumes')), [`app-data:${posix.dirname(path)}`]);
    const local = /DATABASE_URL="\$\$\{DATABASE_URL:-(\S+)\}"/.exec(makefile)?.[1] ?? '';
    assert.equal(parseDatabaseUrl(local), path.slice(1), 'the same file, relative to the checkout');
  });

  test('health probe: the image\'s HEALTHCHECK only (compose inherits it); /health/ready everywhere', () => {
    const { options, command } = imageHealthcheck();
    assert.match(JSON.stringify(command), /^\["node","-e","fetch\('http:\/\/127\.0\.0\.1:.*\/health\/ready'\)/);
    assert.deepEqual(options, { interval: '10s', timeout: '3s', 'start-period': '10s', retries: '3' });
    for (const [name, s] of ours) assert.equal(at(s, 'healthcheck'), undefined, `${name}: a second probe would drift from the image's`);
    assert.match(makefile, /curl -sS http:\/\/localhost:\$\(PORT\)\/health\/ready/);
    assert.match(readRepoFile('ops/haproxy/haproxy.cfg'), /^\s+option httpchk GET \/health\/ready$/m);
  });

  test('Node: the image, .nvmrc and the pinned toolchain are the same Node 24', () => {
    const pkg = JSON.parse(readRepoFile('package.json')) as { devDependencies: Record<string, string> };
    const version = pkg.devDependencies.node ?? '';
    assert.match(version, /^24\.\d+\.\d+$/);
    assert.equal(readRepoFile('.nvmrc').trim(), version);
    assert.equal(dockerfile.args.NODE_IMAGE, `node:${version}-trixie-slim`);
    for (const stage of dockerfile.stages) assert.equal(stage.from, '${NODE_IMAGE}', stage.name);
  });
});

describe('Dockerfile', () => {
  test('the runtime stage holds package.json, dist/ and the production node_modules, with no npm', () => {
    const copies = ops('COPY');
    assert.deepEqual(copies, [
      '--from=build --chown=root:root /app/package.json ./package.json',
      '--from=deps --chown=root:root /app/node_modules ./node_modules',
      '--from=build --chown=root:root /app/dist ./dist',
    ]);
    const deps = dockerfile.stages.find((s) => s.name === 'deps')?.instructions.filter((i) => i.op === 'RUN') ?? [];
    assert.ok(deps.some((r) => /npm ci --omit=dev .*--ignore-scripts/.test(r.args)));
    assert.ok(!ops('RUN').some((r) => /\bnpm (ci|install)\b/.test(r)), 'no npm install in the runtime stage');
    assert.ok(ops('RUN').some((r) => /rm -rf \/usr\/local\/lib\/node_modules \/usr\/local\/bin\/npm /.test(r)));
    assert.ok(ops('RUN').some((r) => /apt-get install -y --no-install-recommends tini sqlite3/.test(r)));
  });

  test('.dockerignore keeps dependencies, data, secrets and git history out of the build context', () => {
    const ignored = readRepoFile('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'data', 'secrets', '.env', '.git', 'test', '*.db', 'dist']) assert.ok(ignored.includes(entry), entry);
  });
});

describe('docker-compose.yml', () => {
  test('every setting the service reads reaches each container of the image, unset when the operator leaves it unset', () => {
    // The names loadConfig asks the environment for, whatever the shape of src/config.ts.
    const read = new Set<string>();
    const env = new Proxy({}, { get: (_, key) => (typeof key === 'string' && read.add(key), undefined), has: (_, key) => (typeof key === 'string' && read.add(key), false) });
    loadConfig(env, () => '');
    // The listen address is the image's (8000 on every interface); on the host, PORT and API_BIND publish
    // it. The data's place is the service's own: the volume, or the profile's PostgreSQL.
    const ownedByCompose = ['PORT', 'HOST', 'DATABASE_URL'];
    const settings = [...read].filter((k) => !ownedByCompose.includes(k)).sort();
    assert.ok(settings.includes('READ_TOKENS_FILE') && settings.includes('METRICS_TOKEN'), settings.join(' '));
    for (const [name, s] of ours) {
      const environment = at(s, 'environment') as Record<string, Yaml>;
      // A key with no value: compose passes the operator's value, or leaves the variable unset.
      assert.deepEqual(settings.filter((k) => environment[k] !== null), [], `${name}: settings not passed through`);
      assert.ok(String(environment.DATABASE_URL).length > 0, name);
    }
  });

  test('interpolations have a non-empty default or none: podman-compose leaves `${NAME:-}` as literal text', () => {
    const text = readRepoFile('docker-compose.yml');
    assert.deepEqual(text.match(/\$\{[A-Z_]+:?-\}/g), null);
    assert.match(text, /POSTGRES_PASSWORD: \$\{POSTGRES_PASSWORD\}$/m);
  });

  test('the balancer logs no query string, and answers its own 503 as the tested one does', () => {
    const haproxy = readRepoFile('ops/haproxy/haproxy.cfg');
    // httplog's %r (or %HU, %HQ) would write a search, a sender to erase or the WhatsApp verify token.
    assert.doesNotMatch(haproxy, /option httplog|%\{\+Q\}r|%r\b|%HU|%HQ/);
    assert.match(haproxy, /^\s+log-format .*%HM %HP %HV/m);
    const error = /^\s*(http-error status 503 .*)$/m.exec(balancerConfig(1, []))?.[1] ?? 'none in the test config';
    assert.ok(haproxy.split('\n').some((l) => l.trim() === error), error);
  });

  test('ports publish on 127.0.0.1 unless API_BIND says otherwise; Prometheus on loopback only', () => {
    const published = Object.entries(services).flatMap(([name, s]) => list(at(s, 'ports')).map((p) => [name, String(p)]));
    assert.deepEqual(published, [
      ['api', '${API_BIND:-127.0.0.1}:${PORT:-8000}:8000'],
      ['prometheus', '127.0.0.1:9090:9090'],
      ['haproxy', '${API_BIND:-127.0.0.1}:8080:8080'],
    ]);
  });

  test('every container of the image: read-only root, /tmp tmpfs, no-new-privileges, no capabilities, limits, 15 s to drain', () => {
    assert.deepEqual(ours.map(([name]) => name).sort(), ['api', 'api-pg']);
    for (const [name, s] of ours) {
      assert.equal(at(s, 'read_only'), true, name);
      assert.ok(list(at(s, 'tmpfs')).includes('/tmp'), name);
      assert.deepEqual(list(at(s, 'security_opt')), ['no-new-privileges:true'], name);
      assert.deepEqual(list(at(s, 'cap_drop')), ['ALL'], name);
      assert.equal(at(s, 'restart'), 'unless-stopped', name);
      assert.ok(Number.parseInt(String(at(s, 'stop_grace_period')), 10) > 10, 'longer than the service drain (10 s)');
    }
    for (const [name, s] of Object.entries(services)) {
      assert.match(String(at(s, 'mem_limit')), /^\d+[mg]$/, `${name}: mem_limit`);
      assert.ok(Number(at(s, 'pids_limit')) > 0, `${name}: pids_limit`);
    }
  });

  test('the image\'s Node base: the NODE_IMAGE build argument, the Dockerfile\'s default unless the operator names another', () => {
    for (const [name, s] of ours) {
      assert.equal(at(s, 'build', 'context'), '.', name);
      assert.equal(at(s, 'build', 'args', 'NODE_IMAGE'), `\${NODE_IMAGE:-${dockerfile.args.NODE_IMAGE}}`, name);
    }
  });

  test('no anonymous volume: /data is the named volume for api and a tmpfs for the PostgreSQL replicas', () => {
    assert.deepEqual(ops('VOLUME'), ['["/data"]']);
    assert.deepEqual(list(at(api, 'volumes')), ['app-data:/data']);
    assert.ok(list(at(services['api-pg'], 'tmpfs')).includes('/data'));
  });

  test('profile scale: PostgreSQL 15+ with the operator\'s password (no default), two or more replicas on it, HAProxy in front', () => {
    const pg = services['api-pg'];
    assert.deepEqual(list(at(pg, 'profiles')), ['scale']);
    assert.ok(Number(at(pg, 'deploy', 'replicas')) >= 2);
    assert.equal(at(pg, 'environment', 'DATABASE_URL'), 'postgres://lyftr:${POSTGRES_PASSWORD}@postgres:5432/lyftr');
    assert.equal(at(services.postgres, 'environment', 'POSTGRES_PASSWORD'), '${POSTGRES_PASSWORD}');
    assert.equal(at(pg, 'depends_on', 'postgres', 'condition'), 'service_healthy');
    assert.ok(Number(/^postgres:(\d+)/.exec(String(at(services.postgres, 'image')))?.[1]) >= 15);
    assert.deepEqual(list(at(services.haproxy, 'volumes')), ['./ops/haproxy:/usr/local/etc/haproxy:ro']);
    assert.deepEqual(list(at(services.haproxy, 'profiles')), ['scale']);
  });

  test('Prometheus is optional (profile monitoring) and loads ops/prometheus', () => {
    const prom = services.prometheus;
    assert.deepEqual(list(at(prom, 'profiles')), ['monitoring']);
    assert.ok(list(at(prom, 'volumes')).includes('./ops/prometheus:/etc/prometheus:ro'));
    const config = parseYaml(readRepoFile('ops/prometheus/prometheus.yml'));
    assert.deepEqual(list(at(config, 'rule_files')), ['alerts.yml']);
    const [job] = list(at(config, 'scrape_configs'));
    assert.equal(at(job, 'job_name'), 'lyftr-webhook-api', 'the job the alert rules select');
    const [target] = list(at(job, 'static_configs'));
    assert.deepEqual(at(target, 'targets'), ['api:8000']);
    // METRICS_TOKEN: the bearer token comes from a file next to the config (make up writes it), which git never holds.
    assert.deepEqual(at(job, 'authorization'), { type: 'Bearer', credentials_file: 'metrics_token' });
    assert.match(readRepoFile('.gitignore'), /^ops\/prometheus\/metrics_token$/m);
  });
});

describe('docker-compose.secret-file.yml (secrets from files)', () => {
  const override = parseYaml(readRepoFile('docker-compose.secret-file.yml'));

  test('mounts the secrets folder read-only at /run/secrets in each container of the image, and nothing else', () => {
    for (const [name] of ours) {
      assert.deepEqual(at(override, 'services', name), { volumes: ['${SECRETS_DIR:-./secrets}:/run/secrets:ro'] }, name);
    }
    assert.deepEqual(Object.keys(at(override, 'services') as Record<string, Yaml>), ours.map(([name]) => name));
    for (const entry of ['secrets/']) assert.match(readRepoFile('.gitignore'), new RegExp(`^${entry}$`, 'm'));
  });

  test('a *_FILE setting pointing there starts the service with the secret from the file', () => {
    const loaded = loadConfig({ WEBHOOK_SECRET_FILE: '/run/secrets/webhook_secret' }, (path) => (path === '/run/secrets/webhook_secret' ? 's3cret\n' : ''));
    assert.ok(loaded.ok, JSON.stringify(loaded));
    assert.deepEqual(loaded.config.secrets, ['s3cret']);
  });
});
