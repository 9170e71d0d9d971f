/**
 * Where runs and their logs live. In memory for now: the interface is what a durable store
 * (SQLite) implements later. Finished runs beyond the retention count are dropped, oldest first.
 */
import type { AgentRun, AgentStatus, LogLine, LogStream } from './agent-run.js';
import { isFinalStatus } from './agent-run.js';
import { LogBuffer } from './log-buffer.js';

export interface RunStore {
  insert(run: AgentRun): void;
  /** Replaces a run with its new snapshot. */
  update(run: AgentRun): void;
  get(id: string): AgentRun | undefined;
  /** Newest first. */
  list(status: ReadonlySet<AgentStatus> | undefined, limit: number): AgentRun[];
  appendLog(agentId: string, stream: LogStream, step: number | null, line: string): LogLine;
  readLogs(agentId: string, afterSeq?: number, last?: number): LogLine[];
  lastLogSeq(agentId: string): number;
}

export interface MemoryRunStoreOptions {
  readonly logLinesPerRun: number;
  readonly runRetentionCount: number;
}

export class MemoryRunStore implements RunStore {
  /** Insertion order is queue order: iterating backwards gives newest first. */
  private readonly runs = new Map<string, AgentRun>();
  private readonly logs = new Map<string, LogBuffer>();
  private finishedCount = 0;

  constructor(private readonly options: MemoryRunStoreOptions) {}

  insert(run: AgentRun): void {
    if (this.runs.has(run.id)) throw new Error(`run ${run.id} already exists`);
    this.runs.set(run.id, run);
    this.logs.set(run.id, new LogBuffer(run.id, this.options.logLinesPerRun));
  }

  update(run: AgentRun): void {
    const previous = this.runs.get(run.id);
    if (!previous) return;
    this.runs.set(run.id, run);
    if (!isFinalStatus(previous.status) && isFinalStatus(run.status)) {
      this.finishedCount += 1;
      this.prune();
    }
  }

  get(id: string): AgentRun | undefined {
    return this.runs.get(id);
  }

  list(status: ReadonlySet<AgentStatus> | undefined, limit: number): AgentRun[] {
    const result: AgentRun[] = [];
    const all = [...this.runs.values()];
    for (let i = all.length - 1; i >= 0 && result.length < limit; i -= 1) {
      const run = all[i]!;
      if (!status || status.has(run.status)) result.push(run);
    }
    return result;
  }

  appendLog(agentId: string, stream: LogStream, step: number | null, line: string): LogLine {
    const buffer = this.logs.get(agentId);
    if (!buffer) throw new Error(`no log for run ${agentId}`);
    return buffer.append(stream, step, line);
  }

  readLogs(agentId: string, afterSeq?: number, last?: number): LogLine[] {
    return this.logs.get(agentId)?.read(afterSeq, last) ?? [];
  }

  lastLogSeq(agentId: string): number {
    return this.logs.get(agentId)?.lastSeq ?? 0;
  }

  private prune(): void {
    if (this.finishedCount <= this.options.runRetentionCount) return;
    for (const [id, run] of this.runs) {
      if (this.finishedCount <= this.options.runRetentionCount) break;
      if (!isFinalStatus(run.status)) continue;
      this.runs.delete(id);
      this.logs.delete(id);
      this.finishedCount -= 1;
    }
  }
}
