/**
 * A ServerLogger that records entries instead of printing them (set BOSUN_TEST_LOGS=1 to print).
 */
import type { ServerLogger } from '../../src/server/server-logger.js';

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly msg: string | undefined;
}

export interface TestLogger extends ServerLogger {
  readonly entries: LogEntry[];
}

export function createTestLogger(bindings: Record<string, unknown> = {}, entries: LogEntry[] = []): TestLogger {
  const print = process.env['BOSUN_TEST_LOGS'] === '1';
  const write =
    (level: LogEntry['level']) =>
    (obj: object, msg?: string): void => {
      const entry = { level, fields: { ...bindings, ...obj }, msg };
      entries.push(entry);
      if (print) console.log(level, msg ?? '', entry.fields);
    };
  return {
    entries,
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => createTestLogger({ ...bindings, ...more }, entries),
  };
}
