/**
 * What a warm-pool sandbox needs beyond an ordinary one: the engine calls that hand a frozen
 * container over to a run ({@link takeOverContainer}), and the slot of its first command, started
 * ahead of time ({@link FirstCommandSlot}, see prepared-command.ts).
 *
 * Split from the {@link DockerSandbox}, which keeps the container's lifecycle, commands, files and
 * stats, and calls these when it is prepared for the pool, taken over and run.
 */
import { dockerCall } from './docker-call.js';
import type { ExecTarget } from './docker-exec.js';
import { toNanoCpus, type SandboxLimits } from './limits.js';
import { PreparedCommand } from './prepared-command.js';
import type { ExecOptions } from './sandbox.js';

/** What a run brings to a sandbox created ahead of time (see `DockerSandbox.takeOver`). */
export interface TakeOverOptions {
  readonly runId: string;
  /** The container's new name: what a sandbox created for the run would be called. */
  readonly name: string;
  readonly limits: SandboxLimits;
  /** Environment of every command of the run. */
  readonly env: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/**
 * The engine's side of a take-over: thaws the container, gives it the run's limits (the engine's
 * update, only when they differ from `current`; memory-swap moves with memory, so swap stays off
 * as at creation) and the run's name. The calls go out together, and every one settles before
 * this does: none is left running against a sandbox the caller removes on failure.
 * @throws SandboxError (CONTAINER_GONE, DOCKER_UNAVAILABLE, DOCKER_ERROR) or the signal's reason:
 *   the first call's to fail.
 */
export async function takeOverContainer(
  target: Pick<ExecTarget, 'container' | 'name' | 'callTimeoutMs'>,
  current: SandboxLimits,
  run: TakeOverOptions,
): Promise<void> {
  const { signal, limits } = run;
  const { container, name, callTimeoutMs } = target;
  const call = <T>(action: string, fn: (callSignal: AbortSignal) => Promise<T>) => dockerCall(action, callTimeoutMs, fn, signal);
  const calls: Array<Promise<unknown>> = [call(`unpause ${name}`, (callSignal) => container.unpause({ abortSignal: callSignal }))];
  if (current.cpus !== limits.cpus || current.memoryBytes !== limits.memoryBytes || current.pidsLimit !== limits.pidsLimit) {
    const update = { NanoCpus: toNanoCpus(limits.cpus), Memory: limits.memoryBytes, MemorySwap: limits.memoryBytes, PidsLimit: limits.pidsLimit };
    calls.push(call(`update the limits of ${name}`, (callSignal) => container.update({ ...update, abortSignal: callSignal })));
  }
  if (run.name !== name) {
    calls.push(call(`rename ${name}`, (callSignal) => container.rename({ name: run.name, abortSignal: callSignal })));
  }
  // Every call settles before the outcome is known: none is left running against a sandbox the caller removes.
  const failed = (await Promise.allSettled(calls)).find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * A pool sandbox's first command, started before it was frozen (see prepared-command.ts): held
 * until the sandbox's first exec, which runs in it if it fits, else the ordinary way.
 */
export class FirstCommandSlot {
  private prepared: PreparedCommand | undefined;

  /** Starts the process of the first command now, replacing one started before. */
  async prepare(target: ExecTarget, signal?: AbortSignal): Promise<void> {
    this.prepared?.discard();
    this.prepared = await PreparedCommand.start(target, signal);
  }

  /**
   * Empties the slot for the sandbox's first exec: the prepared command if this one fits it
   * (see {@link PreparedCommand.fits}), else undefined (a prepared command that does not fit is
   * discarded: every later command goes the ordinary way).
   */
  take(command: string, options: ExecOptions, workingDir: string): PreparedCommand | undefined {
    const prepared = this.prepared;
    if (prepared === undefined) return undefined;
    this.prepared = undefined;
    if (prepared.fits(command, options, workingDir)) return prepared;
    prepared.discard();
    return undefined;
  }

  /** Ends the prepared command, if any (the sandbox is stopped or removed). */
  discard(): void {
    this.prepared?.discard();
    this.prepared = undefined;
  }
}
