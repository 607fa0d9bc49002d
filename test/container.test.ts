// No Docker engine runs where this project is built, so the Dockerfile and the compose files are checked
// here by reading them: a purpose-built line parser for each (not a general YAML parser; it reads the
// subset these files use) and assertions on what the README promises operators.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { serviceFlags } from '../scripts/service-command.ts';
import { loadConfig } from '../src/config.ts';

const ROOT = join(import.meta.dirname, '..');
const read = (name: string): string => readFileSync(join(ROOT, name), 'utf8');

type Instruction = { op: string; args: string };
type Stage = { from: string; name: string; instructions: Instruction[] };

/** Dockerfile -> ARG defaults before the first FROM, and stages of instructions (continuations joined). */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [op = '', ...rest] = line.split(/\s+/);
    const instruction = { op: op.toUpperCase(), args: rest.join(' ') };
    if (instruction.op === 'FROM') {
      const [from = '', , name = ''] = rest;
      stages.push({ from, name, instructions: [] });
    } else if (stages.length === 0 && instruction.op === 'ARG') {
      const [k = '', v = ''] = instruction.args.split('=');
      args[k] = v;
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

type Yaml = string | boolean | null | Yaml[] | { [key: string]: Yaml };

/** The YAML these files use: block maps and lists, `- key: value` items, quoted, plain and JSON-flow scalars. */
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }));
  const KEY = /^("[^"]*"|[A-Za-z0-9_.\-/]+):(?:\s+(.*))?$/;

  const scalar = (v: string): Yaml => {
    if (v.startsWith('"') || v.startsWith('[') || v.startsWith('{')) return JSON.parse(v) as Yaml;
    if (v.startsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
    if (v === 'true' || v === 'false') return v === 'true';
    return v;
  };

  const block = (i: number, indent: number): [Yaml, number] => {
    const first = lines[i];
    if (!first || first.indent < indent) return [null, i];
    if (first.text === '-' || first.text.startsWith('- ')) {
      const list: Yaml[] = [];
      while (lines[i]?.indent === indent && lines[i]?.text.startsWith('-')) {
        const rest = (lines[i]?.text ?? '').slice(1).trim();
        if (KEY.test(rest)) {
          // `- key: value` opens a map whose keys sit two columns further in.
          lines[i] = { indent: indent + 2, text: rest };
          const [map, next] = block(i, indent + 2);
          list.push(map);
          i = next;
        } else {
          list.push(scalar(rest));
          i += 1;
        }
      }
      return [list, i];
    }
    const map: { [key: string]: Yaml } = {};
    while (lines[i]?.indent === indent) {
      const m = KEY.exec(lines[i]?.text ?? '');
      if (!m) throw new Error(`cannot parse line: ${lines[i]?.text}`);
      const key = (m[1] ?? '').replace(/^"|"$/g, '');
      if (m[2] !== undefined) {
        map[key] = scalar(m[2]);
        i += 1;
      } else {
        const nextIndent = lines[i + 1]?.indent ?? 0;
        const [value, next] = nextIndent > indent ? block(i + 1, nextIndent) : [null, i + 1];
        map[key] = value;
        i = next;
      }
    }
    return [map, i];
  };
  return block(0, 0)[0];
}

