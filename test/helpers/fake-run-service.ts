/**
 * An in-memory RunService over a {@link FakeExecutionQueue}: it stores runs and log lines and
 * emits the interface's events, but starts no container. Tests drive runs with
 * {@link FakeRunService.startNext}, {@link FakeRunService.log} and {@link FakeRunService.finish},
 * and make any method throw once with {@link FakeRunService.failNext}.
 */
import { EventEmitter } from 'node:events';
import { BosunError } from '../../src/errors.js';
import {
  isFinalStatus,
  type AgentRun,
  type AgentStatus,
  type FailureGroup,
  type FailureReason,
  type LogLine,
  type LogStream,
  type StartAgentInput,
} from '../../src/runs/agent-run.js';
import type {
  LogQuery,
  RunListQuery,
  RunPageQuery,
  RunQueryFilter,
  RunService,
  RunServiceEvents,
  StartAgentResult,
} from '../../src/runs/run-service.js';
import type { KeyedRun, RunPage } from '../../src/runs/run-store.js';
import { settle } from './fake-async.js';
import { FakeExecutionQueue } from './fake-execution-queue.js';
import { makeRun } from './fixtures.js';

type Method = 'start' | 'retry' | 'cancel' | 'get' | 'list' | 'page' | 'count' | 'group' | 'logs' | 'position';

export class FakeRunService implements RunService {
  readonly events = new EventEmitter<RunServiceEvents>();
  readonly #runs = new Map<string, AgentRun>();
  readonly #logs = new Map<string, LogLine[]>();
  readonly #failures = new Map<Method, unknown>();
  #nextId = 1;

  constructor(readonly queue: FakeExecutionQueue) {}

  /** The next call of `method` throws `error`. */
  failNext(method: Method, error: unknown): void {
    this.#failures.set(method, error);
  }

