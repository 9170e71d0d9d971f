/**
 * What an agent sees of its run's sandbox (the {@link AgentContext}): steps run in the sandbox
 * with their output recorded within the run's log budget (the head, a notice of what was
 * dropped, the tail), file and archive calls under the run's signal and logged, and the run's
 * workspace and context file.
 *
 * Split from the {@link RunExecutor}, which owns the run's lifecycle around it (the sandbox, the
 * deadline, the outcome, artifacts and removal) and hands each run's context to its agent.
 */
import type { AgentContext, StepOptions, StepOutcome } from './agent.js';
import type { LogStream, StepResult } from './agent-run.js';
import { errorMessage } from '../errors.js';
import { SANDBOX_WORKSPACE_DIR } from '../sandbox/container-config.js';
import { formatMemory } from '../sandbox/limits.js';
import type { ExecResult, OutputStream, Sandbox } from '../sandbox/sandbox.js';
import type { OutputBudget } from './output-budget.js';
import { OutputTail } from './output-tail.js';
import type { RunRecorder } from './run-recorder.js';

export const WORKSPACE_DIR = SANDBOX_WORKSPACE_DIR;
export const CONTEXT_FILE_PATH = `${WORKSPACE_DIR}/.bosun/context.md`;

/** One line of a step's output, as the log budget holds it. */
export interface OutputLine {
  readonly stream: LogStream;
  readonly step: number;
  readonly line: string;
}

/** One run being executed: what its steps need to reach. */
export interface Execution {
  readonly id: string;
  readonly signal: AbortSignal;
  readonly budget: OutputBudget<OutputLine>;
}

/** What the context needs of the executor. */
export interface AgentContextParts {
  readonly recorder: RunRecorder;
  /** How long a step's processes get after SIGTERM at its timeout or interrupt before they are killed. */
  readonly stopGraceMs: number;
}

/**
 * The context an agent runs with: each call reaches `sandbox` under the run's signal (and the
 * call's own), and is recorded for the run `execution.id`.
 */
export function createAgentContext(execution: Execution, sandbox: Sandbox, parts: AgentContextParts): AgentContext {
  const { id, signal } = execution;
  const { recorder } = parts;
  const run = recorder.require(id);
  /** The run's signal, and the call's own when it has one. */
  const callSignal = (own: AbortSignal | undefined): AbortSignal => (own ? AbortSignal.any([signal, own]) : signal);
  return {
    runId: id,
    config: run.config,
    limits: run.config.limits,
    signal,
    workspaceDir: WORKSPACE_DIR,
    contextFilePath: run.config.initialRepoContext === null ? null : CONTEXT_FILE_PATH,
    step: (command, options) => runStep(execution, sandbox, parts, command, options),
    writeFile: (path, content) => sandbox.writeFile(path, content),
    writeFiles: async (files, own) => {
      const written = await sandbox.writeFiles(files, callSignal(own));
      recorder.log(
        id,
        'SYSTEM',
        null,
        `wrote ${describePaths(
          files.map((file) => file.path),
          ['file', 'files'],
        )}`,
      );
      return written;
    },
    readFile: (path, options) => sandbox.readFile(path, { ...options, signal: callSignal(options.signal) }),
    listFiles: (path, own) => sandbox.listFiles(path, callSignal(own)),
    extractArchive: async (path, archive, options) => {
      const entries = await sandbox.extractArchive(path, archive, { ...options, signal: callSignal(options.signal) });
      recorder.log(
        id,
        'SYSTEM',
        null,
        `extracted an archive of ${archive.size} bytes into ${path}: ${describePaths(
          entries.map((entry) => entry.path),
          ['top-level entry', 'top-level entries'],
        )}`,
      );
      return entries;
    },
    readArchive: (path, own) => sandbox.readArchive(path, callSignal(own)),
    log: (message) => recorder.log(id, 'SYSTEM', null, message),
    announce: () => recorder.announce(id),
  };
}

