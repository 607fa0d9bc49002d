import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig, type Config, type ConfigResult } from '../../src/config.ts';
import { redactUrl } from '../../src/database-url.ts';

type Env = Record<string, string | undefined>;

/** A readFile that must never be called: the env under test names no secret file. */
const noFile = (path: string): string => {
  throw new Error(`unexpected read of ${path}`);
};

/** A readFile backed by an in-memory table; a missing path fails like fs does (ENOENT). */
function files(table: Record<string, string>): (path: string) => string {
  return (path) => {
    const content = table[path];
    if (content === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return content;
  };
}

function ok(result: ConfigResult): { config: Readonly<Config>; warnings: string[] } {
  if (!result.ok) assert.fail(`expected a valid config, got errors: ${JSON.stringify(result.errors)}`);
  return { config: result.config, warnings: result.warnings };
}

function errors(result: ConfigResult): string[] {
  if (result.ok) assert.fail(`expected configuration errors, got ${JSON.stringify(result.config)}`);
  return result.errors;
}

function load(env: Env, readFile: (path: string) => string = noFile): ConfigResult {
  return loadConfig(env, readFile);
}

describe('loadConfig defaults', () => {
  test('an empty environment gives the documented defaults and no secret', () => {
    const { config, warnings } = ok(load({}));
    assert.deepEqual(config, {
      secrets: [],
      database: { kind: 'sqlite', path: '/data/app.db' },
      logLevel: 'INFO',
      port: 8000,
      host: '0.0.0.0',
      maxBodyBytes: 1_048_576,
      retentionDays: null,
      standardKeys: [],
      toleranceSeconds: 300,
      readTokens: [],
      metricsTokens: [],
      adminTokens: [],
      whatsapp: { appSecrets: [], verifyToken: null },
    });
    assert.deepEqual(warnings, []);
  });

  test('blank PORT, HOST and MAX_BODY_BYTES fall back to the defaults', () => {
    const { config } = ok(load({ PORT: '', HOST: '  ', MAX_BODY_BYTES: ' ' }));
    assert.equal(config.port, 8000);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.maxBodyBytes, 1_048_576);
  });

  test('every setting is read from the environment', () => {
    const { config, warnings } = ok(
      load({
        WEBHOOK_SECRET: 's3cret-of-16-bytes',
        DATABASE_URL: 'sqlite:////var/lib/app.db',
        LOG_LEVEL: 'debug',
        PORT: '9000',
        HOST: ' 127.0.0.1 ',
        MAX_BODY_BYTES: '2048',
        RETENTION_DAYS: ' 30 ',
      }),
    );
    assert.deepEqual(config, {
      secrets: ['s3cret-of-16-bytes'],
      database: { kind: 'sqlite', path: '/var/lib/app.db' },
      logLevel: 'DEBUG',
      port: 9000,
      host: '127.0.0.1',
      maxBodyBytes: 2048,
      retentionDays: 30,
      standardKeys: [],
      toleranceSeconds: 300,
      readTokens: [],
      metricsTokens: [],
      adminTokens: [],
      whatsapp: { appSecrets: [], verifyToken: null },
    });
    assert.deepEqual(warnings, []);
  });

  test('an empty WEBHOOK_SECRET counts as no secret, not an error (the service starts, ready is 503)', () => {
    const { config } = ok(load({ WEBHOOK_SECRET: '' }));
    assert.deepEqual(config.secrets, []);
  });
});

describe('RETENTION_DAYS', () => {
  for (const bad of ['0', '-1', '1.5', '7d', '1000001']) {
    test(`${JSON.stringify(bad)} is refused, naming the variable`, () => {
      const result = load({ RETENTION_DAYS: bad });
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : result.errors.join(), /RETENTION_DAYS must be a whole number of days/);
    });
  }
  test('blank means keep for ever', () => assert.equal(ok(load({ RETENTION_DAYS: ' ' })).config.retentionDays, null));
});

const DATABASE_URL_ERROR =
  'DATABASE_URL must look like sqlite:///relative/path, sqlite:////absolute/path or postgres://user:password@host:port/database';

