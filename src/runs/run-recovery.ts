/**
 * What a run service recovers (issue 17 made it a job of its own): what a previous process left in
 * the store at start (runs that were running end INTERRUPTED, waiting runs re-enter the line in
 * their order), and, in a cluster, the runs of a node that died (lost), and the waiting runs a
 * Redis that lost its data must get back. {@link AgentRunService} delegates to it; it records
 * through the service's own recorder and admits through its own admission.
 */
import type { Logger } from '../logger.js';
import { isBosunError } from '../errors.js';
import type { AgentRegistry } from './agent-registry.js';
import { isFinalStatus } from './agent-run.js';
import type { RunAdmission } from './run-admission.js';
import type { RunRecorder } from './run-recorder.js';
import type { RunStore } from './run-store.js';

/** How a cluster node recovers at start: only its own runs, and the line from the shared store. */
export interface ClusterRecovery {
  /** This node's name: only its RUNNING runs (`AgentRun.node`) are interrupted. */
  readonly node: string;
  /** Puts back the QUEUED runs the shared line does not have, in order (BullMqExecutionQueue.restoreWaiting). */
  restoreWaiting(runs: ReadonlyArray<{ readonly id: string; readonly queuedAt: Date }>): Promise<number>;
}

export interface RunRecoveryOptions {
  readonly store: RunStore;
  readonly agents: AgentRegistry;
  /** The run service's recorder: what is recovered is recorded as its runs are. */
  readonly recorder: RunRecorder;
  /** The run service's admission: waiting runs re-enter the line through it. */
  readonly admission: RunAdmission;
  readonly logger: Logger;
}

/** Recovery at start, and the cluster's lost runs (see the module comment). */
export class RunRecovery {
  constructor(private readonly options: RunRecoveryOptions) {}

  /**
   * Recovers what a previous process left in the store, before anything new is admitted: runs
   * that were RUNNING end FAILED / INTERRUPTED (their containers are reaped separately), waiting
   * runs whose agent is no longer registered end FAILED at once, and the other waiting runs
   * re-enter the line in their original order with their original `queuedAt`. In a cluster, every
   * waiting run goes back to the shared line, whatever agent it names: it is the line's, not this
   * node's, and the node that takes it fails it if that node lacks its agent.
   */
  async recover(cluster?: ClusterRecovery): Promise<{ readonly interrupted: number; readonly requeued: number }> {
    let interrupted = 0;
    let requeued = 0;
    const waiting: { id: string; queuedAt: Date }[] = [];
    for (const stored of await this.options.store.unfinished()) {
      // Shutdown began (it may race a start): what is not recovered yet stays as stored, for the
      // next start to recover; putting it in a closing line would only fail it.
      if (!this.options.admission.isOpen) return { interrupted, requeued };
      if (cluster !== undefined) {
        // Another node's running run is that node's (or, if it died, the lease's: see `lost`).
        if (stored.status === 'RUNNING' && stored.node !== cluster.node) continue;
        // A waiting run belongs to the cluster's line, not to this node: it is only put back if lost.
        // Even one whose agent this node lacks: another node may have it (nodes may be built with
        // different agents, though every node should register the same ones), and the node that
        // takes it fails it if it lacks the agent too (see RunExecutor).
        if (stored.status === 'QUEUED') {
          if (!this.options.agents.get(stored.config.agent)) {
            this.options.logger.warn(
              { runId: stored.id, agent: stored.config.agent, node: cluster.node },
              'a stored waiting run names an agent this node does not have: it stays in line for a node that has it',
            );
          }
          waiting.push({ id: stored.id, queuedAt: stored.queuedAt });
          continue;
        }
      }
      // Recorded here from now on: the recorder keeps it in memory until it is final.
      const run = this.options.recorder.track(stored);
      if (run.status === 'RUNNING') {
        this.options.recorder.log(run.id, 'SYSTEM', null, 'the server stopped while this run was running; its container is removed at restart');
        this.options.recorder.finish(run.id, 'FAILED', 'INTERRUPTED', 'the server stopped while the run was running');
        interrupted += 1;
      } else if (!this.options.agents.get(run.config.agent)) {
        // Like retry: a run whose agent is gone could only fail later, after its container was created.
        const error = `agent ${JSON.stringify(run.config.agent)} is no longer registered`;
        this.options.recorder.log(run.id, 'SYSTEM', null, `${error}; the stored run cannot start`);
        this.options.recorder.finish(run.id, 'FAILED', null, error);
        this.options.logger.warn({ runId: run.id, agent: run.config.agent }, 'a stored waiting run names an agent that is no longer registered');
      } else {
        try {
          await this.options.admission.requeue(run);
          requeued += 1;
        } catch (error) {
          // Refused because bosun is shutting down: the run stays QUEUED (see requeue), and the
          // loop's next turn ends recovery.
          if (isShuttingDown(error)) continue;
          // A line shorter than before (MAX_QUEUE_LENGTH lowered): the run was failed with the
          // queue's reason; the others are still recovered.
          this.options.logger.warn({ runId: run.id, err: error }, 'a stored waiting run could not re-enter the line');
        }
      }
    }
    if (cluster !== undefined && waiting.length > 0 && this.options.admission.isOpen) {
      try {
        requeued = await cluster.restoreWaiting(waiting);
      } catch (error) {
        // The shared line closed under it (shutdown began): the runs stay QUEUED in the store,
        // which the next node to start (or a reset) puts back.
        if (!isShuttingDown(error)) throw error;
      }
    }
    return { interrupted, requeued };
  }

  /**
   * Records a run the cluster lost: its node stopped renewing its lease while the run ran. It ends
   * FAILED / INTERRUPTED with the node named; a run already final is left as it is.
   */
  async markLost(id: string, node: string): Promise<boolean> {
    const stored = await this.options.recorder.get(id);
    if (!stored || isFinalStatus(stored.status)) return false;
    this.options.recorder.track(stored);
    const error = `node ${node} stopped renewing its lease while the run was running (it died or stalled)`;
    this.options.recorder.log(id, 'SYSTEM', null, `${error}; the run is interrupted`);
    this.options.recorder.finish(id, 'FAILED', 'INTERRUPTED', error);
    // Recorded by this node only to end it: nothing more comes for it here.
    this.options.recorder.release(id);
    // Written before the caller lets go of the cluster's lock (see app.ts): the next node to look
    // reads it final, and does not record the loss again.
    await this.options.store.flush();
    return true;
  }

  /**
   * Records every run the store has RUNNING on `node`, a node that died without leaving, as lost
   * ({@link markLost}): the lease sweep's way, besides the queue's `lost` job by job.
   * @returns the runs it ended.
   */
  async markNodeLost(node: string): Promise<string[]> {
    const ended: string[] = [];
    for (const run of await this.options.store.unfinished()) {
      if (run.status === 'RUNNING' && run.node === node && (await this.markLost(run.id, node))) ended.push(run.id);
    }
    return ended;
  }

  /** The QUEUED runs of the store, oldest first: what a cluster puts back in line after Redis lost its data. */
  async queuedRuns(): Promise<{ id: string; queuedAt: Date }[]> {
    return (await this.options.store.unfinished()).filter((run) => run.status === 'QUEUED').map((run) => ({ id: run.id, queuedAt: run.queuedAt }));
  }
}

/** A refusal because bosun (its admission or its queue) is shutting down. */
function isShuttingDown(error: unknown): boolean {
  return isBosunError(error) && error.code === 'SHUTTING_DOWN';
}
