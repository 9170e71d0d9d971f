/**
 * `startAgent`'s input and reply. The input reaches the run service as it is; the service
 * validates it and applies the defaults (and throws BAD_USER_INPUT naming the field).
 */
import type { BosunBuilder } from '../builder.js';
import type { BosunEnums } from './enums.js';

export function addStartAgentTypes(builder: BosunBuilder, enums: BosunEnums) {
  const EnvVarInput = builder.inputType('EnvVarInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      value: t.string({ required: true }),
    }),
  });

  const FailureGroupInput = builder.inputType('FailureGroupInput', {
    description: 'The group of failing CI runs the agent is to work on.',
    fields: (t) => ({
      id: t.string({ required: true }),
      name: t.string({ required: true }),
      runIds: t.stringList(),
    }),
  });

  const AgentConfigInput = builder.inputType('AgentConfigInput', {
    description: 'What to run and with which limits; every field has a server default.',
    fields: (t) => ({
      agent: t.string({ description: 'A registered agent; default "shell".' }),
      image: t.string({ description: 'The sandbox image; default SANDBOX_IMAGE.' }),
      steps: t.stringList({ description: 'Shell commands, for the shell agent.' }),
      env: t.field({ type: [EnvVarInput] }),
      cpus: t.float({ description: 'CPUs, e.g. 0.5; default DOCKER_CPU_LIMIT.' }),
      memory: t.string({ description: 'A size such as "512m" or "2g"; default DOCKER_MEMORY_LIMIT.' }),
      pidsLimit: t.int({ description: 'Default DOCKER_PIDS_LIMIT.' }),
      timeoutMs: t.int({ description: 'Default AGENT_TIMEOUT_MS.' }),
      user: t.string({ description: 'The uid[:gid] to run as, e.g. "1000:1000"; default the non-root sandbox user (1000). "0" is root.' }),
    }),
  });

  const StartAgentInput = builder.inputType('StartAgentInput', {
    fields: (t) => ({
      group: t.field({ type: FailureGroupInput, required: true }),
      config: t.field({ type: AgentConfigInput, required: true }),
      initialRepoContext: t.string(),
    }),
  });

  builder.objectType('StartAgentPayload', {
    fields: (t) => ({
      agentId: t.exposeID('agentId'),
      status: t.expose('status', { type: enums.AgentStatus }),
      queue: t.expose('queue', { type: 'QueueTicket', description: 'Where the run stood right after it entered the line.' }),
      run: t.expose('run', { type: 'AgentRun' }),
    }),
  });

  return { StartAgentInput };
}