describe('DATABASE_URL', () => {
  const accepted: [string, string][] = [
    ['sqlite:///data/app.db', 'data/app.db'],
    ['sqlite:///./app.db', './app.db'],
    ['sqlite:////data/app.db', '/data/app.db'],
    ['sqlite:////tmp/x/y.sqlite', '/tmp/x/y.sqlite'],
    ['sqlite:///:memory:', ':memory:'],
  ];
  for (const [url, path] of accepted) {
    test(`${url} -> ${path}`, () => {
      assert.deepEqual(ok(load({ DATABASE_URL: url })).config.database, { kind: 'sqlite', path });
    });
  }

  const postgresUrls = [
    'postgres://user@host/db',
    'postgresql://user:p%40ss@db.internal:6432/lyftr?sslmode=require',
    'postgres://127.0.0.1/db',
    'postgres://[::1]:5432/db',
    'postgres:///db?host=/run/postgresql',
  ];
  for (const url of postgresUrls) {
    test(`${url} selects PostgreSQL, the URL kept as given`, () => {
      assert.deepEqual(ok(load({ DATABASE_URL: url })).config.database, { kind: 'postgres', url });
    });
  }

  const rejected = [
    'postgres://',
    'postgres:///db',
    'postgres://host:99999/db',
    'postgres://host/db ',
    'postgresql://user:secret@ho st/db',
    'mysql://host/db',
    'mysql://user:secret@host/db',
    'postgres://user:sec/ret@host/db',
    'sqlite://relative.db',
    'sqlite:/abs.db',
    'SQLITE:///app.db',
    'file:///data/app.db',
    '/data/app.db',
    'sqlite:///',
    'sqlite:////',
    'sqlite:///app.db?mode=ro',
    '',
    'sqlite:////tmp/app.db ',
    ' sqlite:///app.db',
    'sqlite:///app.db\n',
  ];
  for (const url of rejected) {
    test(`${JSON.stringify(url)} is rejected with a message naming the variable and the value`, () => {
      assert.deepEqual(errors(load({ DATABASE_URL: url })), [`${DATABASE_URL_ERROR}, got ${JSON.stringify(url.replace(/:sec\/?ret@/, ':***@'))}`]);
    });
  }
});

describe('the database URL in logs', () => {
  const cases: [string, string][] = [
    ['postgres://app:secret@db:5432/lyftr', 'postgres://app:***@db:5432/lyftr'],
    // An `@` in the password: the user part runs to the last `@` before the host.
    ['postgres://app:p@ss@w0rd@db:5432/lyftr', 'postgres://app:***@db:5432/lyftr'],
    ['postgresql://us@er:secret@db/lyftr?sslmode=require', 'postgresql://us@er:***@db/lyftr?sslmode=require'],
    ['postgres://app@db:5432/lyftr', 'postgres://app@db:5432/lyftr'],
    // Characters a password often holds (base64 has `/`) that the operator did not percent-encode.
    ['postgres://app:s3cr/et@db:5432/lyftr', 'postgres://app:***@db:5432/lyftr'],
    ['postgres://app:s3cr#e?t@db/lyftr', 'postgres://app:***@db/lyftr'],
    // A scheme the service refuses is quoted back in the error, its password hidden too.
    ['mysql://app:secret@db/lyftr', 'mysql://app:***@db/lyftr'],
    ['postgres://app@db/lyftr?sslmode=require&password=secret', 'postgres://app@db/lyftr?sslmode=require&password=***'],
  ];
  for (const [url, logged] of cases) {
    test(`${url} is logged as ${logged}`, () => {
      assert.equal(redactUrl(url), logged);
      assert.ok(!/secret|ss@w0rd|s3cr/.test(redactUrl(url)));
    });
  }
});

describe('LOG_LEVEL', () => {
  const levels: [string, string][] = [
    ['DEBUG', 'DEBUG'],
    ['INFO', 'INFO'],
    ['WARNING', 'WARNING'],
    ['WARN', 'WARNING'],
    ['warn', 'WARNING'],
    ['Error', 'ERROR'],
    [' info ', 'INFO'],
  ];
  for (const [raw, level] of levels) {
    test(`${JSON.stringify(raw)} -> ${level}`, () => {
      assert.equal(ok(load({ LOG_LEVEL: raw })).config.logLevel, level);
    });
  }

  for (const raw of ['TRACE', 'CRITICAL', 'WARNINGS', 'INF', '10']) {
    test(`${JSON.stringify(raw)} is rejected`, () => {
      assert.deepEqual(errors(load({ LOG_LEVEL: raw })), [
        `LOG_LEVEL must be one of DEBUG, INFO, WARNING (or WARN), ERROR, got ${JSON.stringify(raw)}`,
      ]);
    });
  }
});

