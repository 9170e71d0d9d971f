/**
 * Artifacts of runs in PostgreSQL (cluster mode): their bytes in rows of 256 KiB
 * (`artifact_chunks`), their metadata in `artifacts`, so that every node serves every run's
 * artifacts whichever node copied them out of the sandbox.
 *
 * A save streams its content into chunks of a new blob (a random id), counting the bytes against
 * `maxBytes` and hashing them as they come, and only then records the artifact in one
 * transaction that also drops the blob it replaces: a failure or a crash leaves at most an
 * unrecorded blob (removed at once, or by {@link PostgresArtifactStore.prune}), never a recorded
 * artifact with missing or partial bytes. Reading streams the chunks one query at a time (no
 * connection held between them) and checks the SHA-256 of what it delivered at the end.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Artifact, ArtifactContent, SaveArtifactOptions, ArtifactStore } from '../../runs/artifact-store.js';
import { ArtifactTooLargeError } from '../../runs/artifact-store.js';
import type { PostgresDatabase } from './pg-database.js';

/** The bytes of one chunk row: large enough to make few rows, small enough to hold a few in memory. */
export const ARTIFACT_CHUNK_BYTES = 256 * 1024;
/**
 * An unrecorded blob older than this is left over from a save that failed to clean up (its node
 * died mid-save): prune removes it. Far longer than any save takes.
 */
const ORPHAN_BLOB_AGE = '1 day';
const PRUNE_LOCK = 'prune-artifacts';

interface PgArtifactRow {
  run_id: string;
  path: string;
  size_bytes: string;
  sha256: string;
  created_at: Date;
  blob_id: string;
}

/** Paths sorted by their bytes, as SQLite sorts them, whatever the database's collation. */
const BY_PATH = 'ORDER BY path COLLATE "C"';

export class PostgresArtifactStore implements ArtifactStore {
  private pruning: Promise<number> | undefined;

  constructor(private readonly db: PostgresDatabase) {}

  async save(runId: string, path: string, content: AsyncIterable<Uint8Array>, options: SaveArtifactOptions): Promise<Artifact> {
    const blobId = randomUUID();
    const hash = createHash('sha256');
    let sizeBytes = 0;
    let chunks = 0;
    let buffered: Buffer[] = [];
    let bufferedBytes = 0;
    const writeChunk = async (bytes: Buffer) => {
      await this.db.query('INSERT INTO artifact_chunks (blob_id, n, run_id, bytes) VALUES ($1, $2, $3, $4)', [blobId, chunks, runId, bytes]);
      chunks += 1;
    };
    try {
      for await (const piece of content) {
        options.signal?.throwIfAborted();
        sizeBytes += piece.byteLength;
        if (sizeBytes > options.maxBytes) throw new ArtifactTooLargeError(path, options.maxBytes);
        hash.update(piece);
        buffered.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
        bufferedBytes += piece.byteLength;
        while (bufferedBytes >= ARTIFACT_CHUNK_BYTES) {
          const all = Buffer.concat(buffered, bufferedBytes);
          await writeChunk(all.subarray(0, ARTIFACT_CHUNK_BYTES));
          const rest = all.subarray(ARTIFACT_CHUNK_BYTES);
          buffered = rest.byteLength > 0 ? [rest] : [];
          bufferedBytes = rest.byteLength;
        }
      }
      options.signal?.throwIfAborted();
      if (bufferedBytes > 0) await writeChunk(Buffer.concat(buffered, bufferedBytes));
      const sha256 = hash.digest('hex');
      const createdAt = new Date();
      await this.db.transaction(async (client) => {
        const { rows } = await client.query<{ blob_id: string }>('SELECT blob_id FROM artifacts WHERE run_id = $1 AND path = $2 FOR UPDATE', [
          runId,
          path,
        ]);
        await client.query(
          `INSERT INTO artifacts (run_id, path, size_bytes, sha256, created_at, blob_id) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (run_id, path) DO UPDATE SET size_bytes = excluded.size_bytes, sha256 = excluded.sha256,
             created_at = excluded.created_at, blob_id = excluded.blob_id`,
          [runId, path, sizeBytes, sha256, createdAt, blobId],
        );
        const replaced = rows[0]?.blob_id;
        if (replaced !== undefined) await client.query('DELETE FROM artifact_chunks WHERE blob_id = $1', [replaced]);
      });
      return Object.freeze({ runId, path, sizeBytes, sha256, createdAt });
    } catch (error) {
      // Nothing of a failed save is kept; a blob left by a failure of this cleanup goes with prune.
      if (chunks > 0) await this.db.query('DELETE FROM artifact_chunks WHERE blob_id = $1', [blobId]).catch(() => undefined);
      throw error;
    }
  }

