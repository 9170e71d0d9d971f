/**
 * Start-up refuses what would expose bosun without authentication, with one line and before it
 * touches anything: `npm start`'s entry point (src/main.ts) as a child process.
 */
import { describe, expect, it } from 'vitest';
import { runToExit, type ProcessOutcome } from '../helpers/run-to-exit.js';

function runMain(env: Record<string, string>): Promise<ProcessOutcome> {
  // A database path that must not be created: the refusal comes first.
  return runToExit(['src/main.ts'], { env: { ...process.env, BOSUN_DB_PATH: '/nonexistent/bosun-refused.db', LOG_LEVEL: 'info', ...env } });
}

describe('start-up refusal', () => {
  it('refuses HOST=0.0.0.0 without BOSUN_API_TOKEN with one line', async () => {
    const { code, stdout, stderr } = await runMain({ HOST: '0.0.0.0', BOSUN_API_TOKEN: '' });
    expect(code).toBe(1);
    expect(stderr).toBe('bosun: HOST="0.0.0.0": expected a loopback address unless BOSUN_API_TOKEN is set\n');
    expect(stdout).toBe('');
  });

  it('refuses a token that is too short without printing it', async () => {
    const { code, stderr } = await runMain({ HOST: '127.0.0.1', BOSUN_API_TOKEN: 'hunter2' });
    expect(code).toBe(1);
    expect(stderr).toBe('bosun: BOSUN_API_TOKEN="(hidden, 7 characters)": expected a token of 16 to 512 printable ASCII characters without spaces\n');
  });
});