describe('PORT and MAX_BODY_BYTES bounds', () => {
  const ports: [string, number | null][] = [
    ['0', 0],
    ['1', 1],
    ['65535', 65535],
    [' 8080 ', 8080],
    ['65536', null],
    ['-1', null],
    ['80.5', null],
    ['1e3', null],
    ['+80', null],
    ['0x50', null],
    ['eighty', null],
  ];
  for (const [raw, port] of ports) {
    test(`PORT=${JSON.stringify(raw)} -> ${port === null ? 'error' : port}`, () => {
      const result = load({ PORT: raw });
      if (port === null) {
        assert.deepEqual(errors(result), [`PORT must be an integer from 0 to 65535, got ${JSON.stringify(raw)}`]);
      } else {
        assert.equal(ok(result).config.port, port);
      }
    });
  }

  const sizes: [string, number | null][] = [
    ['1', 1],
    ['1073741824', 1_073_741_824],
    ['0', null],
    ['1073741825', null],
    ['-5', null],
    ['1.5', null],
    ['1MB', null],
  ];
  for (const [raw, size] of sizes) {
    test(`MAX_BODY_BYTES=${JSON.stringify(raw)} -> ${size === null ? 'error' : size}`, () => {
      const result = load({ MAX_BODY_BYTES: raw });
      if (size === null) {
        assert.deepEqual(errors(result), [
          `MAX_BODY_BYTES must be an integer from 1 to 1073741824, got ${JSON.stringify(raw)}`,
        ]);
      } else {
        assert.equal(ok(result).config.maxBodyBytes, size);
      }
    });
  }
});

describe('WEBHOOK_SECRET_FILE', () => {
  test('the secret is read from the file and one trailing newline is trimmed', () => {
    const read: string[] = [];
    const readFile = (path: string): string => {
      read.push(path);
      return 'from-file\n';
    };
    const { config } = ok(load({ WEBHOOK_SECRET_FILE: '/run/secrets/webhook' }, readFile));
    assert.deepEqual(config.secrets, ['from-file']);
    assert.deepEqual(read, ['/run/secrets/webhook']);
  });

  test('a CRLF line ending is trimmed too', () => {
    const { config } = ok(load({ WEBHOOK_SECRET_FILE: '/s' }, files({ '/s': 'crlf-secret\r\n' })));
    assert.deepEqual(config.secrets, ['crlf-secret']);
  });

  test('a file without a trailing newline is used as-is, inner spaces kept', () => {
    const { config } = ok(load({ WEBHOOK_SECRET_FILE: '/s' }, files({ '/s': 'a b c' })));
    assert.deepEqual(config.secrets, ['a b c']);
  });

  test('only the newline is trimmed: spaces around the secret are part of the HMAC key', () => {
    const { config } = ok(load({ WEBHOOK_SECRET_FILE: '/s' }, files({ '/s': ' spaced key \t\n' })));
    assert.deepEqual(config.secrets, [' spaced key \t']);
  });

  test('an unreadable file is a configuration error naming the path and the cause', () => {
    assert.deepEqual(errors(load({ WEBHOOK_SECRET_FILE: '/missing' }, files({}))), [
      'WEBHOOK_SECRET_FILE: cannot read "/missing" (ENOENT)',
    ]);
  });

  test('a read failure without an error code is still reported, not thrown', () => {
    const readFile = (): string => {
      throw 'boom';
    };
    assert.deepEqual(errors(load({ WEBHOOK_SECRET_FILE: '/s' }, readFile)), [
      'WEBHOOK_SECRET_FILE: cannot read "/s" (unreadable)',
    ]);
  });

  test('WEBHOOK_SECRET and WEBHOOK_SECRET_FILE both set is an error, and the file is not read', () => {
    assert.deepEqual(errors(load({ WEBHOOK_SECRET: 'a', WEBHOOK_SECRET_FILE: '/s' }, noFile)), [
      'WEBHOOK_SECRET and WEBHOOK_SECRET_FILE are both set; set only one',
    ]);
  });

  test('a file holding only a newline (or blanks) is a configuration error naming the variable, never no secret', () => {
    for (const content of ['\n', '', '  \n', '\r\n']) {
      assert.deepEqual(errors(load({ WEBHOOK_SECRET_FILE: '/s' }, files({ '/s': content }))), [
        'WEBHOOK_SECRET_FILE is set but holds no secret; unset it or give the secret',
      ]);
    }
  });

  test('a secret of blanks is an error too; an empty variable counts as unset (compose passes ${NAME:-})', () => {
    assert.deepEqual(errors(load({ WEBHOOK_SECRET: ' ', WEBHOOK_SECRET_PREVIOUS: '\t' })), [
      'WEBHOOK_SECRET is set but holds no secret; unset it or give the secret',
      'WEBHOOK_SECRET_PREVIOUS is set but holds no secret; unset it or give the secret',
    ]);
    assert.deepEqual(ok(load({ WEBHOOK_SECRET: '', WEBHOOK_SECRET_FILE: '', WEBHOOK_SECRET_PREVIOUS: '' })).config.secrets, []);
  });

  test('a secret shorter than 16 bytes gets one warning naming its variable', () => {
    const short = (s: string): string => `${s} holds a value shorter than 16 bytes: use a long random one (openssl rand -hex 32)`;
    assert.deepEqual(ok(load({ WEBHOOK_SECRET: 'fifteen-bytes!!' })).warnings, [short('WEBHOOK_SECRET')]);
    assert.deepEqual(ok(load({ WEBHOOK_SECRET_FILE: '/s' }, files({ '/s': 'short\n' }))).warnings, [short('WEBHOOK_SECRET_FILE')]);
    assert.deepEqual(ok(load({ WEBHOOK_SECRET: 'sixteen-bytes-ok', WEBHOOK_SECRET_PREVIOUS: 'old' })).warnings, [short('WEBHOOK_SECRET_PREVIOUS')]);
    // Bytes, not characters: eight two-byte letters are enough.
    assert.deepEqual(ok(load({ WEBHOOK_SECRET: '\u00e9'.repeat(8) })).warnings, []);
  });
});