async function runStep(
  execution: Execution,
  sandbox: Sandbox,
  parts: AgentContextParts,
  command: string,
  options: StepOptions = {},
): Promise<StepOutcome> {
  const { id, budget } = execution;
  const { recorder } = parts;
  const signal = options.signal ? AbortSignal.any([execution.signal, options.signal]) : execution.signal;
  signal.throwIfAborted();
  const index = recorder.require(id).steps.length + 1;
  const step: StepResult = { index, command, exitCode: null, startedAt: new Date(), finishedAt: null };
  recorder.patch(id, { steps: [...recorder.require(id).steps, step] });
  recorder.log(id, 'SYSTEM', index, `step ${index}: ${command}`);
  const record = (stream: LogStream, line: string) => {
    if (budget.admit({ stream, step: index, line }, Buffer.byteLength(line) + 1)) recorder.log(id, stream, index, line);
  };
  const capture =
    options.captureBytes === undefined ? undefined : { stdout: new OutputTail(options.captureBytes), stderr: new OutputTail(options.captureBytes) };
  const started = performance.now();
  let result: ExecResult;
  try {
    result = await sandbox.exec(command, {
      cwd: options.cwd ?? WORKSPACE_DIR,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.interrupt === undefined ? {} : { interrupt: options.interrupt }),
      timeoutGraceMs: parts.stopGraceMs,
      signal,
      onOutput: (stream, line) => record(stream === 'stdout' ? 'STDOUT' : 'STDERR', line),
      // Past the budget, only each chunk's last lines can reach the tail: the rest are counted by chunk.
      skipLines: {
        keepLast: () => (budget.tailOnly ? budget.tailLines : undefined),
        skipped: (_stream, lines, bytes) => budget.skip(lines, bytes),
      },
      ...(capture === undefined ? {} : { onData: (stream: OutputStream, chunk: Uint8Array) => capture[stream].push(chunk) }),
    });
  } finally {
    if (budget.holding) recordTail(recorder, id, index, budget);
  }
  const durationMs = Math.round(performance.now() - started);
  const { exitCode } = result;
  const timedOut = result.timedOut === true;
  const interrupted = result.interrupted === true;
  const finished: StepResult = { ...step, exitCode, finishedAt: new Date() };
  const steps = recorder.require(id).steps.map((s) => (s.index === index ? finished : s));
  recorder.patch(id, { steps, exitCode });
  recorder.log(
    id,
    'SYSTEM',
    index,
    timedOut
      ? `step ${index} timed out after ${options.timeoutMs} ms (exit ${exitCode})`
      : interrupted
        ? `step ${index} stopped: ${errorMessage(options.interrupt?.reason)} (exit ${exitCode})`
        : `step ${index} exited ${exitCode}`,
  );
  const output =
    capture === undefined
      ? undefined
      : { stdout: capture.stdout.text(), stderr: capture.stderr.text(), truncated: capture.stdout.truncated || capture.stderr.truncated };
  return { index, exitCode, timedOut, interrupted, durationMs, step: finished, ...(output === undefined ? {} : { output }) };
}

/** Says how much output went over the budget, then records the held tail of the step. */
function recordTail(recorder: RunRecorder, id: string, index: number, budget: OutputBudget<OutputLine>): void {
  const { droppedLines, droppedBytes, tail } = budget.drain();
  recorder.log(
    id,
    'SYSTEM',
    index,
    `output over the ${formatMemory(budget.limitBytes)} log budget (a line counts at least ${budget.lineCostBytes} bytes): ${droppedLines} line(s), ${droppedBytes} byte(s) not kept; the last ${tail.length} line(s) follow`,
  );
  for (const held of tail) recorder.log(id, held.stream, held.step, held.line);
}

/** Paths for a log line: the first few, and how many more. */
function describePaths(paths: readonly string[], noun: readonly [one: string, many: string]): string {
  const shown = paths.slice(0, 5).join(', ');
  const more = paths.length > 5 ? ` and ${paths.length - 5} more` : '';
  return `${paths.length} ${paths.length === 1 ? noun[0] : noun[1]}${paths.length === 0 ? '' : `: ${shown}${more}`}`;
}
