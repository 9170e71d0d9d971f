/**
 * `npm start`'s entry point (src/main.ts, a child process) in cluster mode opens PostgreSQL and
 * Redis before anything else; one that cannot be reached stops start-up with one line naming it
 * (never its URL, which may hold a password), before a SQLite database or the engine is touched.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runToExit } from '../helpers/run-to-exit.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-startup-cluster-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('start-up in cluster mode', () => {
  it('stops with one line naming PostgreSQL when it cannot be reached, before it opens a database or the engine', async () => {
    const { code, stdout, stderr } = await runToExit(['src/main.ts'], {
      env: {
        ...process.env,
        BOSUN_DB_PATH: join(dir, 'bosun.db'),
        REDIS_URL: 'redis://127.0.0.1:1',
        BOSUN_DB_URL: 'postgres://bosun:secret-password@127.0.0.1:1/bosun',
        HOST: '127.0.0.1',
        PORT: '0',
      },
    });
    expect(stderr).toMatch(/^bosun: cannot reach PostgreSQL \(BOSUN_DB_URL\): [^\n]*ECONNREFUSED[^\n]*\n$/);
    expect(stderr).not.toContain('secret-password');
    expect(stdout).not.toContain('secret-password');
    expect(code).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });
});