describe('WEBHOOK_SECRET_PREVIOUS', () => {
  test('rotation: the current secret first, then the previous one', () => {
    const { config, warnings } = ok(load({ WEBHOOK_SECRET: 'new-secret-value', WEBHOOK_SECRET_PREVIOUS: 'old-secret-value' }));
    assert.deepEqual(config.secrets, ['new-secret-value', 'old-secret-value']);
    assert.deepEqual(warnings, []);
  });

  test('rotation works with a secret read from a file', () => {
    const { config } = ok(
      load({ WEBHOOK_SECRET_FILE: '/s', WEBHOOK_SECRET_PREVIOUS: 'old' }, files({ '/s': 'new\n' })),
    );
    assert.deepEqual(config.secrets, ['new', 'old']);
  });

  test('a previous secret equal to the current one is listed once', () => {
    assert.deepEqual(ok(load({ WEBHOOK_SECRET: 'same', WEBHOOK_SECRET_PREVIOUS: 'same' })).config.secrets, ['same']);
  });

  test('without a current secret the previous one is ignored, with a warning', () => {
    const { config, warnings } = ok(load({ WEBHOOK_SECRET_PREVIOUS: 'old-secret-value' }));
    assert.deepEqual(config.secrets, []);
    assert.deepEqual(warnings, ['WEBHOOK_SECRET_PREVIOUS is set but no current secret is; webhooks stay disabled']);
  });
});

describe('error reporting and the result', () => {
  test('every problem is reported at once, in a stable order', () => {
    const result = load(
      {
        WEBHOOK_SECRET: 'a',
        WEBHOOK_SECRET_FILE: '/s',
        DATABASE_URL: 'mysql://db',
        LOG_LEVEL: 'LOUD',
        PORT: '99999',
        MAX_BODY_BYTES: '0',
      },
      noFile,
    );
    assert.deepEqual(errors(result), [
      'WEBHOOK_SECRET and WEBHOOK_SECRET_FILE are both set; set only one',
      `${DATABASE_URL_ERROR}, got "mysql://db"`,
      'LOG_LEVEL must be one of DEBUG, INFO, WARNING (or WARN), ERROR, got "LOUD"',
      'PORT must be an integer from 0 to 65535, got "99999"',
      'MAX_BODY_BYTES must be an integer from 1 to 1073741824, got "0"',
    ]);
  });

  test('the config and its secrets list are frozen', () => {
    const { config } = ok(load({ WEBHOOK_SECRET: 'a', WEBHOOK_SECRET_PREVIOUS: 'b' }));
    assert.equal(Object.isFrozen(config), true);
    assert.equal(Object.isFrozen(config.secrets), true);
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => {
      (config.secrets as string[]).push('c');
    }, TypeError);
    assert.deepEqual(config.secrets, ['a', 'b']);
    assert.equal(config.port, 8000);
  });

  test('the environment object is not modified', () => {
    const env: Env = { LOG_LEVEL: 'warn', PORT: ' 81 ' };
    ok(load(env));
    assert.deepEqual(env, { LOG_LEVEL: 'warn', PORT: ' 81 ' });
  });
});
