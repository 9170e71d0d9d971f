/**
 * The asynchronous store interfaces of issue 17 step 1, exactly as /work/shared/ASYNC-CONTRACT.md
 * gives them, for the PostgreSQL stores to implement while src/runs/run-store.ts,
 * src/monitor/monitor-history.ts and src/runs/artifact-store.ts are still synchronous on this
 * branch. MERGE: once the asynchronous interfaces land there, delete this file and have the
 * PostgreSQL stores implement RunStore, MonitorHistory and ArtifactStore from those files (the
 * shapes are identical).
 */
import type { MonitorHistory } from '../../monitor/monitor-history.js';
import type { SampleQuery } from '../../monitor/monitor-service.js';
import type { HealthAlert, ResourcePeak, ResourceSample } from '../../monitor/monitor-types.js';
import type { AgentRun, AgentStatus, FailureGroup, LogLine, LogStream } from '../../runs/agent-run.js';
import type { Artifact, ArtifactStore } from '../../runs/artifact-store.js';
import type { RunFilter, RunPage } from '../../runs/run-store.js';

/** RunStore of the contract. */
export interface AsyncRunStore {
  /** Records a new run; resolves once it is durable (startAgent awaits it). */
  insert(run: AgentRun): Promise<void>;
  /** Replaces a run with its new snapshot. Write-behind: returns at once; a failed write is
   *  retried and reported through writeFault(), never thrown. */
  update(run: AgentRun): void;
  get(id: string): Promise<AgentRun | undefined>;
  list(status: ReadonlySet<AgentStatus> | undefined, limit: number): Promise<AgentRun[]>;
  page(filter: RunFilter, first: number, olderThan?: number): Promise<RunPage>;
  count(filter: RunFilter): Promise<number>;
  group(id: string): Promise<FailureGroup | undefined>;
  unfinished(): Promise<AgentRun[]>;
  /** Records a line. Synchronous: its seq is assigned in memory by the one node that writes the
   *  run's logs (the node running it), starting after the highest seq stored for the run; the
   *  write itself is write-behind. */
  appendLog(runId: string, stream: LogStream, step: number | null, line: string): LogLine;
  readLogs(runId: string, afterSeq?: number, last?: number, first?: number): Promise<LogLine[]>;
  /** Writes what is buffered; resolves true when everything was written. */
  flush(): Promise<boolean>;
  writeFault(): string | null;
}

/** MonitorHistory of the contract: the reads return promises, the records stay write-behind. */
export interface AsyncMonitorHistory extends Pick<MonitorHistory, 'recordSample' | 'recordAlert'> {
  samples(query: SampleQuery): Promise<readonly ResourceSample[]>;
  alerts(runId: string): Promise<readonly HealthAlert[]>;
  peak(runId: string): Promise<ResourcePeak | undefined>;
  recentPeaks(runningAgentIds: readonly string[], finishedLimit: number): Promise<readonly ResourcePeak[]>;
  flush(): Promise<boolean>;
}

/** ArtifactStore of the contract: list and get return promises; read and save as they are. */
export interface AsyncArtifactStore extends Pick<ArtifactStore, 'read' | 'save'> {
  list(runId: string): Promise<readonly Artifact[]>;
  get(runId: string, path: string): Promise<Artifact | undefined>;
}
