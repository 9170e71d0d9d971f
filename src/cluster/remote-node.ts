/**
 * Another node of the cluster, reached through its public API with bosun's own client transport
 * (the operations an external agent sends), for the calls that must run where a run's sandbox
 * is. Answers come back as the domain's types, field for field, and errors as a
 * {@link BosunError} with the code the owner answered, so that a forwarded call looks to its
 * caller as if it had been served here. What is not the owner's refusal becomes UNAVAILABLE,
 * naming the node and its URL: the owner did not answer, refused this node's token, or answered
 * with something else than bosun's answer.
 *
 * Every request carries {@link FORWARDED_HEADER}, naming this node: the owner serves it on its
 * own sandboxes and never forwards it again (see node-forwarding.ts).
 */
import { BosunClientError } from '../client/errors.js';
import { HttpTransport } from '../client/http-transport.js';
import { CANCEL_AGENT, EXEC, FINISH_AGENT, LIST_FILES, READ_FILE, UPLOAD_ARCHIVE, WRITE_FILES } from '../client/operations.js';
import type { ExecResult, FileContent as ClientFileContent, SandboxFile } from '../client/types.js';
import { BOSUN_ERROR_CODES, BosunError, type BosunErrorCode } from '../errors.js';
import type { ExecOptionsInput } from '../runs/external/exec-inputs.js';
import type { FileContent } from '../runs/external/external-runs.js';
import type { ExecOutcome } from '../runs/external/external-session.js';
import type { FileInput } from '../runs/external/file-inputs.js';
import type { ReopenableBytes, SandboxFileInfo } from '../sandbox/sandbox.js';

/** The header of a forwarded request; its value is the forwarding node's name (URI-encoded). */
export const FORWARDED_HEADER = 'x-bosun-forwarded';

/** A node as the cluster knows it: its name, and the URL other nodes reach its API at (BOSUN_NODE_URL). */
export interface NodeAddress {
  readonly name: string;
  /** Its origin (`http://10.0.0.2:4000`) or its GraphQL endpoint (`…/graphql`). */
  readonly url: string;
}

export interface RemoteNodeOptions {
  /** The node that holds the run. */
  readonly node: NodeAddress;
  /** This node's name, sent in {@link FORWARDED_HEADER}. */
  readonly from: string;
  /** The cluster's BOSUN_API_TOKEN (the nodes share it); none when the nodes run without tokens. */
  readonly apiToken?: string | undefined;
  /** Default the global fetch. */
  readonly fetch?: typeof fetch | undefined;
}

/** Only what a forwarded `AgentRun.idleSince` needs (the client's run fragment asks for much more). */
const IDLE_SINCE = /* GraphQL */ `
  query BosunForwardedIdleSince($id: ID!) {
    agentRun(id: $id) {
      idleSince
    }
  }
`;

/** Codes of the owner's answer that are not about the call but about the nodes' set-up. */
const SET_UP_CODES: ReadonlySet<string> = new Set(['UNAUTHENTICATED', 'FORBIDDEN']);

/** The calls of {@link ExternalRuns} (and cancel) on one other node. Each call's `signal` aborts its HTTP request. */
export class RemoteNode {
  private readonly node: NodeAddress;
  private readonly transportOptions: ConstructorParameters<typeof HttpTransport>[0];

  constructor(options: RemoteNodeOptions) {
    this.node = options.node;
    this.transportOptions = {
      url: options.node.url,
      token: options.apiToken,
      fetch: options.fetch,
      headers: { [FORWARDED_HEADER]: encodeURIComponent(options.from) },
    };
  }

  async exec(runId: string, command: string, options: ExecOptionsInput | null | undefined, signal?: AbortSignal): Promise<ExecOutcome> {
    const data = await this.call(runId, (transport) =>
      transport.request<{ exec: ExecResult }>(EXEC, { id: runId, command, options: options ?? null }, signal),
    );
    return this.execOutcome(runId, data.exec);
  }

  async writeFiles(runId: string, files: readonly FileInput[], signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    const data = await this.call(runId, (transport) => transport.request<{ writeFiles: SandboxFile[] }>(WRITE_FILES, { id: runId, files }, signal));
    return data.writeFiles.map(fileInfo);
  }

  async uploadArchive(runId: string, archive: ReopenableBytes, path: string | null | undefined, signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    // The server hands uploads over as file-backed Blobs (sent from disk as they are); anything
    // else is at most UPLOAD_MAX_BYTES, read whole since FormData takes only Blobs.
    const blob = archive instanceof Blob ? archive : await new Response(archive.stream()).blob();
    const data = await this.call(runId, (transport) =>
      transport.upload<{ uploadArchive: SandboxFile[] }>(
        UPLOAD_ARCHIVE,
        { id: runId, path: path ?? null },
        { variable: 'archive', blob, filename: 'archive.tar' },
        signal,
      ),
    );
    return data.uploadArchive.map(fileInfo);
  }