  start(input: StartAgentInput): Promise<StartAgentResult> {
    return settle(() => {
      this.#maybeFail('start');
      if (input.group.id.trim() === '') {
        throw new BosunError('BAD_USER_INPUT', 'group.id: expected a non-empty string, got ""', { field: 'group.id' });
      }
      const id = `run-${this.#nextId++}`;
      const base = makeRun({ id, queuedAt: new Date() });
      const run: AgentRun = {
        ...base,
        group: { id: input.group.id, name: input.group.name, runIds: [...(input.group.runIds ?? [])] },
        config: { ...base.config, agent: input.config.agent ?? 'shell', steps: [...(input.config.steps ?? [])] },
      };
      this.#runs.set(id, run);
      this.#logs.set(id, []);
      const ticket = this.queue.enqueueNow(id);
      this.events.emit('run-updated', run);
      if (ticket.position === 0) this.#markRunning(id);
      return { run: this.#require(id), ticket };
    });
  }

  async retry(id: string): Promise<StartAgentResult> {
    this.#maybeFail('retry');
    const previous = this.#require(id);
    if (!isFinalStatus(previous.status)) throw new BosunError('INVALID_STATE', `run ${id} is ${previous.status}`);
    const { run, ticket } = await this.start({ group: previous.group, config: { agent: previous.config.agent, steps: previous.config.steps } });
    const linked: AgentRun = { ...run, retryOf: id };
    this.#runs.set(run.id, linked);
    return { run: linked, ticket };
  }

  cancel(id: string): Promise<AgentRun> {
    return settle(() => {
      this.#maybeFail('cancel');
      const run = this.#require(id);
      if (isFinalStatus(run.status)) throw new BosunError('INVALID_STATE', `run ${id} is already ${run.status}`);
      this.queue.cancelNow(id);
      return this.finish(id, 'CANCELLED');
    });
  }

  get(id: string): Promise<AgentRun | undefined> {
    return settle(() => {
      this.#maybeFail('get');
      return this.#runs.get(id);
    });
  }

  list(query: RunListQuery = {}): Promise<readonly AgentRun[]> {
    return settle(() => {
      this.#maybeFail('list');
      const statuses = query.status ?? null;
      return [...this.#runs.values()]
        .reverse()
        .filter((run) => statuses === null || statuses.includes(run.status))
        .slice(0, query.limit ?? 50);
    });
  }

  /** Keys are 1-based places in the order runs were added (as the store's, newer is larger). */
  page(query: RunPageQuery): Promise<RunPage> {
    return settle(() => this.#page(query));
  }

  #page(query: RunPageQuery): RunPage {
    this.#maybeFail('page');
    const matching = this.#matching(query);
    const olderThan = query.olderThan ?? Number.POSITIVE_INFINITY;
    const older = matching.filter((keyed) => keyed.key < olderThan);
    return {
      runs: older.slice(0, query.first),
      hasNextPage: older.length > query.first,
      hasPreviousPage: matching.some((keyed) => keyed.key >= olderThan),
    };
  }

  count(filter: RunQueryFilter): Promise<number> {
    return settle(() => {
      this.#maybeFail('count');
      return this.#matching(filter).length;
    });
  }

  /** As the store keeps it: the newest run's name, every CI run id in the order first given. */
  group(id: string): Promise<FailureGroup | undefined> {
    return settle(() => this.#group(id));
  }

  #group(id: string): FailureGroup | undefined {
    this.#maybeFail('group');
    const runs = [...this.#runs.values()].filter((run) => run.group.id === id);
    const newest = runs.at(-1);
    if (!newest) return undefined;
    return { id, name: newest.group.name, runIds: [...new Set(runs.flatMap((run) => run.group.runIds))] };
  }

  logs(id: string, query: LogQuery = {}): Promise<readonly LogLine[]> {
    return settle(() => this.#logsNow(id, query));
  }

  #logsNow(id: string, query: LogQuery): readonly LogLine[] {
    this.#maybeFail('logs');
    this.#require(id);
    const after = query.afterSeq ?? 0;
    const lines = (this.#logs.get(id) ?? []).filter((line) => line.seq > after);
    const selected = query.last == null ? lines : lines.slice(Math.max(0, lines.length - query.last));
    return query.limit == null ? selected : selected.slice(0, query.limit);
  }

  position(id: string): number {
    this.#maybeFail('position');
    return this.queue.position(id);
  }

  // Test drivers.

  /** Adds a run as it is (no queue involved) and emits nothing. */
  seed(run: AgentRun, lines: readonly LogLine[] = []): AgentRun {
    this.#runs.set(run.id, run);
    this.#logs.set(run.id, [...lines]);
    return run;
  }

  /** Starts the first waiting run: the queue's `started`, then the run's RUNNING update. */
  startNext(): AgentRun {
    return this.#markRunning(this.queue.startNext());
  }

  /** Records a log line and emits it; returns it. */
  log(id: string, line: string, stream: LogStream = 'STDOUT'): LogLine {
    const lines = this.#logs.get(id);
    if (!lines) throw new Error(`FakeRunService: no run ${id}`);
    const entry: LogLine = { runId: id, seq: lines.length + 1, stream, step: 1, line, at: new Date() };
    lines.push(entry);
    this.events.emit('log', entry);
    return entry;
  }

  /** Records a line without emitting it (as if its event were still on its way). */
  recordSilently(id: string, line: string): LogLine {
    const lines = this.#logs.get(id) ?? [];
    const entry: LogLine = { runId: id, seq: lines.length + 1, stream: 'STDOUT', step: 1, line, at: new Date() };
    lines.push(entry);
    this.#logs.set(id, lines);
    return entry;
  }

  /** Applies `patch` and emits `run-updated`. */
  update(id: string, patch: Partial<AgentRun>): AgentRun {
    const run = { ...this.#require(id), ...patch };
    this.#runs.set(id, run);
    this.events.emit('run-updated', run);
    return run;
  }

  /** Ends a run with a final status; frees its queue slot and removes its container. */
  finish(id: string, status: AgentStatus = 'SUCCEEDED', failureReason: FailureReason | null = null): AgentRun {
    const before = this.#require(id);
    const run = this.update(id, { status, failureReason, finishedAt: new Date(), exitCode: status === 'SUCCEEDED' ? 0 : before.exitCode });
    this.queue.finish(id);
    if (before.containerId) this.events.emit('container-removed', { runId: id, containerId: before.containerId });
    return run;
  }

  /** Total listeners on the run service's events. */
  listenerTotal(): number {
    return this.events.eventNames().reduce((sum, name) => sum + this.events.listenerCount(name), 0);
  }

  #markRunning(id: string): AgentRun {
    const containerId = `container-${id}`;
    const run = this.update(id, { status: 'RUNNING', startedAt: new Date(), containerId });
    this.events.emit('container-started', { runId: id, containerId, limits: run.config.limits });
    return run;
  }

  /** The runs that match, newest first, with their keys. */
  #matching(filter: RunQueryFilter): KeyedRun[] {
    const statuses = filter.status && filter.status.length > 0 ? filter.status : null;
    return [...this.#runs.values()]
      .map((run, index) => ({ run, key: index + 1 }))
      .filter(({ run }) => (statuses === null || statuses.includes(run.status)) && (filter.groupId == null || run.group.id === filter.groupId))
      .reverse();
  }

  #require(id: string): AgentRun {
    const run = this.#runs.get(id);
    if (!run) throw new BosunError('NOT_FOUND', `no run ${id}`);
    return run;
  }

  #maybeFail(method: Method): void {
    if (!this.#failures.has(method)) return;
    const error = this.#failures.get(method);
    this.#failures.delete(method);
    throw error;
  }
}
