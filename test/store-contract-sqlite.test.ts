// The SQLite engine against the Store contract: once with its own tuning, once with every text query
// sent through the search index while indexing runs as soon as the writer is free, between the writes
// (indexing deferred or half done must never show through the contract).
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createSqliteStore, type SqliteStoreOptions } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/store.ts';
import { tempDir } from './helpers.ts';
import { runStoreContract, type StoreHarness } from './store-contract.ts';

// The fsync each commit waits for (synchronous FULL) is nothing the contract can see, and it made the
// random run several times slower: both runs use NORMAL, which commits as surely short of power loss.
function sqliteHarness(name: string, tuning: Omit<SqliteStoreOptions, 'path' | 'clock' | 'synchronous'>): StoreHarness {
  return {
    name,
    async open(t, { clock }) {
      const stores: Store[] = [];
      // t.after runs hooks in the order registered: the stores close before tempDir removes the folder.
      t.after(() => Promise.all(stores.map((s) => s.close())));
      const path = join(tempDir(t), 'db.sqlite');
      const opened = async (): Promise<Store> => {
        const store = createSqliteStore({ path, clock, synchronous: 'NORMAL', ...tuning });
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
// Every text query through the index, and its other ways to a page at their smallest thresholds: sorted
// from the hits only up to 3 matches, a walk started near its offset beyond 1 row. Each query then costs
// a few ms (these ways are built for 1M rows): a shorter random run.
const throughIndex = { walkLimit: 0, searchIndexDelayMs: 0, deepWalk: 1, sortLimit: 3 };
runStoreContract(sqliteHarness('sqlite, searches through the index', throughIndex), { pending, randomOps: 1_000 });
