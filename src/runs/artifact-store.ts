/**
 * Where a run's artifacts live once copied out of its sandbox: the files it named in
 * `config.artifacts`, kept after the container is gone. Implemented by SqliteArtifactStore
 * (files beside the database, metadata in SQLite); the API and the HTTP route read it through
 * {@link ArtifactSource}, the {@link ArtifactCollector} writes it.
 */

/** One regular file kept from a run's sandbox. */
export interface Artifact {
  readonly runId: string;
  /** Its full path in the sandbox, e.g. `/workspace/out/fix.patch`. */
  readonly path: string;
  readonly sizeBytes: number;
  /** Lower-case hex SHA-256 of its bytes. */
  readonly sha256: string;
  readonly createdAt: Date;
}

/** An artifact's bytes, opened for reading. */
export interface ArtifactContent {
  readonly artifact: Artifact;
  /** The bytes; cancelling it closes the file. */
  readonly stream: ReadableStream<Uint8Array>;
}

/** What readers (the API, the download route) need. */
export interface ArtifactSource {
  /** A run's artifacts ordered by path; empty for an unknown run. */
  list(runId: string): Promise<readonly Artifact[]>;
  get(runId: string, path: string): Promise<Artifact | undefined>;
  /** Opens an artifact's bytes; undefined when the run has no artifact at `path`. */
  read(runId: string, path: string): Promise<ArtifactContent | undefined>;
}

export interface SaveArtifactOptions {
  /** Refuses (with {@link ArtifactTooLargeError}) content longer than this, counted as it streams. */
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
}

export interface ArtifactStore extends ArtifactSource {
  /**
   * Streams `content` to storage and records it as the run's artifact at `path`, replacing one
   * recorded there before. Nothing is kept when it fails.
   * @throws ArtifactTooLargeError past `maxBytes`; the storage's error (a full disk); the signal's reason.
   */
  save(runId: string, path: string, content: AsyncIterable<Uint8Array>, options: SaveArtifactOptions): Promise<Artifact>;
}

/** Content longer than {@link SaveArtifactOptions.maxBytes}: nothing of it was kept. */
export class ArtifactTooLargeError extends Error {
  override readonly name = 'ArtifactTooLargeError';

  constructor(
    readonly path: string,
    readonly maxBytes: number,
  ) {
    super(`${path} is longer than the ${maxBytes} bytes left for artifacts`);
  }
}
