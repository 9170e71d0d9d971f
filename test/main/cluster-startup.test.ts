/**
 * `npm start`'s entry point (src/main.ts, a child process) asked for cluster mode: until a node
 * runs on the cluster's stores and queue (issue #17), it refuses with one line rather than start on
 * the embedded ones and look like a node of a cluster it shares nothing with.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runToExit } from '../helpers/run-to-exit.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-startup-cluster-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('start-up in cluster mode', () => {
  it('refuses with one line, before it opens a database or the engine', async () => {
    const { code, stdout, stderr } = await runToExit(['src/main.ts'], {
      env: {
        ...process.env,
        BOSUN_DB_PATH: join(dir, 'bosun.db'),
        REDIS_URL: 'redis://127.0.0.1:1',
        BOSUN_DB_URL: 'postgres://bosun@127.0.0.1:1/bosun',
        HOST: '127.0.0.1',
        PORT: '0',
      },
    });
    expect(stderr).toBe(
      'bosun: REDIS_URL and BOSUN_DB_URL ask for cluster mode, which this version cannot run yet (its PostgreSQL store and BullMQ queue exist, the node does not use them); unset both to run on one host\n',
    );
    expect(stdout).toBe('');
    expect(code).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });
});
