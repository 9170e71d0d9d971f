/**
 * `bosun/client`: a typed client for bosun's external agents, on `fetch` and `graphql-ws`.
 *
 * ```ts
 * import { BosunClient } from 'bosun/client';
 *
 * const bosun = new BosunClient({ url: 'http://127.0.0.1:8080/graphql', token: BOSUN_API_TOKEN });
 * await using sb = await bosun.sandbox(
 *   { group: { id: 'ci-42', name: 'CI 42' }, config: { artifacts: ['/workspace/out'] } },
 *   { onPosition: (position) => console.log(`waiting, #${position} in line`) },
 * );
 * await sb.uploadDirectory('./repo', '/workspace/repo');
 * const test = await sb.exec('sh test.sh', { cwd: '/workspace/repo' });
 * await sb.finish(test.exitCode === 0 ? 0 : 1);
 * for (const artifact of await sb.artifacts()) await sb.downloadArtifact(artifact, `./out${artifact.path}`);
 * ```
 *
 * `await using` needs `Symbol.asyncDispose` (Node 20.4 and later) and TypeScript 5.2+ (or a
 * bundler that lowers it); elsewhere call `sb.dispose()` and `bosun.close()` in a `finally`.
 */
export {
  BosunClient,
  createBosunClient,
  DEFAULT_POLL_INTERVAL_MS,
  type BosunClientOptions,
  type SandboxOptions,
  type WebSocketImplementation,
} from './bosun-client.js';
export {
  BosunClientError,
  RunEndedError,
  type BosunClientErrorOptions,
  type ClientSideCode,
  type GraphQLErrorShape,
  type ServerCode,
} from './errors.js';
export { CSRF_HEADER } from './http-transport.js';
export { DEFAULT_UPLOAD_PATH, Sandbox } from './sandbox.js';
export {
  FINAL_STATUSES,
  isFinalStatus,
  type AgentStatus,
  type Artifact,
  type EnvVars,
  type ExecOptions,
  type ExecResult,
  type ExternalConfigInput,
  type FailureGroupInput,
  type FailureReason,
  type FileContent,
  type FileType,
  type RequestOptions,
  type RunInfo,
  type SandboxFile,
  type SandboxInput,
  type StepResult,
  type WriteFileInput,
} from './types.js';
