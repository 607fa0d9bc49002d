// The PostgreSQL engine against the Store contract, each test on a fresh database of the test process's
// throwaway cluster (test/postgres-cluster.ts). Without PostgreSQL the suite is skipped with one line
// saying why (in CI, CI=true, it fails instead).
import { describe } from 'node:test';
import postgres from 'postgres';
import { createPostgresStore } from '../../src/store/postgres/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { cluster, skipWithoutPostgres } from '../postgres-cluster.ts';
import { runStoreContract, type StoreHarness } from './contract.ts';

/** A fresh database of the cluster (C.UTF-8), or one created with LC_COLLATE and LC_CTYPE C. */
async function database(locale: 'C.UTF-8' | 'C'): Promise<string> {
  if (locale === 'C.UTF-8') return cluster().database('contract');
  serial += 1;
  const name = `contract_c_${process.pid}_${serial}`;
  const root = cluster().admin();
  try {
    await root.unsafe(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
  } finally {
    await root.end();
  }
  return `postgres://postgres@127.0.0.1:${cluster().port}/${name}`;
}
let serial = 0;

const harness = (locale: 'C.UTF-8' | 'C'): StoreHarness => ({
  name: `postgres, LC_CTYPE ${locale}`,
  async open(t, { clock }) {
    const stores: Store[] = [];
    t.after(() => Promise.all(stores.map((s) => s.close().catch(() => {}))));
    const url = await database(locale);
    const opened = async (): Promise<Store> => {
      const store = createPostgresStore({ url, driver: postgres, clock });
      stores.push(store);
      await store.ready;
      return store;
    };
    return {
      store: await opened(),
      another: opened,
      reopen: opened,
      // The server stops, as in a restart or a failover: every call is refused until it is back. (This
      // file's cluster is its own; its other tests do not run meanwhile.)
      async trouble() {
        await cluster().stop();
        let ended = false;
        const end = async (): Promise<void> => {
          if (ended) return;
          ended = true;
          await cluster().start();
        };
        t.after(end);
        return end;
      },
    };
  },
});

describe('PostgreSQL', { skip: skipWithoutPostgres() }, () => {
  runStoreContract(harness('C.UTF-8'));
  // SPEC: the same answers whatever the database's locale.
  runStoreContract(harness('C'), { randomOps: 1_500 });
});
