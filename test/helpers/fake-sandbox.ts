/**
 * A sandbox provider and sandboxes without an engine, for the run rules: each command does what
 * the test scripted (print lines, exit with a code, raise the kernel's OOM / pids counters, fail,
 * or run until stopped), the engine can be lost at any moment, and creating, stopping and
 * removing can be held open or made to fail. Everything settles on events, never on time.
 */
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import type {
  CreateSandboxOptions,
  EngineInfo,
  ExecOptions,
  ExecResult,
  LimitEvents,
  Sandbox,
  SandboxProvider,
  StopOptions,
} from '../../src/sandbox/sandbox.js';
import { settle } from './fake-async.js';

/** What one scripted command does. Default: nothing printed, exit 0. */
export interface FakeCommand {
  readonly stdout?: readonly string[];
  readonly stderr?: readonly string[];
  readonly exitCode?: number;
  /** The kernel killed this many processes at the memory limit while it ran. */
  readonly oomKills?: number;
  /** The kernel refused this many forks at the pids limit while it ran. */
  readonly pidsLimitHits?: number;
  /** Rejects with this error after printing (e.g. a SandboxError CONTAINER_GONE). */
  readonly error?: Error;
  /** Runs until its signal aborts, the sandbox is stopped or removed, or the engine is lost. */
  readonly hang?: boolean;
  /** Called as the command starts (after it printed): the moment to cancel, lose the engine, ... */
  readonly onRun?: (sandbox: FakeSandbox) => void;
}

export interface ExecRecord {
  readonly command: string;
  readonly options: ExecOptions;
}

/** A promise with its resolve outside: holds an operation open until the test lets it go. */
export class Gate {
  readonly opened: Promise<void>;
  open!: () => void;

  constructor() {
    this.opened = new Promise((resolve) => (this.open = resolve));
  }
}

export const FAKE_ENGINE: EngineInfo = Object.freeze({ version: 'fake', cpus: 4, memoryBytes: 8 * 1024 ** 3 });

export class FakeSandbox implements Sandbox {
  readonly execs: ExecRecord[] = [];
  readonly files = new Map<string, string | Uint8Array>();
  readonly stops: StopOptions[] = [];
  oomKills = 0;
  pidsLimitHits = 0;
  /** Set by a fake warm pool's hand-over (see test/sandbox/warm-pool.test.ts). */
  warmStart = false;
  disposeCalls = 0;
  /** Removed for good. */
  disposed = false;
  /** Stopped: no command runs any more. */
  stopped = false;
  /** How many dispose calls fail (DOCKER_ERROR) before one succeeds. */
  disposeFailures = 0;
  /** When set, stop() waits for it: a slow stop. */
  stopGate: Gate | undefined;
  /** Opens when stop() is first called. */
  readonly stopAsked = new Gate();
  /** Ends the commands that run until stopped, with the error they reject with. */
  private readonly running = new Set<(error: Error) => void>();

  constructor(
    private readonly provider: FakeSandboxProvider,
    readonly id: string,
    readonly options: CreateSandboxOptions,
  ) {}

  /** Commands run, in order. */
  get commands(): string[] {
    return this.execs.map((exec) => exec.command);
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    options.signal?.throwIfAborted();
    this.assertUsable(`run ${command}`);
    this.execs.push({ command, options });
    const script = this.provider.scriptFor(command);
    for (const line of script.stdout ?? []) options.onOutput?.('stdout', line);
    for (const line of script.stderr ?? []) options.onOutput?.('stderr', line);
    this.oomKills += script.oomKills ?? 0;
    this.pidsLimitHits += script.pidsLimitHits ?? 0;
    if (script.hang) {
      const ended = this.runUntilEnded(options.signal);
      script.onRun?.(this);
      return ended;
    }
    script.onRun?.(this);
    if (script.error) throw script.error;
    return { exitCode: script.exitCode ?? 0 };
  }

