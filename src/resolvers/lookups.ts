/**
 * Look-ups that turn "no such run" into the NOT_FOUND error that the API reports.
 */
import { BosunError } from '../errors.js';
import type { AgentRun } from '../runs/agent-run.js';
import type { RunService } from '../runs/run-service.js';

/**
 * The run with `id`.
 * @param argument the argument that named it, for the message (`id`, `agentId`).
 * @throws BosunError NOT_FOUND
 */
export function requireRun(runs: Pick<RunService, 'get'>, id: string, argument = 'id'): AgentRun {
  const run = runs.get(id);
  if (!run) throw new BosunError('NOT_FOUND', `${argument}: no agent run with id ${JSON.stringify(id)}`, { field: argument });
  return run;
}
