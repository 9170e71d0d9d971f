/**
 * Artifacts of runs: their bytes in files beside the database, their metadata in SQLite.
 *
 * Layout: `<dir>/<runId>/<sha256>`, one file per distinct content of a run (two paths with the
 * same bytes share it), so that a run's artifacts go with one directory when it is pruned. The
 * directory is bosun's: pruning removes every run directory in it whose run is gone.
 *
 * A file is written to a temporary name, synced and renamed into place, and only then recorded:
 * a crash leaves at most an unrecorded file, never a recorded artifact with missing or partial
 * bytes. The data holds what runs produced, so it is owner-only like the database: directories
 * 0700, files 0600.
 *
 * Writes are synchronous SQLite statements after the file is on disk (artifacts are few and
 * written once per run, unlike log lines). A write that fails (a full disk) throws to the
 * collector, which logs it in the run and stops; nothing is retried, since the bytes left with
 * the sandbox.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { Artifact, ArtifactContent, ArtifactStore, SaveArtifactOptions } from '../runs/artifact-store.js';
import { ArtifactTooLargeError } from '../runs/artifact-store.js';
import type { SqliteDatabase } from './database.js';

/** Run ids that may name a directory: bosun's are UUIDs; nothing with a dot or a slash. */
const RUN_DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const TEMP_PREFIX = '.tmp-';

interface ArtifactRow {
  run_id: string;
  path: string;
  size_bytes: number;
  sha256: string;
  created_at: number;
}

export interface SqliteArtifactStoreOptions {
  /** Where the files go; created owner-only (0700) when first needed. */
  readonly dir: string;
  /** Removes `dir` and everything in it at dispose (the store of a `:memory:` database). */
  readonly temporary?: boolean;
}

/**
 * Where a database's artifacts live: `<database's directory>/artifacts`, or, for a `:memory:`
 * database that keeps nothing, a new temporary directory to remove at close.
 */
export function artifactDirFor(dbPath: string): { readonly dir: string; readonly temporary: boolean } {
  if (dbPath === ':memory:') return { dir: mkdtempSync(join(tmpdir(), 'bosun-artifacts-')), temporary: true };
  return { dir: join(dirname(dbPath), 'artifacts'), temporary: false };
}

export class SqliteArtifactStore implements ArtifactStore, Disposable {
  private readonly dir: string;
  private readonly statements;
  private pruning: Promise<number> | undefined;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: SqliteArtifactStoreOptions,
  ) {
    this.dir = options.dir;
    this.statements = {
      upsert: db.prepare(`INSERT INTO artifacts (run_id, path, size_bytes, sha256, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (run_id, path) DO UPDATE SET size_bytes = excluded.size_bytes, sha256 = excluded.sha256, created_at = excluded.created_at`),
      list: db.prepare('SELECT * FROM artifacts WHERE run_id = ? ORDER BY path'),
      get: db.prepare('SELECT * FROM artifacts WHERE run_id = ? AND path = ?'),
      uses: db.prepare('SELECT 1 FROM artifacts WHERE run_id = ? AND sha256 = ? LIMIT 1'),
      deleteOrphans: db.prepare('DELETE FROM artifacts WHERE run_id NOT IN (SELECT id FROM runs)'),
      runExists: db.prepare('SELECT 1 FROM runs WHERE id = ?'),
    };
  }

  async save(runId: string, path: string, content: AsyncIterable<Uint8Array>, options: SaveArtifactOptions): Promise<Artifact> {
    const runDir = this.runDir(runId);
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    const temp = join(runDir, `${TEMP_PREFIX}${randomUUID()}`);
    const hash = createHash('sha256');
    let sizeBytes = 0;
    let sha256: string;
    const handle = await open(temp, 'wx', 0o600);
    try {
      try {
        for await (const chunk of content) {
          options.signal?.throwIfAborted();
          sizeBytes += chunk.byteLength;
          if (sizeBytes > options.maxBytes) throw new ArtifactTooLargeError(path, options.maxBytes);
          hash.update(chunk);
          await writeAll(handle, chunk);
        }
        options.signal?.throwIfAborted();
        await handle.sync();
      } finally {
        await handle.close();
      }
      sha256 = hash.digest('hex');
      await rename(temp, join(runDir, sha256));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    const createdAt = new Date();
    try {
      this.statements.upsert.run(runId, path, sizeBytes, sha256, createdAt.getTime());
    } catch (error) {
      // Unrecorded bytes would only wait for the run's pruning: remove them unless another path holds the same.
      if (this.statements.uses.get(runId, sha256) === undefined) await rm(join(runDir, sha256), { force: true });
      throw error;
    }
    return Object.freeze({ runId, path, sizeBytes, sha256, createdAt });
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- better-sqlite3 answers at once; async so that a failure rejects
  async list(runId: string): Promise<readonly Artifact[]> {
    return (this.statements.list.all(runId) as ArtifactRow[]).map(fromRow);
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- as list
  async get(runId: string, path: string): Promise<Artifact | undefined> {
    const row = this.statements.get.get(runId, path) as ArtifactRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  async read(runId: string, path: string): Promise<ArtifactContent | undefined> {
    const artifact = await this.get(runId, path);
    if (!artifact) return undefined;
    let handle: FileHandle;
    try {
      handle = await open(this.blobPath(artifact), 'r');
    } catch (error) {
      // Recorded but gone (removed by hand, or pruned meanwhile): as if it were not recorded.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    // Closed by the stream when it ends or is cancelled (a client that leaves mid-download).
    const stream = Readable.toWeb(handle.createReadStream()) as unknown as ReadableStream<Uint8Array>;
    return { artifact, stream };
  }

  /**
   * Removes the artifacts of runs that no longer exist (pruned, see run-retention.ts): their rows,
   * then their directories, and any run directory left by a crash. Resolves with the number of
   * run directories removed. One prune at a time: a call during one joins it.
   */
  prune(): Promise<number> {
    this.pruning ??= this.sweep().finally(() => (this.pruning = undefined));
    return this.pruning;
  }

  /** Removes the directory of a temporary store (nothing else is touched). */
  [Symbol.dispose](): void {
    if (this.options.temporary) rmSync(this.dir, { recursive: true, force: true });
  }

  private async sweep(): Promise<number> {
    this.statements.deleteOrphans.run();
    let names: string[];
    try {
      names = (await readdir(this.dir, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    let removed = 0;
    for (const name of names) {
      // The database may close (shutdown) while the directory is read.
      if (!this.db.open) break;
      if (!RUN_DIR_NAME.test(name) || this.statements.runExists.get(name) !== undefined) continue;
      await rm(join(this.dir, name), { recursive: true, force: true });
      removed += 1;
    }
    return removed;
  }

  private runDir(runId: string): string {
    if (!RUN_DIR_NAME.test(runId)) throw new Error(`run id ${JSON.stringify(runId)} cannot name an artifact directory`);
    return join(this.dir, runId);
  }

  private blobPath(artifact: Artifact): string {
    if (!SHA256_HEX.test(artifact.sha256)) throw new Error(`artifact ${artifact.path} has no valid sha256`);
    return join(this.runDir(artifact.runId), artifact.sha256);
  }
}

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

function fromRow(row: ArtifactRow): Artifact {
  return Object.freeze({ runId: row.run_id, path: row.path, sizeBytes: row.size_bytes, sha256: row.sha256, createdAt: new Date(row.created_at) });
}
