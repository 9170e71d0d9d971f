/**
 * What an agent's steps record, with a fake sandbox, no engine: the log budget of a run's output
 * (its head, a notice of what was dropped, its tail), spent across the run's steps.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createAgentContext, type OutputLine } from '../../src/runs/agent-context.js';
import { createSilentLogger } from '../../src/logger.js';
import { OutputBudget } from '../../src/runs/output-budget.js';
import { RunRecorder } from '../../src/runs/run-recorder.js';
import type { RunServiceEvents } from '../../src/runs/run-service.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { FakeSandboxProvider } from '../helpers/fake-sandbox.js';
import { makeRun } from '../helpers/fixtures.js';

/** A recorded run, its sandbox and the context its agent would get, with this log budget. */
async function setup(logBytesPerRun: number) {
  const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100_000 });
  const recorder = new RunRecorder(store, new EventEmitter<RunServiceEvents>(), createSilentLogger());
  const provider = new FakeSandboxProvider();
  const run = makeRun({ id: 'run-1' });
  await recorder.insert(run);
  const sandbox = await provider.create({ runId: run.id, image: run.config.image, limits: run.config.limits });
  const execution = { id: run.id, signal: new AbortController().signal, budget: new OutputBudget<OutputLine>(logBytesPerRun) };
  const context = createAgentContext(execution, sandbox, { recorder, stopGraceMs: 1234 });
  return {
    provider,
    context,
    /** `STREAM:step:line` of each log line. */
    logs: async () => {
      await store.flush();
      return (await store.readLogs(run.id)).map((line) => `${line.stream}:${line.step ?? '-'}:${line.line}`);
    },
  };
}

describe('output budget', () => {
  it('records the head within the budget, a notice of what was dropped, and the last 100 lines', async () => {
    const s = await setup(1000);
    const lines = Array.from({ length: 300 }, (_, i) => `line ${String(i + 1).padStart(3, '0')}-${'x'.repeat(190)}`);
    s.provider.on('print', { stdout: lines });
    expect((await s.context.step('print')).exitCode).toBe(0);
    const stdout = (await s.logs()).filter((line) => line.startsWith('STDOUT:'));
    // Each line is 199 characters and a newline: 5 of them fit 1000 bytes.
    expect(stdout.slice(0, 5)).toEqual(lines.slice(0, 5).map((line) => `STDOUT:1:${line}`));
    expect(stdout.slice(5)).toEqual(lines.slice(-100).map((line) => `STDOUT:1:${line}`));
    expect(await s.logs()).toContain(
      'SYSTEM:1:output over the 1000b log budget (a line counts at least 64 bytes): 195 line(s), 39000 byte(s) not kept; the last 100 line(s) follow',
    );
  });

  it('counts lines too: a million empty lines keep the head/notice/tail form within the budget', async () => {
    const s = await setup(64 * 1024);
    s.provider.on('print', { stdout: Array.from({ length: 1_000_000 }, () => '') });
    s.provider.on('after', { stdout: ['the next step'] });
    expect((await s.context.step('print')).exitCode).toBe(0);
    expect((await s.context.step('after')).exitCode).toBe(0);
    const logs = await s.logs();
    const notice = logs.findIndex((line) => line.startsWith('SYSTEM:1:output over the 64k log budget'));
    // 64 KiB at 64 bytes a line: 1,024 lines, then the notice and the last 100.
    expect(logs.slice(0, notice).filter((line) => line === 'STDOUT:1:')).toHaveLength(1_024);
    expect(logs[notice]).toBe(
      'SYSTEM:1:output over the 64k log budget (a line counts at least 64 bytes): 998876 line(s), 998876 byte(s) not kept; the last 100 line(s) follow',
    );
    expect(logs.slice(notice + 1, notice + 101)).toEqual(Array.from({ length: 100 }, () => 'STDOUT:1:'));
    // The budget is spent for the run: the next step's lines are held to its tail too.
    expect(logs.slice(notice + 101)).toEqual([
      'SYSTEM:1:step 1 exited 0',
      'SYSTEM:2:step 2: after',
      'SYSTEM:2:output over the 64k log budget (a line counts at least 64 bytes): 0 line(s), 0 byte(s) not kept; the last 1 line(s) follow',
      'STDOUT:2:the next step',
      'SYSTEM:2:step 2 exited 0',
    ]);
    expect(logs.length).toBeLessThan(1_024 + 100 + 20);
  });
});
