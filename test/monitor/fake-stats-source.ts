/**
 * A fake of our own ContainerStatsSource: each stream is an async generator that the test drives
 * (push a frame, break it, end it). It counts the generators that are live, so tests can check
 * that the monitor ends every stream it opens.
 */
import type { ContainerStatsSource, EngineInfo } from '../../src/monitor/container-stats-source.js';
import type { ResourceStats } from '../../src/sandbox/resource-stats.js';

type Item = { kind: 'stats'; stats: ResourceStats } | { kind: 'error'; error: Error } | { kind: 'end' };

export class FakeStream {
  private readonly items: Item[] = [];
  private wakeReader: (() => void) | null = null;
  finished = false;
  readonly openedAtMs = performance.now();

  constructor(
    readonly containerId: string,
    readonly signal: AbortSignal,
    private readonly ignoreAbort: boolean,
  ) {}

  push(stats: ResourceStats): void {
    this.put({ kind: 'stats', stats });
  }

  /** The next read throws: a broken stream. */
  fail(message = 'stats stream reset by peer'): void {
    this.put({ kind: 'error', error: new Error(message) });
  }

  /** The stream ends as when the container is gone. */
  end(): void {
    this.put({ kind: 'end' });
  }

  private put(item: Item): void {
    this.items.push(item);
    this.wakeReader?.();
  }

  async *iterate(source: FakeStatsSource): AsyncGenerator<ResourceStats> {
    source.live += 1;
    try {
      for (;;) {
        const item = await this.nextItem();
        if (item === null || item.kind === 'end') return;
        if (item.kind === 'error') throw item.error;
        yield item.stats;
      }
    } finally {
      source.live -= 1;
      this.finished = true;
    }
  }

  private nextItem(): Promise<Item | null> {
    const ready = this.items.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.signal.aborted && !this.ignoreAbort) return Promise.resolve(null);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.wakeReader = null;
        resolve(null);
      };
      this.wakeReader = () => {
        this.wakeReader = null;
        this.signal.removeEventListener('abort', onAbort);
        resolve(this.items.shift() ?? null);
      };
      if (!this.ignoreAbort) this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export class FakeStatsSource implements ContainerStatsSource {
  /** Every stream opened, in order. */
  readonly streams: FakeStream[] = [];
  /** Generators started and not yet finished. */
  live = 0;
  engine: EngineInfo | Error = { version: '27.1.1', cpus: 8, memoryBytes: 16 * 1024 ** 3 };
  /** Ping never answers (to test timeouts). */
  engineHangs = false;
  /** Every stream breaks on its first read (an engine that refuses the stats call). */
  failAtOnce = false;
  /** Streams ignore their abort signal (a misbehaving source). */
  ignoreAbort = false;
  engineCalls = 0;
  readonly names = new Map<string, string>();

  streamStats(containerId: string, signal: AbortSignal): AsyncIterable<ResourceStats> {
    const stream = new FakeStream(containerId, signal, this.ignoreAbort);
    this.streams.push(stream);
    if (this.failAtOnce) stream.fail('no such container');
    return stream.iterate(this);
  }

  async engineInfo(): Promise<EngineInfo> {
    this.engineCalls += 1;
    if (this.engineHangs) return new Promise(() => {});
    if (this.engine instanceof Error) throw this.engine;
    return this.engine;
  }

  containerName(containerId: string): Promise<string> {
    const name = this.names.get(containerId);
    if (name === undefined) return Promise.reject(new Error(`No such container: ${containerId}`));
    return Promise.resolve(name);
  }

  /** The latest stream opened for a container. */
  stream(containerId: string): FakeStream {
    const stream = this.streams.findLast((s) => s.containerId === containerId);
    if (stream === undefined) throw new Error(`no stream was opened for ${containerId}`);
    return stream;
  }

  streamsOf(containerId: string): FakeStream[] {
    return this.streams.filter((s) => s.containerId === containerId);
  }
}

/** Lets pending promise callbacks and I/O callbacks run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
