/**
 * Validation of `startAgent`'s input, before anything is queued: every field is checked and
 * every default applied, and a refusal names the field (`input.config.memory`) and what was
 * expected. Pure: the engine-level checks (does the image exist) are the run service's.
 */
import type { AgentRegistry } from './agent-registry.js';
import { InvalidValueError, badUserInput } from '../errors.js';
import { MAX_TIMER_DELAY_MS } from '../shared/constants.js';
import { isIntegerInRange } from '../shared/validate.js';
import { parseImageReference } from '../sandbox/image-reference.js';
import { parseCpus, parseMemoryBytes, parsePidsLimit, type SandboxLimits } from '../sandbox/limits.js';
import { checkSandboxPath } from '../sandbox/sandbox-paths.js';
import { parseSandboxUser } from '../sandbox/sandbox-user.js';
import type { AgentRunConfig, EnvVar, FailureGroup, StartAgentInput } from './agent-run.js';

export interface RunDefaults {
  readonly agent: string;
  readonly image: string;
  readonly limits: SandboxLimits;
  readonly timeoutMs: number;
}

export interface ResolvedStart {
  readonly group: FailureGroup;
  readonly config: AgentRunConfig;
}

const MAX_TEXT_CHARS = 256;
const MAX_RUN_IDS = 1000;
const MAX_STEPS = 1000;
const MAX_STEP_CHARS = 64 * 1024;
const MAX_ENV_VARS = 256;
const MAX_ENV_VALUE_CHARS = 64 * 1024;
const MAX_CONTEXT_CHARS = 1024 * 1024;
/** Paths in `config.artifacts` at most. */
export const MAX_ARTIFACT_PATHS = 32;
/** setTimeout's largest delay: a run's deadline is a timer. */
export const MAX_TIMEOUT_MS = MAX_TIMER_DELAY_MS;
export const MIN_TIMEOUT_MS = 1000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Variables bosun sets itself so the agent can trust them. */
export const RESERVED_ENV_PREFIX = 'BOSUN_';

/**
 * Checks the input and applies defaults.
 * @throws BosunError BAD_USER_INPUT naming the first bad field.
 */
