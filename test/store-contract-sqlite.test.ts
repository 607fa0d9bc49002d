// The SQLite engine against the Store contract: once as configured for service, once with every text
// query sent through the search index while indexing runs at once, in step with the writes (deferred
// indexing must never show through the contract).
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createSqliteStore, type SqliteStoreOptions } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/store.ts';
import { tempDir } from './helpers.ts';
import { runStoreContract, type StoreHarness } from './store-contract.ts';

function sqliteHarness(name: string, tuning: Omit<SqliteStoreOptions, 'path' | 'clock'>): StoreHarness {
  return {
    name,
    async open(t, { clock }) {
      const stores: Store[] = [];
      // t.after runs hooks in the order registered: the stores close before tempDir removes the folder.
      t.after(() => Promise.all(stores.map((s) => s.close())));
      const path = join(tempDir(t), 'db.sqlite');
      const opened = async (): Promise<Store> => {
        const store = createSqliteStore({ path, clock, ...tuning });
        stores.push(store);
        await store.ready;
        return store;
      };
      const store = await opened();
      return {
        store,
        another: opened,
        reopen: opened,
        // Another connection holds the write lock, as another process or an operator's sqlite3 would.
        async trouble() {
          const locker = new DatabaseSync(path);
          locker.exec('BEGIN EXCLUSIVE');
          const end = async (): Promise<void> => {
            if (!locker.isOpen) return;
            locker.exec('ROLLBACK');
            locker.close();
          };
          t.after(end);
          return end;
        },
      };
    },
  };
}

const pending = { retention: 'retention lands with the new engine' };
runStoreContract(sqliteHarness('sqlite', {}), { pending });
runStoreContract(sqliteHarness('sqlite, searches through the index', { walkLimit: 0, searchIndexDelayMs: 0 }), { pending });
