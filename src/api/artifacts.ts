/**
 * Artifacts in the API: the `Artifact` type and `AgentRun.artifacts`, read from the artifact
 * store. Also the one definition of an artifact's download URL, `/runs/{agentId}/artifacts/{path}`,
 * which `url` gives and the server's download route (src/server/artifact-routes.ts) parses.
 */
import type { Artifact } from '../runs/artifact-store.js';
import type { BosunBuilder } from './builder.js';

const RUNS_SEGMENT = 'runs';
const ARTIFACTS_SEGMENT = 'artifacts';

/**
 * The download URL of an artifact, relative to the server's root: each segment of the run id and
 * of the sandbox path is percent-encoded, so `/workspace/out/a b.txt` of run `r1` is
 * `/runs/r1/artifacts/workspace/out/a%20b.txt`.
 */
export function artifactUrl(runId: string, path: string): string {
  const segments = path.split('/').filter((segment) => segment !== '');
  return `/${RUNS_SEGMENT}/${encodeURIComponent(runId)}/${ARTIFACTS_SEGMENT}/${segments.map(encodeURIComponent).join('/')}`;
}

/**
 * The run id and sandbox path named by a request's (still percent-encoded) URL path, or
 * undefined when it is not a download URL. The result is a lookup key, never a file name.
 */
export function parseArtifactUrl(pathname: string): { readonly runId: string; readonly path: string } | undefined {
  const [empty, runs, runId, artifacts, ...rest] = pathname.split('/');
  if (empty !== '' || runs !== RUNS_SEGMENT || runId === undefined || runId === '' || artifacts !== ARTIFACTS_SEGMENT || rest.length === 0) {
    return undefined;
  }
  try {
    return { runId: decodeURIComponent(runId), path: `/${rest.map(decodeURIComponent).join('/')}` };
  } catch {
    // A malformed escape (`%zz`) names nothing.
    return undefined;
  }
}

/** Whether a request's URL path is under the artifact downloads of some run (`/runs/{id}/artifacts/`). */
export function isArtifactUrl(pathname: string): boolean {
  const [empty, runs, runId, artifacts] = pathname.split('/');
  return empty === '' && runs === RUNS_SEGMENT && runId !== undefined && artifacts === ARTIFACTS_SEGMENT;
}

/** Registers `Artifact` and `AgentRun.artifacts` on `builder` (after the run types). */
export function addArtifacts(builder: BosunBuilder): void {
  const ArtifactRef = builder.objectRef<Artifact>('Artifact').implement({
    description:
      "A regular file kept from a run's sandbox when the run ended (see AgentConfigInput.artifacts). It stays downloadable after the container is gone and across restarts, until the run is pruned.",
    fields: (t) => ({
      path: t.exposeString('path', { description: 'Its full path in the sandbox, e.g. /workspace/out/fix.patch.' }),
      size: t.float({ description: 'Its size in bytes.', resolve: (artifact) => artifact.sizeBytes }),
      sha256: t.exposeString('sha256', { description: 'The SHA-256 of its bytes, lower-case hex.' }),
      url: t.string({
        description:
          'Where to download it with the same bearer token as /graphql (the read token may): /runs/{agentId}/artifacts/{path}, each segment percent-encoded, relative to the server root.',
        resolve: (artifact) => artifactUrl(artifact.runId, artifact.path),
      }),
    }),
  });

  builder.objectField('AgentRun', 'artifacts', (t) =>
    t.field({
      type: [ArtifactRef],
      description:
        'The files kept from the paths of config.artifacts, ordered by path; filled when the run ends (before its final status is published), empty before.',
      resolve: (run, _args, ctx) => ctx.services.artifacts?.list(run.id) ?? [],
    }),
  );
}
