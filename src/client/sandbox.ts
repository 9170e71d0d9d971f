/**
 * One running external run, driven call by call: commands, files, archives, and its end.
 * {@link BosunClient.sandbox} hands one out once the run is RUNNING.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { ScratchDir, extractArchive, packDirectory, spool } from './archive-files.js';
import { BosunClientError } from './errors.js';
import type { HttpTransport } from './http-transport.js';
import {
  AGENT_RUN,
  ARTIFACTS,
  CANCEL_AGENT,
  EXEC,
  FINISH_AGENT,
  LIST_FILES,
  READ_FILE,
  UPLOAD_ARCHIVE,
  WRITE_FILES,
  execOptionsInput,
  fileInput,
} from './operations.js';
import type { Artifact, ExecOptions, ExecResult, FileContent, RequestOptions, RunInfo, SandboxFile, WriteFileInput } from './types.js';

/** Where uploads land when no path is given. */
export const DEFAULT_UPLOAD_PATH = '/workspace';

/**
 * A running external run's sandbox. Every method takes an optional `signal`; failures reject
 * with a {@link BosunClientError} carrying the server's code (e.g. `INVALID_STATE` once the run
 * has ended, `RATE_LIMITED` past 8 commands at once, `BAD_USER_INPUT` with `field` for a path
 * outside /workspace and /tmp).
 *
 * Disposing of it (`await using`, or {@link dispose}) cancels the run unless {@link finish} or
 * {@link cancel} ended it first: a sandbox left behind would otherwise hold its slot until its
 * idle timeout.
 */
export class Sandbox implements AsyncDisposable {
  private ended = false;

  constructor(
    /** The run's id (`agentId`). */
    readonly id: string,
    private readonly transport: HttpTransport,
  ) {}

