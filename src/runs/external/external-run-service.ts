/**
 * What the API does to external runs: run a command, write, read and list files, extract an
 * upload, stream an archive, finish. Each call checks its input, then finds the run's live
 * session ({@link ExternalSessions}) under these rules:
 * - an unknown run: NOT_FOUND;
 * - a run of another agent: INVALID_STATE (only external runs take calls);
 * - a QUEUED run: INVALID_STATE, with its position in the line;
 * - a RUNNING run whose sandbox is being created or whose set-up steps run: the call waits for
 *   them (or for the run's end, or for its caller to go away);
 * - in a cluster, a run RUNNING on another node: {@link RunHeldElsewhere} (forwarding sends the
 *   call on; see src/cluster/node-forwarding.ts);
 * - a run that is ending or has ended: INVALID_STATE, saying how it ended.
 * The session applies the rest (concurrency, idleness, what an error says).
 */
import { BosunError, InvalidValueError, badUserInput } from '../../errors.js';
import type { AgentRun } from '../agent-run.js';
import { isFinalStatus } from '../agent-run.js';
import type { RunService } from '../run-service.js';
import type { ReopenableBytes, SandboxFileInfo } from '../../sandbox/sandbox.js';
import { SANDBOX_WORKSPACE_DIR } from '../../sandbox/container-config.js';
import { resolveExecInput, resolveFinishInput, type ExecOptionsInput } from './exec-inputs.js';
import type { ExecOutcome, ExternalSession } from './external-session.js';
import type { ExternalSessions } from './external-sessions.js';
import { resolveFileInputs, type FileInput } from './file-inputs.js';
import { requireSandboxPath } from './sandbox-paths.js';
import type { ExternalRuns, FileContent } from './external-runs.js';

export type { FileContent } from './external-runs.js';

const MiB = 1024 * 1024;
/** `readFile` returns at most this many bytes of a file. */
export const MAX_READ_BYTES = 10 * MiB;
/** `listFiles` answers directories of at most this many entries. */
export const MAX_LIST_ENTRIES = 10_000;

export interface ExternalRunServiceOptions {
  readonly runs: Pick<RunService, 'get' | 'position' | 'events'>;
  readonly sessions: ExternalSessions;
  /** An upload larger than this is refused (UPLOAD_MAX_BYTES; the HTTP layer refuses it first). */
  readonly uploadMaxBytes: number;
  /** What an extracted upload may hold at most, decompressed (the workspace's size). */
  readonly extractMaxBytes: number;
  /** This node's name in a cluster (`AgentRun.node` of the runs it runs); null or absent embedded. */
  readonly nodeName?: string | null;
  /**
   * Cluster mode: writes what waits for the shared store (RunStore.flush). `finish` answers only
   * once the final run is written, so that a read sent to any node after it finds it final.
   */
  readonly flush?: () => Promise<unknown>;
}

/**
 * A call reached a node other than the one that runs its run (the run started elsewhere while the
 * call was on its way). Node forwarding sends the call on to that node; without it, the caller is
 * told where the run is.
 */
export class RunHeldElsewhere extends BosunError {
  constructor(
    readonly runId: string,
    readonly node: string,
  ) {
    super('UNAVAILABLE', `run ${runId} runs on node ${node}: send the call there`);
  }
}

export class ExternalRunService implements ExternalRuns, Disposable {
  private readonly runs: ExternalRunServiceOptions['runs'];
  private readonly sessions: ExternalSessions;
  private readonly onRunUpdated = (run: AgentRun): void => {
    if (isFinalStatus(run.status)) this.sessions.runEnded(run.id);
  };

  constructor(private readonly options: ExternalRunServiceOptions) {
    this.runs = options.runs;
    this.sessions = options.sessions;
    this.runs.events.on('run-updated', this.onRunUpdated);
  }

  /**
   * Runs `sh -c command` as the run's next step and answers with its outcome and output.
   * @param signal the caller's: aborts the wait for the set-up, and ends the command (SIGTERM,
   *   then SIGKILL, as its timeout would) when the caller goes away.
   * @throws BosunError BAD_USER_INPUT, NOT_FOUND, INVALID_STATE, RATE_LIMITED, SANDBOX_ERROR, SHUTTING_DOWN
   */
  async exec(runId: string, command: string, options?: ExecOptionsInput | null, signal?: AbortSignal): Promise<ExecOutcome> {
    const request = resolveExecInput(command, options);
    return (await this.session(runId, signal)).exec(request, signal);
  }

  /** Writes files (parents created), owned by the run's user. @throws BosunError FILE_ERROR when the sandbox refuses (no space left), plus those of exec. */
  async writeFiles(runId: string, files: readonly FileInput[], signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    const resolved = resolveFileInputs(files);
    return (await this.session(runId, signal)).writeFiles(resolved);
  }

  /**
   * Extracts a tar or tar.gz into `path` (default /workspace); answers its top-level entries.
   * @throws BosunError BAD_USER_INPUT (a bad path, an archive too large or refused), plus those of exec.
   */
  async uploadArchive(runId: string, archive: ReopenableBytes, path: string | null | undefined, signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    const target = requireSandboxPath('path', path ?? SANDBOX_WORKSPACE_DIR);
    if (archive.size > this.options.uploadMaxBytes) {
      throw badUserInput(
        'archive',
        new InvalidValueError(`an archive of at most ${this.options.uploadMaxBytes} bytes (UPLOAD_MAX_BYTES)`, `${archive.size} bytes`),
      );
    }
    return (await this.session(runId, signal)).extractArchive(target, archive, this.options.extractMaxBytes);
  }

