/** The RunStore contract (test/store/contract/run-store-contract.ts) against SqliteRunStore on an in-memory database. */
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { describeRunStoreContract } from './contract/run-store-contract.js';

describeRunStoreContract('SqliteRunStore', ({ logLinesPerRun }) => {
  const db = openDatabase(':memory:');
  return Promise.resolve({
    store: new SqliteRunStore(db, { logLinesPerRun }),
    reopen: () => new SqliteRunStore(db, { logLinesPerRun }),
    storedLogCount: (runId: string) => Promise.resolve((db.prepare('SELECT count(*) AS n FROM logs WHERE run_id = ?').get(runId) as { n: number }).n),
  });
});