  async readFile(runId: string, path: string, signal?: AbortSignal): Promise<FileContent> {
    const data = await this.call(runId, (transport) =>
      transport.request<{ readFile: Omit<ClientFileContent, 'bytes'> }>(READ_FILE, { id: runId, path }, signal),
    );
    const file = data.readFile;
    return { path: file.path, sizeBytes: file.size, content: file.content, contentBase64: file.contentBase64, truncated: file.truncated };
  }

  async listFiles(runId: string, path: string, signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    const data = await this.call(runId, (transport) => transport.request<{ listFiles: SandboxFile[] }>(LIST_FILES, { id: runId, path }, signal));
    return data.listFiles.map(fileInfo);
  }

  /** The owner's `GET /runs/{id}/archive?path=` body, streamed as it comes; `signal` also ends the stream. */
  async readArchive(runId: string, path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const route = `/runs/${encodeURIComponent(runId)}/archive?path=${encodeURIComponent(path)}`;
    const response = await this.call(runId, (transport) => transport.get(route, signal));
    return response.body ?? new Response(new Uint8Array(0)).body!;
  }

  /** Sends `finishAgent`; resolves once the owner has recorded the run's final status. */
  async finish(runId: string, exitCode: number, error: string | null | undefined, signal?: AbortSignal): Promise<void> {
    await this.call(runId, (transport) => transport.request(FINISH_AGENT, { id: runId, exitCode, error: error ?? null }, signal));
  }

  /** Sends `cancelAgent`; resolves once the owner has recorded the cancel. */
  async cancel(runId: string, signal?: AbortSignal): Promise<void> {
    await this.call(runId, (transport) => transport.request(CANCEL_AGENT, { id: runId }, signal));
  }

  /** The run's `idleSince` as its owner sees it (its session is there). */
  async idleSince(runId: string, signal?: AbortSignal): Promise<Date | null> {
    const data = await this.call(runId, (transport) =>
      transport.request<{ agentRun: { idleSince: string | null } | null }>(IDLE_SINCE, { id: runId }, signal),
    );
    return dateOrNull(data.agentRun?.idleSince ?? null);
  }

  /** Runs one request, with the owner's errors turned into bosun's (an abort's reason passes untouched). */
  private async call<T>(runId: string, request: (transport: HttpTransport) => Promise<T>): Promise<T> {
    let transport: HttpTransport;
    try {
      transport = new HttpTransport(this.transportOptions);
    } catch (error) {
      throw this.unavailable(runId, `has a URL this node cannot use (${(error as Error).message})`, error);
    }
    try {
      return await request(transport);
    } catch (error) {
      throw error instanceof BosunClientError ? this.fromOwner(runId, error) : error;
    }
  }

  private fromOwner(runId: string, error: BosunClientError): BosunError {
    if (error.code === 'NETWORK_ERROR') return this.unavailable(runId, `did not answer: ${error.message}`, error);
    if (SET_UP_CODES.has(error.code)) {
      return this.unavailable(runId, `refused this node's token (${error.code}: ${error.message}); the nodes must share BOSUN_API_TOKEN`, error);
    }
    if (isBosunErrorCode(error.code)) {
      return new BosunError(error.code, error.message, { ...(error.field === undefined ? {} : { field: error.field }), cause: error });
    }
    return this.unavailable(runId, `answered ${error.code}: ${error.message}`, error);
  }

  private unavailable(runId: string, what: string, cause: unknown): BosunError {
    return new BosunError('UNAVAILABLE', `node ${this.node.name} (${this.node.url}), which holds run ${runId}, ${what}`, { cause });
  }

  private execOutcome(runId: string, result: ExecResult): ExecOutcome {
    // The schema's exitCode is nullable for steps in general; an exec's answer always has one.
    if (result.exitCode === null) throw this.unavailable(runId, 'answered exec without an exit code', undefined);
    return {
      step: {
        index: result.step.index,
        command: result.step.command,
        exitCode: result.step.exitCode,
        startedAt: dateOrNull(result.step.startedAt),
        finishedAt: dateOrNull(result.step.finishedAt),
      },
      exitCode: result.exitCode,
      stdout: result.stdout,
      stderr: result.stderr,
      truncated: result.truncated,
      timedOut: result.timedOut,
      durationMs: result.durationMs,
    };
  }
}

function fileInfo(file: SandboxFile): SandboxFileInfo {
  return { path: file.path, type: file.type, sizeBytes: file.size, mode: file.mode };
}

function dateOrNull(value: string | null): Date | null {
  return value === null ? null : new Date(value);
}

function isBosunErrorCode(code: string): code is BosunErrorCode {
  return (BOSUN_ERROR_CODES as readonly string[]).includes(code);
}
