/** The MonitorHistory contract (test/store/contract/history-contract.ts) against SqliteHistoryStore on an in-memory database. */
import { openDatabase } from '../../src/store/database.js';
import { SqliteHistoryStore } from '../../src/store/sqlite-history-store.js';
import { describeHistoryContract } from './contract/history-contract.js';

describeHistoryContract('SqliteHistoryStore', (options) => Promise.resolve(new SqliteHistoryStore(openDatabase(':memory:'), options)));
