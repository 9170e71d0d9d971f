/**
 * The GraphQL operations the client sends, in one place (checked against `schema.graphql` by
 * test/client/operations.test.ts), and how their variables are built from the client's inputs.
 */
import type { EnvVars, ExecOptions, ExternalConfigInput, SandboxInput, WriteFileInput } from './types.js';

const RUN_FIELDS = /* GraphQL */ `
  fragment BosunClientRun on AgentRun {
    id
    agent
    status
    position
    failureReason
    error
    exitCode
    containerId
    queuedAt
    startedAt
    finishedAt
    idleTimeoutMs
    idleSince
  }
`;

const FILE_FIELDS = 'path type size mode';

export const START_AGENT = /* GraphQL */ `
  mutation BosunClientStart($input: StartAgentInput!) {
    startAgent(input: $input) {
      queue {
        position
      }
      run {
        ...BosunClientRun
      }
    }
  }
  ${RUN_FIELDS}
`;

export const AGENT_RUN = /* GraphQL */ `
  query BosunClientRun($id: ID!) {
    agentRun(id: $id) {
      ...BosunClientRun
    }
  }
  ${RUN_FIELDS}
`;

export const CANCEL_AGENT = /* GraphQL */ `
  mutation BosunClientCancel($id: ID!) {
    cancelAgent(id: $id) {
      ...BosunClientRun
    }
  }
  ${RUN_FIELDS}
`;

export const FINISH_AGENT = /* GraphQL */ `
  mutation BosunClientFinish($id: ID!, $exitCode: Int!, $error: String) {
    finishAgent(agentId: $id, exitCode: $exitCode, error: $error) {
      ...BosunClientRun
    }
  }
  ${RUN_FIELDS}
`;

export const QUEUE_POSITION = /* GraphQL */ `
  subscription BosunClientPosition($id: ID!) {
    queuePositionChanged(agentId: $id) {
      position
      status
    }
  }
`;

export const EXEC = /* GraphQL */ `
  mutation BosunClientExec($id: ID!, $command: String!, $options: ExecOptionsInput) {
    exec(agentId: $id, command: $command, options: $options) {
      exitCode
      stdout
      stderr
      truncated
      timedOut
      durationMs
      step {
        index
        command
        exitCode
        startedAt
        finishedAt
      }
    }
  }
`;

export const WRITE_FILES = /* GraphQL */ `
  mutation BosunClientWriteFiles($id: ID!, $files: [FileInput!]!) {
    writeFiles(agentId: $id, files: $files) {
      ${FILE_FIELDS}
    }
  }
`;

export const UPLOAD_ARCHIVE = /* GraphQL */ `
  mutation BosunClientUpload($id: ID!, $archive: File!, $path: String) {
    uploadArchive(agentId: $id, archive: $archive, path: $path) {
      ${FILE_FIELDS}
    }
  }
`;

export const READ_FILE = /* GraphQL */ `
  query BosunClientReadFile($id: ID!, $path: String!) {
    readFile(agentId: $id, path: $path) {
      path
      size
      content
      contentBase64
      truncated
    }
  }
`;

export const LIST_FILES = /* GraphQL */ `
  query BosunClientListFiles($id: ID!, $path: String!) {
    listFiles(agentId: $id, path: $path) {
      ${FILE_FIELDS}
    }
  }
`;

export const ARTIFACTS = /* GraphQL */ `
  query BosunClientArtifacts($id: ID!) {
    agentRun(id: $id) {
      artifacts {
        path
        size
        sha256
        url
      }
    }
  }
`;

/** Every operation, by name, for the schema check. */
export const OPERATIONS: Readonly<Record<string, string>> = Object.freeze({
  START_AGENT,
  AGENT_RUN,
  CANCEL_AGENT,
  FINISH_AGENT,
  QUEUE_POSITION,
  EXEC,
  WRITE_FILES,
  UPLOAD_ARCHIVE,
  READ_FILE,
  LIST_FILES,
  ARTIFACTS,
});

/** `EnvVarInput` list of either form of {@link EnvVars}. */
export function envList(env: EnvVars | undefined): { name: string; value: string }[] | undefined {
  if (env === undefined) return undefined;
  if (Array.isArray(env)) return (env as readonly { name: string; value: string }[]).map(({ name, value }) => ({ name, value }));
  return Object.entries(env as Readonly<Record<string, string>>).map(([name, value]) => ({ name, value }));
}

/** `StartAgentInput` of a sandbox's input: the external agent, the rest as given. */
export function startAgentInput(input: SandboxInput): Record<string, unknown> {
  const config: ExternalConfigInput = input.config ?? {};
  const { env, ...rest } = config;
  return {
    group: input.group,
    ...(input.initialRepoContext === undefined ? {} : { initialRepoContext: input.initialRepoContext }),
    config: { ...rest, ...(env === undefined ? {} : { env: envList(env) }), agent: 'external' },
  };
}

/** `ExecOptionsInput` of {@link ExecOptions} (without its signal); null when nothing is set. */
export function execOptionsInput(options: ExecOptions): Record<string, unknown> | null {
  const input: Record<string, unknown> = {};
  if (options.cwd !== undefined) input['cwd'] = options.cwd;
  if (options.env !== undefined) input['env'] = envList(options.env);
  if (options.timeoutMs !== undefined) input['timeoutMs'] = options.timeoutMs;
  if (options.stdin !== undefined) input['stdin'] = options.stdin;
  return Object.keys(input).length === 0 ? null : input;
}

/** `FileInput` of a {@link WriteFileInput}: text as `content`, bytes as `contentBase64`. */
export function fileInput(file: WriteFileInput): Record<string, unknown> {
  const content =
    typeof file.content === 'string'
      ? { content: file.content }
      : { contentBase64: Buffer.from(file.content.buffer, file.content.byteOffset, file.content.byteLength).toString('base64') };
  return { path: file.path, ...content, ...(file.mode === undefined ? {} : { mode: file.mode }) };
}
