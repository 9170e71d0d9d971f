/**
 * The built-in `shell` agent: runs `config.steps` in order with `sh -c` in the workspace. The
 * first step that exits non-zero ends the run; later steps do not run.
 */
import { InvalidValueError } from '../errors.js';
import type { AgentRunConfig } from '../runs/agent-run.js';
import type { Agent, AgentConfigProblem, AgentContext, AgentResult } from '../runs/agent.js';

export const SHELL_AGENT_NAME = 'shell';

export class ShellAgent implements Agent {
  readonly name = SHELL_AGENT_NAME;

  validate(config: AgentRunConfig): AgentConfigProblem | undefined {
    if (config.steps.length === 0) {
      return { field: 'steps', error: new InvalidValueError('at least one command for the shell agent', config.steps) };
    }
    return undefined;
  }

  async run(context: AgentContext): Promise<AgentResult> {
    for (const command of context.config.steps) {
      const { index, exitCode } = await context.step(command);
      if (exitCode !== 0) {
        return { exitCode, error: `step ${index} exited ${exitCode}` };
      }
    }
    return { exitCode: 0 };
  }
}
