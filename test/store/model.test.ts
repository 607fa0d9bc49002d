// The in-memory model of the Store contract against the contract's own cases: proves the named cases
// agree with the model the random run trusts (and the model with them). No random run here: its
// reference is this model, which would only be compared with itself.
import { storeUnavailable } from '../../src/store/store.ts';
import { runStoreContract } from './contract.ts';
import { createModelDatabase, createModelStore } from './model.ts';

runStoreContract({
  name: 'in-memory model',
  async open(t, { clock }) {
    const db = createModelDatabase();
    const stores = [createModelStore(clock, db)];
    const opened = (): ReturnType<typeof createModelStore> => {
      const store = createModelStore(clock, db);
      stores.push(store);
      return store;
    };
    t.after(() => Promise.all(stores.map((s) => s.close())));
    return {
      store: stores[0]!,
      another: async () => opened(),
      reopen: async () => opened(),
      async trouble() {
        db.trouble = true;
        return async () => {
          db.trouble = false;
        };
      },
    };
  },
}, { randomOps: 0 });
