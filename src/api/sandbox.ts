/**
 * External runs in the API: the calls an agent in its own process makes on its run's live
 * sandbox — `exec`, `writeFiles`, `uploadArchive` (a `File` upload), `readFile`, `listFiles`,
 * `finishAgent` — their input and reply types, and the `File` scalar. The rules (validation,
 * which run takes calls, concurrency, idleness) are the external run service's; this module only
 * adapts it. Mutations need the API token like every mutation (operation-access.ts).
 */
import { GraphQLError } from 'graphql';
import { BosunError } from '../errors.js';
import type { BosunContext, ExternalRunApi } from './context.js';
import type { FileContent } from '../runs/external/external-run-service.js';
import type { ExecOutcome } from '../runs/external/external-session.js';
import type { ReopenableBytes, SandboxFileInfo, SandboxFileType } from '../sandbox/sandbox.js';
import { requireId } from './arguments.js';
import type { BosunBuilder } from './builder.js';
import type { RunRefs } from './runs.js';

const FILE_TYPES = {
  FILE: { description: 'A regular file.' },
  DIRECTORY: { description: 'A directory.' },
  SYMLINK: { description: 'A symbolic link (not followed).' },
  OTHER: { description: 'Anything else: a device, a FIFO, a socket.' },
} as const satisfies Record<SandboxFileType, { readonly description: string }>;

/** The TypeScript type GraphQL Code Generator gives the `File` scalar. */
export const FILE_CODEGEN_TYPE = 'Blob';

/** The external run service, or UNAVAILABLE when the server was built without it. */
function external(ctx: BosunContext): ExternalRunApi {
  if (!ctx.services.external) throw new BosunError('UNAVAILABLE', 'this server takes no calls on external runs');
  return ctx.services.external;
}

/** Whether `value` is an upload: a Blob-like with a size and a stream (yoga's `File`, a file-backed Blob). */
function isUpload(value: unknown): value is ReopenableBytes {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<ReopenableBytes>).size === 'number' &&
    typeof (value as Partial<ReopenableBytes>).stream === 'function'
  );
}

