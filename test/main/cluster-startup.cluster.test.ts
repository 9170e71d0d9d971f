/**
 * `npm start`'s entry point (src/main.ts, a child process) in cluster mode with PostgreSQL up and
 * Redis down: start-up stops with one line naming Redis, after the database answered.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestServer } from '../helpers/cluster-servers.js';
import { runToExit } from '../helpers/run-to-exit.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-startup-cluster-redis-'));
let postgres: TestServer;

beforeAll(async () => {
  postgres = await startPostgres();
}, 60_000);

afterAll(async () => {
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('start-up in cluster mode', () => {
  it('stops with one line naming Redis when it cannot be reached, and touches no SQLite database', async () => {
    const { code, stdout, stderr } = await runToExit(['src/main.ts'], {
      env: {
        ...process.env,
        BOSUN_DB_PATH: join(dir, 'bosun.db'),
        REDIS_URL: 'redis://:secret-password@127.0.0.1:1',
        BOSUN_DB_URL: postgres.url,
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'silent',
      },
      timeoutMs: 30_000,
    });
    expect(stderr).toMatch(/^bosun: cannot reach Redis \(REDIS_URL\): [^\n]*\n$/);
    expect(stderr).not.toContain('secret-password');
    expect(stdout).not.toContain('secret-password');
    expect(code).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });
});