  async list(runId: string): Promise<readonly Artifact[]> {
    const { rows } = await this.db.query<PgArtifactRow>(`SELECT * FROM artifacts WHERE run_id = $1 ${BY_PATH}`, [runId]);
    return rows.map(fromRow);
  }

  async get(runId: string, path: string): Promise<Artifact | undefined> {
    const row = await this.row(runId, path);
    return row ? fromRow(row) : undefined;
  }

  /**
   * Opens an artifact's bytes: a stream that reads one chunk per pull. It fails (rather than end
   * short or wrong) when the artifact is replaced or pruned while it is read, or when the bytes do
   * not match the recorded SHA-256.
   */
  async read(runId: string, path: string): Promise<ArtifactContent | undefined> {
    const row = await this.row(runId, path);
    if (!row) return undefined;
    const artifact = fromRow(row);
    const hash = createHash('sha256');
    let next = 0;
    let delivered = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (delivered >= artifact.sizeBytes) {
          if (hash.digest('hex') !== artifact.sha256)
            controller.error(new Error(`artifact ${path} of run ${runId}: its bytes do not match its sha256`));
          else controller.close();
          return;
        }
        const { rows } = await this.db.query<{ bytes: Buffer }>('SELECT bytes FROM artifact_chunks WHERE blob_id = $1 AND n = $2', [
          row.blob_id,
          next,
        ]);
        const bytes = rows[0]?.bytes;
        if (bytes === undefined) {
          controller.error(new Error(`artifact ${path} of run ${runId} was replaced or removed while it was read`));
          return;
        }
        next += 1;
        delivered += bytes.byteLength;
        hash.update(bytes);
        controller.enqueue(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      },
    });
    return { artifact, stream };
  }

  /**
   * Removes the artifacts of runs that no longer exist (pruned, see pg-run-retention.ts) with
   * their bytes, and blobs left over by saves that died. Resolves with the number of runs whose
   * artifacts were removed. One prune at a time: a call during one joins it; a node that finds
   * another node pruning leaves it to that one (resolves 0).
   */
  prune(): Promise<number> {
    this.pruning ??= this.sweep().finally(() => (this.pruning = undefined));
    return this.pruning;
  }

  private async sweep(): Promise<number> {
    const result = await this.db.tryWithAdvisoryLock(PRUNE_LOCK, () =>
      this.db.transaction(async (client) => {
        await client.query('DELETE FROM artifacts a WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = a.run_id)');
        const { rows } = await client.query<{ run_id: string }>(
          'DELETE FROM artifact_chunks c WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = c.run_id) RETURNING run_id',
        );
        await client.query(
          `DELETE FROM artifact_chunks c WHERE c.created_at < now() - interval '${ORPHAN_BLOB_AGE}'
             AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.blob_id = c.blob_id)`,
        );
        return new Set(rows.map((row) => row.run_id)).size;
      }),
    );
    return result.acquired ? result.value : 0;
  }

  private async row(runId: string, path: string): Promise<PgArtifactRow | undefined> {
    const { rows } = await this.db.query<PgArtifactRow>('SELECT * FROM artifacts WHERE run_id = $1 AND path = $2', [runId, path]);
    return rows[0];
  }
}

function fromRow(row: PgArtifactRow): Artifact {
  return Object.freeze({ runId: row.run_id, path: row.path, sizeBytes: Number(row.size_bytes), sha256: row.sha256, createdAt: row.created_at });
}