function at(node: Yaml | undefined, ...path: string[]): Yaml | undefined {
  let cur = node;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

const list = (node: Yaml | undefined): Yaml[] => (Array.isArray(node) ? node : []);

describe('the purpose-built parsers', () => {
  test('YAML: nested maps, scalar and map list items, quoted and flow values', () => {
    const yaml = 'a:\n  b: "x: y"\n  c:\n    - one\n    - k: v\n      n: true\n  d: ["p", "q"]\n# note\ne: \'it\'\'s\'\n';
    assert.deepEqual(parseYaml(yaml), { a: { b: 'x: y', c: ['one', { k: 'v', n: true }], d: ['p', 'q'] }, e: "it's" });
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

describe('Dockerfile', () => {
  const { args, stages } = parseDockerfile(read('Dockerfile'));
  const runtime = stages.at(-1) ?? { from: '', name: '', instructions: [] };
  const ops = (op: string): string[] => runtime.instructions.filter((i) => i.op === op).map((i) => i.args);
  const image = (from: string): string => from.replace(/^\$\{(\w+)\}$/, (_, name: string) => args[name] ?? '');

  test('is multi-stage on the official Node 24 image', () => {
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    for (const stage of stages) assert.match(image(stage.from), /^node:24(-alpine|-slim|-bookworm-slim)?$/);
  });

  test('the runtime stage holds only production files: package.json and dist/, copied from the build', () => {
    const copies = ops('COPY');
    assert.ok(copies.length > 0);
    for (const c of copies) assert.match(c, /^--from=build (--chown=\S+ )?\/app\/(package\.json|dist) /, c);
    assert.ok(!ops('RUN').some((r) => /\bnpm (ci|install)\b/.test(r)), 'no npm install in the runtime stage');
  });

  test('runs as a non-root user, with a /data volume and port 8000', () => {
    const user = ops('USER').at(-1) ?? '';
    assert.ok(user !== '' && !/^(root|0)(:|$)/.test(user), `USER ${user}`);
    assert.ok(ops('VOLUME').some((v) => v.includes('/data')));
    assert.deepEqual(ops('EXPOSE'), ['8000']);
    assert.ok(ops('RUN').some((r) => /chown node:node \/data/.test(r)), 'the volume is writable by that user');
  });

  test('HEALTHCHECK runs Node itself against /health/ready; PID 1 is tini; sqlite3 is installed', () => {
    const [health = ''] = ops('HEALTHCHECK');
    assert.match(health, /CMD \["node", "-e", ".*\/health\/ready.*"\]$/);
    assert.deepEqual(JSON.parse(ops('ENTRYPOINT')[0] ?? '[]'), ['/sbin/tini', '--']);
    assert.deepEqual(JSON.parse(ops('CMD')[0] ?? '[]'), ['node', ...serviceFlags(), 'dist/main.js']);
    assert.ok(ops('RUN').some((r) => /apk add .*\btini\b/.test(r) && /\bsqlite\b/.test(r)));
  });

  test('npm start and the image start the service with the V8 flags of make run', () => {
    const flags = serviceFlags();
    assert.ok(flags.includes('--max-semi-space-size=4'), `NODE_FLAGS: ${flags.join(' ')}`);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.start, ['node', ...flags, 'dist/main.js'].join(' '));
    // npm runs prestart first: the build, so a fresh checkout starts with `npm ci && npm start`.
    assert.equal(pkg.scripts.prestart, 'npm run build');
    assert.equal(pkg.scripts.build, 'tsc -p tsconfig.build.json');
    // npm test as well: a test starts the build.
    assert.match(pkg.scripts.test ?? '', /npm run build && c8 /);
  });

  test('.dockerignore keeps dependencies, data, secrets and git history out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'data', 'secrets', '.env', '.git', 'test', '*.db']) assert.ok(ignored.includes(entry), entry);
  });
});

describe('docker-compose.yml', () => {
  const compose = parseYaml(read('docker-compose.yml'));
  const api = at(compose, 'services', 'api');
  const env = (name: string): Yaml | undefined => at(api, 'environment', name);

  test('service api on port 8000 with its data in a named volume', () => {
    assert.deepEqual(at(api, 'build'), '.');
    assert.deepEqual(list(at(api, 'ports')), ['8000:8000']);
    assert.deepEqual(list(at(api, 'volumes')), ['app-data:/data']);
    assert.ok(at(compose, 'volumes') !== undefined && 'app-data' in (at(compose, 'volumes') as object));
    assert.equal(env('DATABASE_URL'), 'sqlite:////data/app.db');
  });

  test('WEBHOOK_SECRET is required: compose stops with a message when it is unset or empty', () => {
    assert.match(String(env('WEBHOOK_SECRET')), /^\$\{WEBHOOK_SECRET:\?.+\}$/);
  });

  test('hardened: read-only root with /data writable, no-new-privileges, no capabilities', () => {
    assert.equal(at(api, 'read_only'), true);
    assert.ok(list(at(api, 'tmpfs')).includes('/tmp'));
    assert.ok(list(at(api, 'security_opt')).includes('no-new-privileges:true'));
    assert.deepEqual(list(at(api, 'cap_drop')), ['ALL']);
  });

  test('healthcheck asks /health/ready with Node; restarts unless stopped; room to drain on stop', () => {
    const probe = list(at(api, 'healthcheck', 'test'));
    assert.deepEqual(probe.slice(0, 3), ['CMD', 'node', '-e']);
    assert.match(String(probe[3]), /fetch\('http:\/\/127\.0\.0\.1:8000\/health\/ready'\)/);
    assert.equal(at(api, 'restart'), 'unless-stopped');
    assert.ok(Number.parseInt(String(at(api, 'stop_grace_period')), 10) > 10, 'longer than the service drain (10 s)');
  });

  test('Prometheus is optional (profile monitoring) and scrapes api:8000 with the alert rules', () => {
    const prom = at(compose, 'services', 'prometheus');
    assert.deepEqual(list(at(prom, 'profiles')), ['monitoring']);
    assert.ok(list(at(prom, 'volumes')).includes('./ops/prometheus:/etc/prometheus:ro'));
    const config = parseYaml(read('ops/prometheus/prometheus.yml'));
    assert.deepEqual(list(at(config, 'rule_files')), ['alerts.yml']);
    const [job] = list(at(config, 'scrape_configs'));
    assert.equal(at(job, 'job_name'), 'lyftr-webhook-api', 'the job the alert rules select');
    const [target] = list(at(job, 'static_configs'));
    assert.deepEqual(at(target, 'targets'), ['api:8000']);
    // METRICS_TOKEN: the bearer token comes from a file next to the config, which git never holds.
    assert.deepEqual(at(job, 'authorization'), { type: 'Bearer', credentials_file: 'metrics_token' });
    assert.match(read('.gitignore'), /^ops\/prometheus\/metrics_token$/m);
  });
});

describe('docker-compose.secret-file.yml (optional Docker secret)', () => {
  const override = parseYaml(read('docker-compose.secret-file.yml'));
  const api = at(override, 'services', 'api');

  test('mounts the secret file and points WEBHOOK_SECRET_FILE at it', () => {
    assert.deepEqual(list(at(api, 'secrets')), ['webhook_secret']);
    assert.equal(at(api, 'environment', 'WEBHOOK_SECRET_FILE'), '/run/secrets/webhook_secret');
    assert.match(String(at(override, 'secrets', 'webhook_secret', 'file')), /secrets\/webhook_secret/);
  });

  test('merged over docker-compose.yml, the environment starts the service with the secret from the file', () => {
    const base = at(parseYaml(read('docker-compose.yml')), 'services', 'api', 'environment') as Record<string, string>;
    const overrides = at(api, 'environment') as Record<string, string>;
    // Compose merges environment maps key by key, the later file winning; the base's own values stand in.
    const merged = { ...base, ...overrides, LOG_LEVEL: 'INFO', MAX_BODY_BYTES: '1048576', WEBHOOK_SECRET_PREVIOUS: '' };
    const loaded = loadConfig(merged, (path) => (path === '/run/secrets/webhook_secret' ? 's3cret\n' : ''));
    assert.ok(loaded.ok, JSON.stringify(loaded));
    assert.deepEqual(loaded.config.secrets, ['s3cret']);
  });
});