export function resolveStartInput(
  input: StartAgentInput,
  defaults: RunDefaults,
  context: { readonly hostCpus: number; readonly agents: AgentRegistry },
): ResolvedStart {
  const field = (name: string, check: () => void) => {
    try {
      check();
    } catch (error) {
      if (error instanceof InvalidValueError) throw badUserInput(`input.${name}`, error);
      throw error;
    }
  };
  const text = (name: string, value: unknown, max = MAX_TEXT_CHARS) =>
    field(name, () => {
      if (typeof value !== 'string' || value.trim() === '' || value.length > max || value.includes('\0')) {
        throw new InvalidValueError(`a non-empty string of at most ${max} characters without NUL bytes`, value);
      }
    });

  text('group.id', input.group.id);
  text('group.name', input.group.name);
  const runIds = input.group.runIds ?? [];
  field('group.runIds', () => {
    if (runIds.length > MAX_RUN_IDS) throw new InvalidValueError(`at most ${MAX_RUN_IDS} run ids`, `${runIds.length} ids`);
  });
  runIds.forEach((id, i) => text(`group.runIds[${i}]`, id));

  const config = input.config;
  const agentName = config.agent ?? defaults.agent;
  const agent = context.agents.get(agentName);
  field('config.agent', () => {
    if (!agent) throw new InvalidValueError(`a registered agent (${context.agents.names().join(', ')})`, agentName);
  });

  const image = config.image ?? defaults.image;
  // The engine's grammar: an unclean name (`a/`) would otherwise reach the engine, which answers it with a redirect.
  field('config.image', () => parseImageReference(image));

  const steps = config.steps ?? [];
  field('config.steps', () => {
    if (steps.length > MAX_STEPS) throw new InvalidValueError(`at most ${MAX_STEPS} steps`, `${steps.length} steps`);
  });
  steps.forEach((step, i) => text(`config.steps[${i}]`, step, MAX_STEP_CHARS));

  const env = config.env ?? [];
  const seen = new Set<string>();
  field('config.env', () => {
    if (env.length > MAX_ENV_VARS) throw new InvalidValueError(`at most ${MAX_ENV_VARS} variables`, `${env.length} variables`);
  });
  env.forEach((variable, i) =>
    field(`config.env[${i}].name`, () => {
      if (!ENV_NAME.test(variable.name)) {
        throw new InvalidValueError('a POSIX variable name (letters, digits and _, not starting with a digit)', variable.name);
      }
      if (variable.name.startsWith(RESERVED_ENV_PREFIX)) {
        throw new InvalidValueError(`a name that does not start with ${RESERVED_ENV_PREFIX} (bosun sets those)`, variable.name);
      }
      if (seen.has(variable.name)) throw new InvalidValueError('each name at most once', variable.name);
      seen.add(variable.name);
    }),
  );
  env.forEach((variable, i) =>
    field(`config.env[${i}].value`, () => {
      if (variable.value.length > MAX_ENV_VALUE_CHARS || variable.value.includes('\0')) {
        throw new InvalidValueError(`a value of at most ${MAX_ENV_VALUE_CHARS} characters without NUL bytes`, variable.value);
      }
    }),
  );

  let limits = defaults.limits;
  if (config.cpus !== undefined && config.cpus !== null) {
    const cpus = config.cpus;
    field('config.cpus', () => (limits = { ...limits, cpus: parseCpus(cpus, context.hostCpus) }));
  }
  if (config.memory !== undefined && config.memory !== null) {
    const memory = config.memory;
    field('config.memory', () => (limits = { ...limits, memoryBytes: parseMemoryBytes(memory) }));
  }
  if (config.pidsLimit !== undefined && config.pidsLimit !== null) {
    const pids = config.pidsLimit;
    field('config.pidsLimit', () => (limits = { ...limits, pidsLimit: parsePidsLimit(pids) }));
  }

  const timeoutMs = config.timeoutMs ?? defaults.timeoutMs;
  field('config.timeoutMs', () => {
    if (!isIntegerInRange(timeoutMs, { min: MIN_TIMEOUT_MS, max: MAX_TIMEOUT_MS })) {
      throw new InvalidValueError(`milliseconds, an integer from ${MIN_TIMEOUT_MS} to ${MAX_TIMEOUT_MS}`, timeoutMs);
    }
  });

  const user = config.user ?? null;
  if (user !== null) {
    field('config.user', () => parseSandboxUser(user));
  }

  const artifacts = config.artifacts ?? [];
  field('config.artifacts', () => {
    if (artifacts.length > MAX_ARTIFACT_PATHS) throw new InvalidValueError(`at most ${MAX_ARTIFACT_PATHS} paths`, `${artifacts.length} paths`);
  });
  artifacts.forEach((path, i) =>
    field(`config.artifacts[${i}]`, () => {
      checkSandboxPath(path);
      if (artifacts.indexOf(path) !== i) throw new InvalidValueError('each path at most once', path);
    }),
  );

  const context_ = input.initialRepoContext ?? null;
  if (context_ !== null) {
    field('initialRepoContext', () => {
      if (context_.length > MAX_CONTEXT_CHARS || context_.includes('\0')) {
        throw new InvalidValueError(`text of at most ${MAX_CONTEXT_CHARS} characters without NUL bytes`, context_);
      }
    });
  }

  const resolved: AgentRunConfig = {
    agent: agentName,
    image,
    steps: [...steps],
    env: env.map((variable): EnvVar => ({ name: variable.name, value: variable.value })),
    limits,
    timeoutMs,
    initialRepoContext: context_,
    user,
    artifacts: [...artifacts],
  };
  const problem = agent!.validate?.(resolved);
  if (problem) throw badUserInput(`input.config.${problem.field}`, problem.error);

  return {
    group: { id: input.group.id, name: input.group.name, runIds: [...runIds] },
    config: resolved,
  };
}
