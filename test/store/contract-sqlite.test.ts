// The SQLite engine against the Store contract, on a real file in a temp folder.
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createSqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { tempDir } from '../helpers.ts';
import { runStoreContract, type StoreHarness } from './contract.ts';

const harness = (name: string, thresholds?: SqliteStoreOptions['thresholds']): StoreHarness => ({
  name,
  async open(t, { clock }) {
    const stores: Store[] = [];
    // t.after runs hooks in the order registered: the stores close before tempDir removes the folder.
    t.after(() => Promise.all(stores.map((s) => s.close())));
    const path = join(tempDir(t), 'db.sqlite');
    const opened = async (): Promise<Store> => {
      const store = createSqliteStore({ path, clock, ...(thresholds && { thresholds }) });
      stores.push(store);
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
});

runStoreContract(harness('sqlite'));
// Thresholds low enough that a few hundred rows take every branch of the query planner (list.ts) and
// the search index's steps (writer.ts).
runStoreContract(harness('sqlite, low thresholds', { indexCountLimit: 1, sortCost: 1, indexStep: 8 }));