/** Registers the `File` scalar and the external-run types and fields on `builder`. */
export function addSandbox(builder: BosunBuilder, runs: Pick<RunRefs, 'EnvVarInput'>): void {
  const { EnvVarInput } = runs;
  builder.scalarType('File', {
    description:
      'A file uploaded with the GraphQL multipart request spec (https://github.com/jaydenseric/graphql-multipart-request-spec): a `multipart/form-data` POST with the parts `operations`, `map`, then the file. Input only.',
    serialize: () => {
      throw new GraphQLError('File is an input type only');
    },
    parseValue: (value) => {
      if (!isUpload(value)) throw new GraphQLError('File: expected an upload (a multipart request part named in "map")');
      return value;
    },
    parseLiteral: () => {
      throw new GraphQLError('File: expected an upload (a multipart request part), not a literal');
    },
    // GraphQL Code Generator's type for it (see date-time.ts): what a client hands over, a Blob (a File is one).
    extensions: { codegenScalarType: FILE_CODEGEN_TYPE },
  });

  const FileType = builder.enumType('FileType', {
    description: 'What a path in a sandbox is.',
    values: FILE_TYPES,
  });

  const SandboxFile = builder.objectRef<SandboxFileInfo>('SandboxFile').implement({
    description: "One entry of a sandbox's file system.",
    fields: (t) => ({
      path: t.exposeString('path', { description: 'Absolute and normalised.' }),
      type: t.expose('type', { type: FileType, description: 'A file, a directory, a symbolic link or something else.' }),
      size: t.float({ description: "Size in bytes (of a symbolic link: of its target's name).", resolve: (file) => file.sizeBytes }),
      mode: t.exposeInt('mode', { description: 'Permission bits, e.g. 420 (0o644).' }),
    }),
  });

  const FileContentRef = builder.objectRef<FileContent>('FileContent').implement({
    description: 'A file read from a sandbox: its first 10 MiB at most.',
    fields: (t) => ({
      path: t.exposeString('path', { description: 'The path read.' }),
      size: t.float({ description: "The file's whole size in bytes, even when fewer came back.", resolve: (file) => file.sizeBytes }),
      content: t.exposeString('content', {
        nullable: true,
        description: 'The bytes read as UTF-8 text; null when they are not UTF-8 (read `contentBase64` then).',
      }),
      contentBase64: t.exposeString('contentBase64', { description: 'The bytes read, in base64.' }),
      truncated: t.exposeBoolean('truncated', { description: 'True when the file is longer than the 10 MiB returned.' }),
    }),
  });

  const ExecResult = builder.objectRef<ExecOutcome>('ExecResult').implement({
    description: 'What a command run by `exec` did.',
    fields: (t) => ({
      step: t.expose('step', { type: 'StepResult', description: "The command as recorded among the run's steps (its log lines carry its index)." }),
      exitCode: t.exposeInt('exitCode', {
        nullable: true,
        description: 'The exit code; after a timeout, what the signal left (143 after SIGTERM, 137 after SIGKILL).',
      }),
      stdout: t.exposeString('stdout', {
        description: 'Standard output, whole up to 1 MiB, else its last 1 MiB (`truncated`); invalid UTF-8 replaced by U+FFFD.',
      }),
      stderr: t.exposeString('stderr', { description: 'Standard error, as `stdout`.' }),
      truncated: t.exposeBoolean('truncated', { description: 'True when stdout or stderr was longer than the 1 MiB returned.' }),
      timedOut: t.exposeBoolean('timedOut', { description: "True when the command's `timeoutMs` ended it (the run goes on)." }),
      durationMs: t.exposeInt('durationMs', { description: 'How long the command ran, in milliseconds.' }),
    }),
  });

  const ExecOptionsInput = builder.inputType('ExecOptionsInput', {
    description: 'How `exec` runs a command; every field has a default.',
    fields: (t) => ({
      cwd: t.string({ description: 'The working directory, an absolute path; default /workspace.' }),
      env: t.field({
        type: [EnvVarInput],
        description: "Variables added to the run's environment for this command; names starting BOSUN_ are refused.",
      }),
      timeoutMs: t.int({
        description: "Ends the command after this long (SIGTERM, then SIGKILL); default 60000. The run's deadline ends it in any case.",
      }),
      stdin: t.string({ description: "Written to the command's standard input, which is then closed." }),
    }),
  });

  const FileInput = builder.inputType('FileInput', {
    description: 'A file for `writeFiles`: exactly one of `content` and `contentBase64`.',
    fields: (t) => ({
      path: t.string({ required: true, description: 'Absolute and normalised, inside /workspace or /tmp; parents are created.' }),
      content: t.string({ description: 'The content as text, written as UTF-8.' }),
      contentBase64: t.string({ description: 'The content in strict base64 (padded, no whitespace).' }),
      mode: t.int({ description: 'Permission bits from 0 to 511 (0o777); default 420 (0o644).' }),
    }),
  });

  builder.queryFields((t) => ({
    readFile: t.field({
      type: FileContentRef,
      description:
        "Reads a file of a running external run's sandbox, at most 10 MiB. Waits while the run's set-up steps run; NOT_FOUND for a path that is not a file.",
      args: {
        agentId: t.arg.id({ required: true, description: 'The external run, RUNNING.' }),
        path: t.arg.string({ required: true, description: 'Absolute and normalised, inside /workspace or /tmp.' }),
      },
      resolve: (_root, args, ctx) => external(ctx).readFile(requireId('agentId', args.agentId), args.path, ctx.signal),
    }),
    listFiles: t.field({
      type: [SandboxFile],
      description:
        "The entries directly under a directory of a running external run's sandbox (or the one entry of a file), at most 10,000. NOT_FOUND for a path that does not exist.",
      args: {
        agentId: t.arg.id({ required: true, description: 'The external run, RUNNING.' }),
        path: t.arg.string({ required: true, description: 'Absolute and normalised, inside (or equal to) /workspace or /tmp.' }),
      },
      resolve: (_root, args, ctx) => external(ctx).listFiles(requireId('agentId', args.agentId), args.path, ctx.signal),
    }),
  }));

  builder.mutationFields((t) => ({
    exec: t.field({
      type: ExecResult,
      description:
        "Runs `sh -c command` in a running external run's sandbox as its next step (recorded in `steps`, its output in `agentLogs`) and answers when it exits. A non-zero exit does not end the run. At most 8 at once per run (RATE_LIMITED past them); waits while the run's set-up steps run; an error says why when the run is cancelled or reaches its deadline meanwhile. Over HTTP, a client that goes away ends the command as its timeout would (SIGTERM, then SIGKILL).",
      args: {
        agentId: t.arg.id({ required: true, description: 'The external run, RUNNING.' }),
        command: t.arg.string({ required: true, description: 'A shell command, run with `sh -c`.' }),
        options: t.arg({ type: ExecOptionsInput, description: 'Working directory, environment, timeout, standard input.' }),
      },
      resolve: (_root, args, ctx) => external(ctx).exec(requireId('agentId', args.agentId), args.command, args.options, ctx.signal),
    }),
    writeFiles: t.field({
      type: [SandboxFile],
      description:
        "Writes files into a running external run's sandbox, creating their parent directories, owned by the run's user: at most 100 files and 10 MiB a call. Answers each file as written; FILE_ERROR, quoting the sandbox, when it refuses (no space left, a directory in the way), and the run goes on.",
      args: {
        agentId: t.arg.id({ required: true, description: 'The external run, RUNNING.' }),
        files: t.arg({ type: [FileInput], required: true, description: 'The files, each path at most once.' }),
      },
      resolve: (_root, args, ctx) => external(ctx).writeFiles(requireId('agentId', args.agentId), args.files, ctx.signal),
    }),
    uploadArchive: t.field({
      type: [SandboxFile],
      description:
        "Extracts an uploaded tar or tar.gz (at most UPLOAD_MAX_BYTES) into a directory of a running external run's sandbox, and answers its top-level entries. An entry that would land outside `path` (absolute, `..`, a link pointing out) refuses the whole archive (BAD_USER_INPUT) and nothing is extracted. Sent as a multipart request, with the x-graphql-csrf header.",
      args: {
        agentId: t.arg.id({ required: true, description: 'The external run, RUNNING.' }),
        archive: t.arg({ type: 'File', required: true, description: "The tar or gzip'd tar." }),
        path: t.arg.string({
          description: 'Where to extract it, inside (or equal to) /workspace or /tmp; created when missing; default /workspace.',
        }),
      },
      resolve: (_root, args, ctx) => external(ctx).uploadArchive(requireId('agentId', args.agentId), args.archive, args.path, ctx.signal),
    }),
    finishAgent: t.field({
      type: 'AgentRun',
      description:
        'Ends a running external run as its agent says — exit code 0: SUCCEEDED; anything else: FAILED / NON_ZERO_EXIT with `error` — and answers once it has its final status (its sandbox gone). Commands still running are stopped. INVALID_STATE for a run that is not external or has finished already.',
      args: {
        agentId: t.arg.id({ required: true, description: 'The external run, RUNNING.' }),
        exitCode: t.arg.int({ required: true, description: "The agent's exit code, 0 to 255: 0 for success." }),
        error: t.arg.string({ description: 'Why the agent failed, for people (at most 4096 characters).' }),
      },
      resolve: (_root, args, ctx) => external(ctx).finish(requireId('agentId', args.agentId), args.exitCode, args.error, ctx.signal),
    }),
  }));
}
