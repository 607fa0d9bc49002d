// The PostgreSQL engine against the Store contract, each test on a fresh database of the test process's
// throwaway cluster (test/postgres-cluster.ts). Without PostgreSQL the suite is skipped with one line
// saying why (in CI, CI=true, it fails instead).
import { describe } from 'node:test';
import postgres from 'postgres';
import { createPostgresStore } from '../../src/store/postgres/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { cluster, skipWithoutPostgres } from '../postgres-cluster.ts';
import { runStoreContract, type StoreHarness } from './contract.ts';

const harness: StoreHarness = {
  name: 'postgres',
  async open(t, { clock }) {
    const stores: Store[] = [];
    t.after(() => Promise.all(stores.map((s) => s.close().catch(() => {}))));
    const url = await cluster().database('contract');
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
};

describe('PostgreSQL', { skip: skipWithoutPostgres() }, () => runStoreContract(harness));
