/**
 * What the API does to external runs, as an interface: {@link ExternalRunService} implements it
 * on this process's sandboxes, and a cluster node plugs in one that routes each call to the node
 * holding the run's sandbox (src/cluster/node-forwarding.ts). The rules of each call (input
 * checks, which run takes calls, its errors) are the local service's.
 */
import type { ReopenableBytes, SandboxFileInfo } from '../../sandbox/sandbox.js';
import type { AgentRun } from '../agent-run.js';
import type { ExecOptionsInput } from './exec-inputs.js';
import type { ExecOutcome } from './external-session.js';
import type { FileInput } from './file-inputs.js';

/** What `readFile` answers. */
export interface FileContent {
  readonly path: string;
  /** The file's whole size. */
  readonly sizeBytes: number;
  /** The bytes as text, or null when they are not UTF-8. */
  readonly content: string | null;
  readonly contentBase64: string;
  readonly truncated: boolean;
}

/**
 * The calls of external runs. Every call takes its caller's signal: a caller that goes away
 * ends the call (an `exec`'s command is stopped as its timeout would stop it).
 */
export interface ExternalRuns {
  /** Runs `sh -c command` as the run's next step and answers with its outcome and output. */
  exec(runId: string, command: string, options?: ExecOptionsInput | null, signal?: AbortSignal): Promise<ExecOutcome>;
  /** Writes files (parents created); answers each as written. */
  writeFiles(runId: string, files: readonly FileInput[], signal?: AbortSignal): Promise<SandboxFileInfo[]>;
  /** Extracts a tar or tar.gz into `path` (default /workspace); answers its top-level entries. */
  uploadArchive(runId: string, archive: ReopenableBytes, path: string | null | undefined, signal?: AbortSignal): Promise<SandboxFileInfo[]>;
  /** Reads the first bytes of a file (at most 10 MiB). */
  readFile(runId: string, path: string, signal?: AbortSignal): Promise<FileContent>;
  /** The entries directly under a directory (or the one entry of a file). */
  listFiles(runId: string, path: string, signal?: AbortSignal): Promise<SandboxFileInfo[]>;
  /** A tar stream of a path; the call lasts until the stream ends or `signal` aborts. */
  readArchive(runId: string, path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
  /** Ends the run as its agent says, and answers the run once it has its final status. */
  finish(runId: string, exitCode: number, error: string | null | undefined, signal?: AbortSignal): Promise<AgentRun>;
}
