/**
 * The RunStore contract: the same cases against every run store (SqliteRunStore on an in-memory
 * database, PostgresRunStore on a real PostgreSQL), so that a second backend behaves as the
 * first. Every call is awaited: the SQLite store answers synchronously, the PostgreSQL one with
 * promises (the asynchronous contract of issue 17), and awaiting a plain value is harmless.
 */
import { describe, expect, it } from 'vitest';
import type { AgentRun, AgentStatus, FailureGroup, LogLine, LogStream } from '../../../src/runs/agent-run.js';
import type { RunFilter, RunPage } from '../../../src/runs/run-store.js';
import type { RunRetentionOptions } from '../../../src/store/run-retention.js';
import { makeRun } from '../../helpers/fixtures.js';

type MaybePromise<T> = T | Promise<T>;

/** What the contract calls: RunStore's methods, synchronous or not, and retention. */
export interface ContractRunStore {
  insert(run: AgentRun): MaybePromise<void>;
  update(run: AgentRun): void;
  get(id: string): MaybePromise<AgentRun | undefined>;
  list(status: ReadonlySet<AgentStatus> | undefined, limit: number): MaybePromise<AgentRun[]>;
  page(filter: RunFilter, first: number, olderThan?: number): MaybePromise<RunPage>;
  count(filter: RunFilter): MaybePromise<number>;
  group(id: string): MaybePromise<FailureGroup | undefined>;
  unfinished(): MaybePromise<AgentRun[]>;
  appendLog(runId: string, stream: LogStream, step: number | null, line: string): LogLine;
  readLogs(runId: string, afterSeq?: number, last?: number, first?: number): MaybePromise<LogLine[]>;
  flush(): MaybePromise<boolean>;
  writeFault(): string | null;
  prune(options: RunRetentionOptions, now?: number): MaybePromise<number>;
}

export interface RunStoreFixture {
  readonly store: ContractRunStore;
  /** Another store on the same data: a restart of the process, or another node. */
  readonly reopen: () => MaybePromise<ContractRunStore>;
  /** Log rows stored (written) for the run. */
  readonly storedLogCount: (runId: string) => Promise<number>;
}

/** Opens a store on empty data. */
export type OpenRunStore = (options: { logLinesPerRun: number }) => Promise<RunStoreFixture>;

const DAY_MS = 24 * 3_600_000;

function finished(id: string, finishedAt: Date, group?: FailureGroup): AgentRun {
  return makeRun({
    id,
    status: 'SUCCEEDED',
    queuedAt: new Date(finishedAt.getTime() - 1000),
    startedAt: finishedAt,
    finishedAt,
    exitCode: 0,
    ...(group ? { group } : {}),
  });
}

/** The ids of a page's runs, in order (shared with the SQLite-only cases). */
export const ids = (page: RunPage): string[] => page.runs.map(({ run }) => run.id);

/** Every run of `filter`, page by page of `first`, starting each page after the last key of the previous one. */
export async function pageThrough(store: ContractRunStore, filter: RunFilter, first: number, between?: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  let after: number | undefined;
  for (let page = 0; page < 1000; page += 1) {
    const result = await store.page(filter, first, after);
    seen.push(...ids(result));
    expect(result.runs.length).toBeLessThanOrEqual(first);
    if (!result.hasNextPage) return seen;
    after = result.runs.at(-1)?.key;
    await between?.();
  }
  throw new Error('too many pages');
}