  /** Reads up to {@link MAX_READ_BYTES} of a file. @throws BosunError NOT_FOUND for a path that is not a file, plus those of exec. */
  async readFile(runId: string, path: string, signal?: AbortSignal): Promise<FileContent> {
    const target = requireSandboxPath('path', path, 'file');
    const result = await (await this.session(runId, signal)).readFile(target, MAX_READ_BYTES);
    const bytes = Buffer.from(result.content.buffer, result.content.byteOffset, result.content.byteLength);
    return {
      path: result.path,
      sizeBytes: result.sizeBytes,
      content: utf8OrNull(bytes, result.truncated),
      contentBase64: bytes.toString('base64'),
      truncated: result.truncated,
    };
  }

  /**
   * The entries directly under a directory (or the one entry of a file).
   * @throws BosunError NOT_FOUND for a path that does not exist, BAD_USER_INPUT for a directory
   *   of more than {@link MAX_LIST_ENTRIES} entries, plus those of exec.
   */
  async listFiles(runId: string, path: string, signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    const target = requireSandboxPath('path', path);
    const entries = await (await this.session(runId, signal)).listFiles(target);
    if (entries.length > MAX_LIST_ENTRIES) {
      throw new BosunError(
        'BAD_USER_INPUT',
        `path: ${target} holds ${entries.length} entries, more than the ${MAX_LIST_ENTRIES} listFiles answers; list a directory under it, or download it as an archive`,
        { field: 'path' },
      );
    }
    return entries;
  }

  /**
   * A tar stream of a path (for `GET /runs/{id}/archive`); its call stays in flight until the
   * stream ends.
   * @param signal the reader's: aborts the wait and the stream when the client goes away.
   */
  async readArchive(runId: string, path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const target = requireSandboxPath('path', path);
    return (await this.session(runId, signal)).readArchive(target, signal);
  }

  /**
   * Ends the run as its agent says (0: SUCCEEDED; else FAILED / NON_ZERO_EXIT with `error`) and
   * answers once it has its final status (its sandbox gone).
   * @throws BosunError BAD_USER_INPUT, NOT_FOUND, INVALID_STATE (not external, queued, finished already)
   */
  async finish(runId: string, exitCode: number, error: string | null | undefined, signal?: AbortSignal): Promise<AgentRun> {
    const input = resolveFinishInput(exitCode, error);
    // Followed before the run is read (asynchronously): a final status recorded meanwhile is not missed.
    let onFinal!: (run: AgentRun) => void;
    const final = new Promise<AgentRun>((resolve) => {
      onFinal = (run) => {
        if (run.id === runId && isFinalStatus(run.status)) resolve(run);
      };
    });
    this.runs.events.on('run-updated', onFinal);
    try {
      (await this.session(runId, signal)).finish(input.exitCode, input.error);
      const run = await this.require(runId);
      const ended = isFinalStatus(run.status) ? run : await final;
      await this.options.flush?.();
      return ended;
    } finally {
      this.runs.events.off('run-updated', onFinal);
    }
  }

  /** Since when an external run has had no call in flight; null while one is, and for other runs. */
  idleSince(runId: string): Date | null {
    return this.sessions.openSession(runId)?.idleSince ?? null;
  }

  /** Stops following the runs. */
  [Symbol.dispose](): void {
    this.runs.events.off('run-updated', this.onRunUpdated);
  }

  /** The run's open session, once it has one (see the module comment). */
  private async session(runId: string, signal?: AbortSignal): Promise<ExternalSession> {
    for (;;) {
      const run = await this.require(runId);
      if (run.config.idleTimeoutMs === null || run.config.idleTimeoutMs === undefined) {
        throw new BosunError(
          'INVALID_STATE',
          `run ${runId} runs agent ${JSON.stringify(run.config.agent)}, which takes no calls; only external runs (agent "external") do`,
        );
      }
      if (run.status === 'QUEUED') {
        const position = this.runs.position(runId);
        throw new BosunError(
          'INVALID_STATE',
          `run ${runId} is QUEUED${position > 0 ? ` at position ${position}` : ''}; it takes calls once it is RUNNING`,
        );
      }
      if (isFinalStatus(run.status)) {
        throw new BosunError('INVALID_STATE', `run ${runId} has finished (${run.status}${run.failureReason ? ` / ${run.failureReason}` : ''})`);
      }
      const node = this.options.nodeName ?? null;
      if (node !== null && run.status === 'RUNNING' && run.node !== null && run.node !== node) throw new RunHeldElsewhere(runId, run.node);
      const entry = this.sessions.get(runId);
      if (entry?.state === 'open' && entry.session.isOpen) return entry.session;
      if (entry?.state === 'open' || entry?.state === 'ended') {
        const how = entry.session?.describeEnding() ?? 'ended before it took calls';
        throw new BosunError('INVALID_STATE', `run ${runId} ${how}; it takes no more calls`);
      }
      // Its sandbox is being created, or its set-up steps run.
      await this.sessions.nextChange(runId, signal);
    }
  }

  private async require(runId: string): Promise<AgentRun> {
    const run = await this.runs.get(runId);
    if (!run) throw new BosunError('NOT_FOUND', `agentId: no agent run with id ${JSON.stringify(runId)}`, { field: 'agentId' });
    return run;
  }
}

/** The bytes as text when they are UTF-8 (a character cut at the end of a truncated read counts as UTF-8), else null. */
export function utf8OrNull(bytes: Uint8Array, truncated: boolean): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes, { stream: truncated });
  } catch {
    return null;
  }
}
