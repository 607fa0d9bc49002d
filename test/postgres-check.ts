// `make test-postgres` asks first: exit 0 when the PostgreSQL server binaries are here. Otherwise one line
// saying why, and exit 1 in CI (CI=true: the PostgreSQL suites are mandatory), else 3: skip them.
import { postgresMissing } from './postgres-cluster.ts';

const missing = postgresMissing();
if (missing !== null) {
  const ci = process.env.CI === 'true';
  process.stdout.write(`PostgreSQL tests ${ci ? 'cannot run (mandatory in CI)' : 'did not run'}: ${missing}\n`);
  process.exit(ci ? 1 : 3);
}
