/**
 * A sandbox provider and sandboxes without an engine, for the run rules: each command does what
 * the test scripted (print lines, exit with a code, raise the kernel's OOM / pids counters, fail,
 * or run until stopped), the engine can be lost at any moment, and creating, stopping and
 * removing can be held open or made to fail. Everything settles on events, never on time.
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { canonicalTar, checkArchive } from '../../src/sandbox/archive.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import type {
  CreateSandboxOptions,
  EngineInfo,
  ExecOptions,
  ExecResult,
  ExtractArchiveOptions,
  FileToWrite,
  LimitEvents,
  ReadFileOptions,
  ReadFileResult,
  ReopenableBytes,
  Sandbox,
  SandboxFileInfo,
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
  /** Comes back as ended by its timeout (`timedOut: true`, exit code 143 unless `exitCode` says). */
  readonly timedOut?: boolean;
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
  /** Files by absolute path; directories exist as the parents of files, or in {@link directories}. */
  readonly files = new Map<string, string | Uint8Array>();
  /** Permission bits of the files written with writeFiles or extracted (default 0o644). */
  readonly modes = new Map<string, number>();
  /** Directories that exist without a file under them (from archives). */
  readonly directories = new Set<string>();
  /** Symlinks by path, with their targets (from archives). */
  readonly symlinks = new Map<string, string>();
  readonly stops: StopOptions[] = [];
  oomKills = 0;
  pidsLimitHits = 0;
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
    if (script.timedOut) return { exitCode: script.exitCode ?? 143, timedOut: true };
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

  writeFiles(files: readonly FileToWrite[], signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    return settle(() => {
      signal?.throwIfAborted();
      this.assertUsable('write files');
      for (const file of files) {
        this.symlinks.delete(file.path);
        this.files.set(file.path, file.content);
        this.modes.set(file.path, file.mode ?? 0o644);
      }
      return files.map((file) => this.describe(file.path)!);
    });
  }

  readFile(path: string, options: ReadFileOptions): Promise<ReadFileResult> {
    return settle(() => {
      options.signal?.throwIfAborted();
      this.assertUsable(`read ${path}`);
      const content = this.files.get(path);
      if (content === undefined) {
        throw new SandboxError('FILE_NOT_FOUND', this.isDirectory(path) ? `${path} is a directory, not a file` : `${path} does not exist`);
      }
      const bytes = typeof content === 'string' ? Buffer.from(content) : content;
      const truncated = bytes.length > options.maxBytes;
      return { path, sizeBytes: bytes.length, content: truncated ? bytes.subarray(0, options.maxBytes) : bytes, truncated };
    });
  }

  listFiles(path: string, signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    return settle(() => {
      signal?.throwIfAborted();
      this.assertUsable(`list ${path}`);
      if (!this.isDirectory(path)) {
        const info = this.describe(path);
        if (!info) throw new SandboxError('FILE_NOT_FOUND', `${path} does not exist`);
        return [info];
      }
      const children = new Set<string>();
      for (const known of this.allPaths()) {
        if (known.startsWith(`${path}/`)) children.add(posix.join(path, known.slice(path.length + 1).split('/')[0]!));
      }
      return [...children].sort().map((child) => this.describe(child)!);
    });
  }

  /** Checks the archive as the Docker sandbox does (archive.ts), then keeps its entries in memory. */
  async extractArchive(path: string, archive: ReopenableBytes, options: ExtractArchiveOptions): Promise<SandboxFileInfo[]> {
    this.assertUsable(`extract into ${path}`);
    const checked = await checkArchive(archive, {
      destination: path,
      maxBytes: options.maxBytes,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    this.directories.add(path);
    const extract = tar.extract();
    const canonical = canonicalTar(archive, checked, options);
    canonical.on('error', (error) => extract.destroy(error));
    canonical.pipe(extract);
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const target = posix.join(path, entry.header.name).replace(/(.)\/$/, '$1');
      if (entry.header.type === 'directory') this.directories.add(target);
      else if (entry.header.type === 'symlink') this.symlinks.set(target, entry.header.linkname);
      else {
        const content = entry.header.type === 'link' ? this.files.get(posix.join(path, entry.header.linkname)) : Buffer.concat(chunks);
        this.files.set(target, content ?? new Uint8Array(0));
        this.modes.set(target, entry.header.mode & 0o7777);
      }
    }
    return checked.topLevel.map((name) => this.describe(posix.join(path, name))!);
  }

  /** A tar of what the fake holds under `path` (named by its base name), as the Docker sandbox streams it. */
  readArchive(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    return settle(() => {
      signal?.throwIfAborted();
      this.assertUsable(`archive ${path}`);
      if (!this.describe(path)) throw new SandboxError('FILE_NOT_FOUND', `${path} does not exist`);
      const base = posix.dirname(path);
      const pack = tar.pack();
      for (const known of [...this.allPaths()].sort()) {
        if (known !== path && !known.startsWith(`${path}/`)) continue;
        const name = posix.relative(base, known);
        const content = this.files.get(known);
        if (content !== undefined) pack.entry({ name, mode: this.modes.get(known) ?? 0o644 }, Buffer.from(content));
        else if (this.symlinks.has(known)) pack.entry({ name, type: 'symlink', linkname: this.symlinks.get(known)! });
        else pack.entry({ name, type: 'directory' });
      }
      pack.finalize();
      return Readable.toWeb(Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false })) as ReadableStream<Uint8Array>;
    });
  }

  /** Every path the fake knows: files, symlinks, directories and the parents of all of them. */
  private allPaths(): Set<string> {
    const paths = new Set<string>();
    for (const path of [...this.files.keys(), ...this.symlinks.keys(), ...this.directories]) {
      for (let current = path; current !== '/' && !paths.has(current); current = posix.dirname(current)) paths.add(current);
    }
    return paths;
  }

  private isDirectory(path: string): boolean {
    return !this.files.has(path) && !this.symlinks.has(path) && this.allPaths().has(path);
  }

  private describe(path: string): SandboxFileInfo | undefined {
    const content = this.files.get(path);
    if (content !== undefined) {
      const sizeBytes = typeof content === 'string' ? Buffer.byteLength(content) : content.length;
      return { path, type: 'FILE', sizeBytes, mode: this.modes.get(path) ?? 0o644 };
    }
    const target = this.symlinks.get(path);
    if (target !== undefined) return { path, type: 'SYMLINK', sizeBytes: Buffer.byteLength(target), mode: 0o777 };
    return this.allPaths().has(path) ? { path, type: 'DIRECTORY', sizeBytes: 0, mode: 0o755 } : undefined;
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