  /**
   * Runs `sh -c command` as the run's next step and resolves when it exits, whatever its exit
   * code (a non-zero exit does not end the run). On its timeout (default 60 s) the command is
   * stopped and `timedOut` is true.
   */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const data = await this.transport.request<{ exec: ExecResult }>(
      EXEC,
      { id: this.id, command, options: execOptionsInput(options) },
      options.signal,
    );
    return data.exec;
  }

  /** Writes files (text or bytes; parents created), at most 100 and 10 MiB a call; resolves with each as written. */
  async writeFiles(files: readonly WriteFileInput[], options: RequestOptions = {}): Promise<SandboxFile[]> {
    const data = await this.transport.request<{ writeFiles: SandboxFile[] }>(
      WRITE_FILES,
      { id: this.id, files: files.map(fileInput) },
      options.signal,
    );
    return data.writeFiles;
  }

  /**
   * Uploads what a local directory holds into `remotePath` (default /workspace, created when
   * missing): packed as a gzip'd tar in a temporary file (never whole in memory) and sent as a
   * GraphQL multipart request. Files, directories and symlinks go; the server refuses the whole
   * archive if a symlink leads outside `remotePath`. Resolves with the top-level entries.
   */
  async uploadDirectory(localDir: string, remotePath: string = DEFAULT_UPLOAD_PATH, options: RequestOptions = {}): Promise<SandboxFile[]> {
    await using scratch = await ScratchDir.create('bosun-upload-');
    const archivePath = join(scratch.path, 'upload.tar.gz');
    await packDirectory(localDir, archivePath, options.signal);
    // Awaited here: `await using` removes the spool file when the function returns.
    return await this.uploadArchive(await openAsBlob(archivePath), remotePath, options);
  }

  /** Uploads a tar or gzip'd tar (at most UPLOAD_MAX_BYTES) and extracts it into `remotePath` (default /workspace). */
  async uploadArchive(archive: Blob | Uint8Array, remotePath: string = DEFAULT_UPLOAD_PATH, options: RequestOptions = {}): Promise<SandboxFile[]> {
    const blob =
      archive instanceof Blob
        ? archive
        : new Blob([archive.buffer instanceof ArrayBuffer ? (archive as Uint8Array<ArrayBuffer>) : new Uint8Array(archive)]);
    const data = await this.transport.upload<{ uploadArchive: SandboxFile[] }>(
      UPLOAD_ARCHIVE,
      { id: this.id, path: remotePath },
      { variable: 'archive', blob, filename: 'archive.tar.gz' },
      options.signal,
    );
    return data.uploadArchive;
  }

  /** Reads a file, at most its first 10 MiB (`truncated` past them). */
  async readFile(path: string, options: RequestOptions = {}): Promise<FileContent> {
    const data = await this.transport.request<{ readFile: Omit<FileContent, 'bytes'> }>(READ_FILE, { id: this.id, path }, options.signal);
    const file = data.readFile;
    return { ...file, bytes: new Uint8Array(Buffer.from(file.contentBase64, 'base64')) };
  }

  /** The entries directly under a directory (or the one entry of a file). */
  async listFiles(path: string, options: RequestOptions = {}): Promise<SandboxFile[]> {
    const data = await this.transport.request<{ listFiles: SandboxFile[] }>(LIST_FILES, { id: this.id, path }, options.signal);
    return data.listFiles;
  }

  /**
   * Downloads a path of the sandbox as a tar (`GET /runs/{id}/archive?path=`) and extracts it
   * into `localDir` (created when missing). As with `docker cp`, the archive's entries are named
   * after the path's last component: `/workspace/out` lands in `localDir/out/`. An archive with
   * an entry that would land outside `localDir` is refused with UNSAFE_ARCHIVE before anything
   * is written. Resolves with the local paths written.
   */
  async downloadArchive(path: string, localDir: string, options: RequestOptions = {}): Promise<string[]> {
    const response = await this.transport.get(`/runs/${encodeURIComponent(this.id)}/archive?path=${encodeURIComponent(path)}`, options.signal);
    await using scratch = await ScratchDir.create('bosun-download-');
    const archivePath = join(scratch.path, 'download.tar');
    await spool(response.body!, archivePath, options.signal);
    return await extractArchive(archivePath, localDir, options.signal);
  }

  /**
   * Ends the run as its agent says: exit code 0 gives SUCCEEDED, anything else FAILED /
   * NON_ZERO_EXIT with `error`. Resolves with the final run (its artifacts kept, its sandbox gone).
   */
  async finish(exitCode = 0, error?: string, options: RequestOptions = {}): Promise<RunInfo> {
    const data = await this.transport.request<{ finishAgent: RunInfo }>(
      FINISH_AGENT,
      { id: this.id, exitCode, error: error ?? null },
      options.signal,
    );
    this.ended = true;
    return data.finishAgent;
  }

  /** Cancels the run (CANCELLED); resolves with it. */
  async cancel(options: RequestOptions = {}): Promise<RunInfo> {
    const data = await this.transport.request<{ cancelAgent: RunInfo }>(CANCEL_AGENT, { id: this.id }, options.signal);
    this.ended = true;
    return data.cancelAgent;
  }

  /** The run as it stands now. */
  async info(options: RequestOptions = {}): Promise<RunInfo> {
    const data = await this.transport.request<{ agentRun: RunInfo | null }>(AGENT_RUN, { id: this.id }, options.signal);
    if (data.agentRun === null) throw new BosunClientError('NOT_FOUND', `run ${this.id} does not exist (any more)`);
    return data.agentRun;
  }

  /**
   * The files kept from `config.artifacts`, ordered by path: empty until the run has ended
   * (after {@link finish} resolves, they are there).
   */
  async artifacts(options: RequestOptions = {}): Promise<Artifact[]> {
    const data = await this.transport.request<{ agentRun: { artifacts: Artifact[] } | null }>(ARTIFACTS, { id: this.id }, options.signal);
    if (data.agentRun === null) throw new BosunClientError('NOT_FOUND', `run ${this.id} does not exist (any more)`);
    return data.agentRun.artifacts;
  }

  /**
   * Downloads an artifact (one of {@link artifacts}, or its sandbox path) to `localPath`
   * (parents created), checking its size and SHA-256 on the way: a mismatch removes the file and
   * rejects with INTEGRITY_ERROR. Resolves with the absolute local path.
   */
  async downloadArtifact(artifact: Artifact | string, localPath: string, options: RequestOptions = {}): Promise<string> {
    const wanted = typeof artifact === 'string' ? await this.findArtifact(artifact, options) : artifact;
    const target = resolve(localPath);
    const response = await this.transport.get(wanted.url, options.signal);
    await mkdir(dirname(target), { recursive: true });
    const check = new DigestCheck();
    try {
      await pipeline(
        Readable.fromWeb(response.body! as NodeWebReadableStream<Uint8Array>),
        check,
        createWriteStream(target),
        ...(options.signal === undefined ? [] : [{ signal: options.signal }]),
      );
      if (check.bytes !== wanted.size || check.digest() !== wanted.sha256) {
        throw new BosunClientError(
          'INTEGRITY_ERROR',
          `artifact ${wanted.path} came as ${check.bytes} bytes that do not match its size (${wanted.size}) or SHA-256; removed ${target}`,
        );
      }
    } catch (error) {
      await rm(target, { force: true });
      if (options.signal?.aborted) throw options.signal.reason;
      throw error;
    }
    return target;
  }

  /** Cancels the run unless {@link finish} or {@link cancel} ended it; a run that ended by itself is left as it is. */
  async dispose(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await this.transport.request(CANCEL_AGENT, { id: this.id });
    } catch (error) {
      // Already over (finished, timed out) or pruned: nothing to cancel.
      if (error instanceof BosunClientError && (error.code === 'INVALID_STATE' || error.code === 'NOT_FOUND')) return;
      throw error;
    }
  }

  /** {@link dispose}: what `await using` calls. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  private async findArtifact(path: string, options: RequestOptions): Promise<Artifact> {
    const found = (await this.artifacts(options)).find((artifact) => artifact.path === path);
    if (found === undefined) throw new BosunClientError('NOT_FOUND', `run ${this.id} kept no artifact at ${path}`);
    return found;
  }
}

/** Counts and hashes what passes through. */
class DigestCheck extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}
