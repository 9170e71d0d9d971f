/**
 * Live sandboxes as the engine itself sees them: `docker events` (start / die of containers
 * carrying a label), replayed in the engine's time order, give the most containers alive at once —
 * overall and per label value (per bosun instance, when several nodes share one engine).
 */
import { spawn, type ChildProcess } from 'node:child_process';

interface ContainerEvent {
  readonly nano: bigint;
  readonly delta: 1 | -1;
  /** The event's container's value of the followed label. */
  readonly value: string;
}

/** Follows `docker events` for start / die of containers whose `label` is one of `values`; {@link stop} ends it. */
export class LiveContainers {
  private readonly events: ContainerEvent[] = [];
  private readonly process: ChildProcess;
  private readonly values: ReadonlySet<string>;
  private buffer = '';

  /** `values` empty: any value of `label`. */
  constructor(
    private readonly label: string,
    values: readonly string[],
  ) {
    this.values = new Set(values);
    // One value: the engine filters on it; several: it filters on the key, and the values are checked here.
    const filter = values.length === 1 ? `label=${label}=${values[0]}` : `label=${label}`;
    this.process = spawn(
      'docker',
      ['events', '--filter', 'type=container', '--filter', filter, '--filter', 'event=start', '--filter', 'event=die', '--format', '{{json .}}'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    this.process.stdout!.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString();
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        if (line.trim() !== '') this.record(line);
      }
    });
  }

  private record(line: string): void {
    const event = JSON.parse(line) as {
      Action?: string;
      status?: string;
      timeNano: number | string;
      Actor?: { Attributes?: Record<string, string> };
    };
    const value = event.Actor?.Attributes?.[this.label] ?? '';
    if (this.values.size > 0 && !this.values.has(value)) return;
    const action = event.Action ?? event.status;
    this.events.push({ nano: BigInt(event.timeNano), delta: action === 'start' ? 1 : -1, value });
  }

  get starts(): number {
    return this.events.filter((event) => event.delta === 1).length;
  }

  /** The most containers alive at once; of one label value only when `value` is given. */
  peak(value?: string): number {
    let live = 0;
    let peak = 0;
    // A die and a start at the same instant: count the die first (the slot was already free).
    const ordered = this.events
      .filter((event) => value === undefined || event.value === value)
      .sort((x, y) => (x.nano === y.nano ? x.delta - y.delta : x.nano < y.nano ? -1 : 1));
    for (const event of ordered) {
      live += event.delta;
      peak = Math.max(peak, live);
    }
    return peak;
  }

  stop(): void {
    this.process.kill();
  }
}
