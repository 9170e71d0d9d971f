/**
 * The built-in `external` agent: the sandbox of an agent that lives in its own process (an LLM
 * loop in Python, a framework's tool calls) and drives it command by command through the API.
 * Its run queues like any other. Its optional `config.steps` run first, as set-up (the first
 * that exits non-zero fails the run, as with the shell agent); then the run waits for calls
 * (`exec`, file calls) until one of:
 * - `finishAgent`: exit code 0 succeeds, anything else fails NON_ZERO_EXIT with its error;
 * - no call in flight or started for `config.idleTimeoutMs`: TIMED_OUT / IDLE_TIMEOUT;
 * - its deadline, a cancel or a shutdown, as for every run (the executor's signal);
 * - its sandbox failing under a call, or stopping of itself while the run waits (the executor
 *   watches it): SANDBOX_ERROR.
 * The session lives in {@link ExternalSessions} while the run runs, where the API finds it.
 */
import type { AgentRunConfig } from '../runs/agent-run.js';
import type { Agent, AgentConfigProblem, AgentContext, AgentResult } from '../runs/agent.js';
import { ExternalSession } from '../runs/external/external-session.js';
import type { ExternalSessions } from '../runs/external/external-sessions.js';
import { DEFAULT_IDLE_TIMEOUT_MS } from '../runs/start-input.js';

export const EXTERNAL_AGENT_NAME = 'external';

export interface ExternalAgentOptions {
  /** Where the run's session is registered while it runs. */
  readonly sessions: ExternalSessions;
}

export class ExternalAgent implements Agent {
  readonly name = EXTERNAL_AGENT_NAME;
  readonly waitsForCommands = true;

  constructor(private readonly options: ExternalAgentOptions) {}

  /** Every configuration is accepted: set-up steps are optional. */
  validate(_config: AgentRunConfig): AgentConfigProblem | undefined {
    return undefined;
  }

  async run(context: AgentContext): Promise<AgentResult> {
    using registration = this.options.sessions.begin(context.runId);
    for (const command of context.config.steps) {
      const { index, exitCode } = await context.step(command);
      if (exitCode !== 0) return { exitCode, error: `set-up step ${index} exited ${exitCode}` };
    }
    const idleTimeoutMs = context.config.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const session = new ExternalSession({ context, idleTimeoutMs });
    registration.open(session);
    context.log(`waiting for commands (ended after ${idleTimeoutMs} ms without a command or file call)`);
    context.announce();
    const ending = await untilStopped(session.ended, context.signal);
    if (ending.kind === 'idle') return { timedOut: 'IDLE_TIMEOUT', error: `no command or file call for ${ending.idleTimeoutMs} ms` };
    if (ending.kind === 'failed') throw ending.error;
    if (ending.exitCode === 0) {
      context.log(`finished by finishAgent with exit code 0${ending.error === null ? '' : `: ${ending.error}`}`);
      return { exitCode: 0 };
    }
    return { exitCode: ending.exitCode, error: ending.error ?? `the agent finished with exit code ${ending.exitCode}` };
  }
}

/** `ended`, or the signal's reason as soon as it aborts. */
function untilStopped<T>(ended: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let onAbort = (): void => {};
  const stopped = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([ended, stopped]).finally(() => signal.removeEventListener('abort', onAbort));
}