  /** Settles like a real command that outlives its caller: on abort, stop, removal or engine loss. */
  private runUntilEnded(signal: AbortSignal | undefined): Promise<never> {
    return new Promise<never>((_resolve, reject) => {
      const end = (error: Error) => {
        this.running.delete(end);
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      };
      const onAbort = () => end(signal!.reason as Error);
      this.running.add(end);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Ends every running command with `error`. */
  endRunning(error: Error): void {
    for (const end of [...this.running]) end(error);
  }

  writeFile(path: string, content: string | Uint8Array): Promise<void> {
    return settle(() => {
      this.assertUsable(`write ${path}`);
      this.files.set(path, content);
    });
  }

  limitEvents(): Promise<LimitEvents> {
    // Like the Docker sandbox: counters that cannot be read count as none, never an error.
    if (this.provider.engineLost) return Promise.resolve({ oomKills: 0, pidsLimitHits: 0 });
    return Promise.resolve({ oomKills: this.oomKills, pidsLimitHits: this.pidsLimitHits });
  }

  async stop(options: StopOptions): Promise<void> {
    this.stops.push(options);
    this.stopAsked.open();
    if (this.provider.engineLost) throw this.provider.engineError('stop');
    await this.stopGate?.opened;
    this.stopped = true;
    this.endRunning(new SandboxError('CONTAINER_GONE', `${this.id} was stopped`));
  }

  dispose(): Promise<void> {
    return settle(() => {
      this.disposeCalls += 1;
      if (this.disposed) return;
      if (this.provider.engineLost) throw this.provider.engineError('remove');
      if (this.disposeFailures > 0) {
        this.disposeFailures -= 1;
        throw new SandboxError('DOCKER_ERROR', `remove ${this.id}: the engine refused`);
      }
      this.disposed = true;
      this.stopped = true;
      this.endRunning(new SandboxError('CONTAINER_GONE', `${this.id} was removed`));
      this.provider.removed(this);
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private assertUsable(action: string): void {
    if (this.provider.engineLost) throw this.provider.engineError(action);
    if (this.stopped) throw new SandboxError('CONTAINER_GONE', `${action}: ${this.id} is not running`);
  }
}

export class FakeSandboxProvider implements SandboxProvider<FakeSandbox> {
  /** Every sandbox created, in order. */
  readonly created: FakeSandbox[] = [];
  /** Sandboxes given up on by their run (left for reaping). */
  readonly forgotten: FakeSandbox[] = [];
  readonly images = new Set(['bosun-sandbox:latest']);
  engineLost = false;
  /** When set, create() waits for it (honouring its signal). */
  createGate: Gate | undefined;
  /** When set, create() rejects with it. */
  createError: Error | undefined;
  /** Called with each new sandbox before create() returns: the place to make it slow or fragile. */
  onCreate: ((sandbox: FakeSandbox) => void) | undefined;
  private readonly rules: Array<readonly [string | RegExp, FakeCommand]> = [];
  private readonly live = new Set<FakeSandbox>();
  private sequence = 0;

  /** Scripts the commands that equal `command` (or match it); the first rule that matches wins. */
  on(command: string | RegExp, script: FakeCommand): this {
    this.rules.push([command, script]);
    return this;
  }

  scriptFor(command: string): FakeCommand {
    const rule = this.rules.find(([pattern]) => (typeof pattern === 'string' ? pattern === command : pattern.test(command)));
    return rule?.[1] ?? {};
  }

  /** From now on every call fails DOCKER_UNAVAILABLE, and commands that were running end so. */
  loseEngine(): void {
    this.engineLost = true;
    for (const sandbox of this.live) sandbox.endRunning(this.engineError('follow a command'));
  }

  restoreEngine(): void {
    this.engineLost = false;
  }

  engineError(action: string): SandboxError {
    return new SandboxError('DOCKER_UNAVAILABLE', `the fake engine is gone while trying to ${action}`);
  }

  /** Sandboxes created and neither removed nor forgotten. */
  liveSandboxes(): FakeSandbox[] {
    return [...this.live];
  }

  async create(options: CreateSandboxOptions): Promise<FakeSandbox> {
    options.signal?.throwIfAborted();
    if (this.engineLost) throw this.engineError('create a sandbox');
    if (this.createError) throw this.createError;
    if (!this.images.has(options.image)) throw new SandboxError('IMAGE_NOT_FOUND', `no such image: ${options.image}`);
    if (this.createGate) {
      const signal = options.signal;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal!.reason as Error);
        signal?.addEventListener('abort', onAbort, { once: true });
        void this.createGate!.opened.then(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
      options.signal?.throwIfAborted();
    }
    this.sequence += 1;
    const sandbox = new FakeSandbox(this, `fake${String(this.sequence).padStart(60, '0')}`, options);
    this.created.push(sandbox);
    this.live.add(sandbox);
    this.onCreate?.(sandbox);
    return sandbox;
  }

  imageExists(image: string): Promise<boolean> {
    if (this.engineLost) return Promise.reject(this.engineError(`look up image ${image}`));
    return Promise.resolve(this.images.has(image));
  }

  engineInfo(): Promise<EngineInfo> {
    if (this.engineLost) return Promise.reject(this.engineError('read the engine info'));
    return Promise.resolve(FAKE_ENGINE);
  }

  forget(sandbox: FakeSandbox): void {
    this.forgotten.push(sandbox);
    this.live.delete(sandbox);
  }

  /** Called by a sandbox once it is removed. */
  removed(sandbox: FakeSandbox): void {
    this.live.delete(sandbox);
  }
}