export function describeRunStoreContract(name: string, open: OpenRunStore): void {
  describe(`RunStore contract: ${name}`, () => {
    it('keeps runs, their changes and their logs for another store on the same data, whose numbering goes on', async () => {
      const { store, reopen } = await open({ logLinesPerRun: 100 });
      const run = makeRun({ id: 'r1', queuedAt: new Date('2026-01-01T00:00:00Z') });
      await store.insert(run);
      const started = { ...run, status: 'RUNNING' as const, startedAt: new Date('2026-01-01T00:00:01Z'), containerId: 'c1' };
      store.update(started);
      const withStep = {
        ...started,
        warmStart: true,
        steps: [
          { index: 1, command: 'make', exitCode: 0, startedAt: new Date('2026-01-01T00:00:02Z'), finishedAt: new Date('2026-01-01T00:00:03Z') },
        ],
      };
      store.update(withStep);
      expect(await store.get('r1')).toEqual(withStep);
      store.appendLog('r1', 'STDOUT', 1, 'hello');
      store.appendLog('r1', 'SYSTEM', null, 'step 1 exited 0');
      expect(await store.flush()).toBe(true);

      const other = await reopen();
      expect(await other.get('r1')).toEqual(withStep);
      expect((await other.unfinished()).map((r) => r.id)).toEqual(['r1']);
      expect((await other.readLogs('r1')).map((l) => [l.seq, l.stream, l.step, l.line])).toEqual([
        [1, 'STDOUT', 1, 'hello'],
        [2, 'SYSTEM', null, 'step 1 exited 0'],
      ]);
      expect(other.appendLog('r1', 'STDERR', 1, 'more').seq).toBe(3);
      expect(await other.flush()).toBe(true);
      expect((await store.readLogs('r1', 2)).map((l) => l.line)).toEqual(['more']);
    });

    it('reads its own changes at once, before they are written', async () => {
      const { store } = await open({ logLinesPerRun: 100 });
      const run = makeRun({ id: 'r' });
      await store.insert(run);
      const done = {
        ...run,
        status: 'FAILED' as const,
        failureReason: 'NON_ZERO_EXIT' as const,
        error: 'exit 2',
        exitCode: 2,
        finishedAt: new Date(),
      };
      store.update(done);
      expect(await store.get('r')).toEqual(done);
      expect(await store.list(new Set(['FAILED']), 10)).toEqual([done]);
      expect(await store.unfinished()).toEqual([]);
      expect(store.writeFault()).toBeNull();
    });

    it('lists newest first, filters by status, and returns unfinished runs in queue order', async () => {
      const { store } = await open({ logLinesPerRun: 100 });
      await store.insert(makeRun({ id: 'a' }));
      await store.insert(makeRun({ id: 'b', status: 'RUNNING' }));
      await store.insert(finished('c', new Date()));
      await store.insert(makeRun({ id: 'd' }));
      expect((await store.list(undefined, 10)).map((r) => r.id)).toEqual(['d', 'c', 'b', 'a']);
      expect((await store.list(new Set(['QUEUED']), 10)).map((r) => r.id)).toEqual(['d', 'a']);
      expect((await store.list(undefined, 2)).map((r) => r.id)).toEqual(['d', 'c']);
      expect((await store.unfinished()).map((r) => r.id)).toEqual(['a', 'b', 'd']);
      expect(await store.get('nope')).toBeUndefined();
    });

    it('keeps at most logLinesPerRun lines per run, reading after a sequence number exactly', async () => {
      const { store, storedLogCount } = await open({ logLinesPerRun: 100 });
      await store.insert(makeRun({ id: 'r' }));
      await store.insert(makeRun({ id: 'other' }));
      for (let i = 1; i <= 1000; i += 1) store.appendLog('r', 'STDOUT', 1, `line ${i}`);
      store.appendLog('other', 'STDOUT', null, 'other line');
      const kept = await store.readLogs('r');
      expect(kept.map((l) => l.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 901 + i));
      expect((await store.readLogs('r', 950)).map((l) => l.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 951 + i));
      expect((await store.readLogs('r', 0, 3)).map((l) => l.line)).toEqual(['line 998', 'line 999', 'line 1000']);
      expect(await storedLogCount('r')).toBeLessThanOrEqual(110);
      expect((await store.readLogs('other')).map((l) => [l.seq, l.line])).toEqual([[1, 'other line']]);
    });

    it('reads a page of a log: the first lines after a sequence number, never what is past the per-run limit', async () => {
      const { store } = await open({ logLinesPerRun: 100 });
      await store.insert(makeRun({ id: 'r' }));
      for (let i = 1; i <= 1005; i += 1) store.appendLog('r', 'STDOUT', 1, `line ${i}`);
      // Trimming runs in steps: lines 901..905 may still be stored, but are past the limit.
      expect((await store.readLogs('r', 0, undefined, 3)).map((l) => l.seq)).toEqual([906, 907, 908]);
      expect((await store.readLogs('r', 950, undefined, 3)).map((l) => l.seq)).toEqual([951, 952, 953]);
      expect((await store.readLogs('r', 1003, undefined, 3)).map((l) => l.seq)).toEqual([1004, 1005]);
      expect((await store.readLogs('r', 0, 10, 3)).map((l) => l.seq)).toEqual([996, 997, 998]);
      // A finished run (its newest seq no longer in memory) reads the same.
      store.update(makeRun({ id: 'r', status: 'SUCCEEDED' }));
      expect((await store.readLogs('r', 0, undefined, 2)).map((l) => l.seq)).toEqual([906, 907]);
    });

    it('goes through pages newest first, with hasNextPage and hasPreviousPage', async () => {
      const { store } = await open({ logLinesPerRun: 100 });
      for (let n = 1; n <= 5; n += 1) await store.insert(makeRun({ id: `r${n}` }));
      const first = await store.page({}, 2);
      expect(ids(first)).toEqual(['r5', 'r4']);
      expect(first).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
      const second = await store.page({}, 2, first.runs.at(-1)?.key);
      expect(ids(second)).toEqual(['r3', 'r2']);
      expect(second).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
      const last = await store.page({}, 2, second.runs.at(-1)?.key);
      expect(ids(last)).toEqual(['r1']);
      expect(last).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
      expect(await store.page({}, 10)).toMatchObject({ hasNextPage: false, hasPreviousPage: false });
      expect(await store.count({})).toBe(5);
    });

    it('neither skips nor repeats a run while runs are recorded between pages', async () => {
      const { store } = await open({ logLinesPerRun: 100 });
      for (let n = 1; n <= 23; n += 1) await store.insert(makeRun({ id: `old-${n}` }));
      let added = 0;
      const seen = await pageThrough(store, {}, 5, async () => {
        for (let k = 0; k < 3; k += 1) await store.insert(makeRun({ id: `new-${(added += 1)}` }));
      });
      expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => `old-${23 - i}`));
      expect(await store.count({})).toBe(23 + added);
    });

    it('filters pages by status and by group, alone and together, and counts the same', async () => {
      const { store } = await open({ logLinesPerRun: 100 });
      const group = (id: string) => ({ id, name: id, runIds: [] });
      await store.insert(makeRun({ id: 'a1', group: group('a') }));
      await store.insert(makeRun({ id: 'b1', group: group('b'), status: 'RUNNING' }));
      await store.insert(makeRun({ id: 'a2', group: group('a'), status: 'RUNNING' }));
      await store.insert(makeRun({ id: 'a3', group: group('a') }));
      const running: RunFilter = { status: new Set(['RUNNING']) };
      expect(await pageThrough(store, { groupId: 'a' }, 1)).toEqual(['a3', 'a2', 'a1']);
      expect(await pageThrough(store, running, 1)).toEqual(['a2', 'b1']);
      expect(await pageThrough(store, { ...running, groupId: 'a' }, 1)).toEqual(['a2']);
      expect(await pageThrough(store, { status: new Set(['QUEUED', 'RUNNING']), groupId: 'b' }, 10)).toEqual(['b1']);
      expect(await store.count({ groupId: 'a' })).toBe(3);
      expect(await store.count(running)).toBe(2);
      expect(await store.count({ ...running, groupId: 'b' })).toBe(1);
      expect(await store.count({ groupId: 'none' })).toBe(0);
      // A change moves a run between filters.
      store.update(makeRun({ id: 'a1', group: group('a'), status: 'RUNNING' }));
      expect(await pageThrough(store, running, 2)).toEqual(['a2', 'b1', 'a1']);
      expect(await store.count(running)).toBe(3);
    });

    it('keeps a cursor valid after the run it names is pruned', async () => {
      const { store } = await open({ logLinesPerRun: 100 });
      const now = Date.parse('2026-03-01T00:00:00Z');
      for (const [n, daysAgo] of [10, 9, 8, 1].entries()) {
        const at = new Date(now - daysAgo * DAY_MS);
        await store.insert(makeRun({ id: `r${n + 1}`, status: 'SUCCEEDED', queuedAt: at, startedAt: at, finishedAt: at }));
      }
      const first = await store.page({}, 2);
      expect(ids(first)).toEqual(['r4', 'r3']);
      expect(await store.prune({ maxFinishedRuns: 100, maxAgeMs: 7 * DAY_MS }, now)).toBe(3);
      const after = await store.page({}, 2, first.runs.at(-1)?.key);
      expect(ids(after)).toEqual([]);
      expect(after.hasPreviousPage).toBe(true);
    });

    it('keeps per failure group the name given last and every CI run id given, in the order first given', async () => {
      const { store, reopen } = await open({ logLinesPerRun: 100 });
      await store.insert(makeRun({ id: 'r1', group: { id: 'g', name: 'flaky login', runIds: ['ci-1', 'ci-2'] } }));
      expect(await store.group('g')).toEqual({ id: 'g', name: 'flaky login', runIds: ['ci-1', 'ci-2'] });
      await store.insert(makeRun({ id: 'r2', group: { id: 'g', name: 'login timeouts', runIds: ['ci-3', 'ci-1', 'ci-3'] } }));
      await store.insert(makeRun({ id: 'other', group: { id: 'h', name: 'other', runIds: [] } }));
      expect(await store.group('g')).toEqual({ id: 'g', name: 'login timeouts', runIds: ['ci-1', 'ci-2', 'ci-3'] });
      expect(await store.group('h')).toEqual({ id: 'h', name: 'other', runIds: [] });
      expect(await store.group('nope')).toBeUndefined();
      // A run keeps the group as it was given; the group is what its runs gave together.
      expect((await store.get('r1'))?.group.name).toBe('flaky login');
      expect(await (await reopen()).group('g')).toEqual(await store.group('g'));
    });

    it('changes nothing, not even its group, when a run cannot be inserted', async () => {
      const { store } = await open({ logLinesPerRun: 100 });
      await store.insert(makeRun({ id: 'r1', group: { id: 'g', name: 'first', runIds: ['ci-1'] } }));
      // The same run id again: the insert fails after nothing else was kept.
      await expect(
        Promise.resolve().then(() => store.insert(makeRun({ id: 'r1', group: { id: 'g', name: 'second', runIds: ['ci-2'] } }))),
      ).rejects.toThrow();
      expect(await store.group('g')).toEqual({ id: 'g', name: 'first', runIds: ['ci-1'] });
      await expect(
        Promise.resolve().then(() => store.insert(makeRun({ id: 'r1', group: { id: 'new', name: 'new', runIds: [] } }))),
      ).rejects.toThrow();
      expect(await store.group('new')).toBeUndefined();
      expect(await store.count({})).toBe(1);
    });

    it('prunes finished runs past the count and the age, with their logs and their emptied groups, never unfinished ones', async () => {
      const { store, storedLogCount } = await open({ logLinesPerRun: 100 });
      const now = Date.parse('2026-11-26T12:00:00Z');
      for (let i = 0; i < 30; i += 1) {
        const id = `run-${i}`;
        await store.insert(finished(id, new Date(now - (30 - i) * 1000), { id: `g-${i % 3 === 0 ? 'a' : 'b'}`, name: 'g', runIds: [] }));
        store.appendLog(id, 'STDOUT', 1, 'x');
      }
      await store.insert(finished('ancient', new Date(now - 8 * DAY_MS), { id: 'g-old', name: 'old', runIds: [] }));
      await store.insert(makeRun({ id: 'waiting', queuedAt: new Date(now - 10 * DAY_MS) }));
      expect(await store.prune({ maxFinishedRuns: 20, maxAgeMs: 7 * DAY_MS }, now)).toBe(11);
      expect(await store.count({})).toBe(21);
      expect(await store.get('waiting')).toBeDefined();
      expect(await store.get('ancient')).toBeUndefined();
      expect(await store.get('run-9')).toBeUndefined();
      expect(await store.get('run-10')).toBeDefined();
      expect(await storedLogCount('run-9')).toBe(0);
      expect(await storedLogCount('run-10')).toBe(1);
      expect(await store.group('g-old')).toBeUndefined();
      expect(await store.group('g-a')).toBeDefined();
      expect(await store.prune({ maxFinishedRuns: 20, maxAgeMs: 7 * DAY_MS }, now)).toBe(0);
    });
  });
}
