/**
 * PostgresArtifactStore on a real PostgreSQL: bytes in 256 KiB rows read back whole with their
 * sha256, the size limit counted as the content streams, replacement, pruning with the runs, and
 * any node serving what another saved.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ArtifactTooLargeError } from '../../../src/runs/artifact-store.js';
import { ARTIFACT_CHUNK_BYTES, PostgresArtifactStore } from '../../../src/store/postgres/postgres-artifact-store.js';
import { PostgresRunStore } from '../../../src/store/postgres/postgres-run-store.js';
import { makeRun } from '../../helpers/fixtures.js';
import { usePgTestDatabase } from './pg-test-database.js';

const pg = usePgTestDatabase();

/** `bytes` as a stream of pieces of `pieceBytes` (not aligned with the store's chunks). */
function pieces(bytes: Buffer, pieceBytes = 100_000): AsyncIterable<Uint8Array> {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += pieceBytes) parts.push(bytes.subarray(offset, offset + pieceBytes));
  return Readable.from(parts);
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(stream).arrayBuffer());
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const BIG = { maxBytes: 8 * 1024 * 1024 };

async function chunkRows(): Promise<{ n: number; bytes: number }[]> {
  const { rows } = await pg.db.query<{ n: number; bytes: number }>('SELECT n, octet_length(bytes) AS bytes FROM artifact_chunks ORDER BY blob_id, n');
  return rows;
}

describe('PostgresArtifactStore', () => {
  it('stores bytes in 256 KiB rows and reads them back whole, with their sha256, on any node', async () => {
    await pg.empty();
    const store = new PostgresArtifactStore(pg.db);
    const bytes = randomBytes(3 * ARTIFACT_CHUNK_BYTES + 12_345);
    const saved = await store.save('run-1', '/workspace/out/build.tar', pieces(bytes), BIG);
    expect(saved).toMatchObject({ runId: 'run-1', path: '/workspace/out/build.tar', sizeBytes: bytes.byteLength, sha256: sha256(bytes) });
    expect(await chunkRows()).toEqual([
      { n: 0, bytes: ARTIFACT_CHUNK_BYTES },
      { n: 1, bytes: ARTIFACT_CHUNK_BYTES },
      { n: 2, bytes: ARTIFACT_CHUNK_BYTES },
      { n: 3, bytes: 12_345 },
    ]);
    await store.save('run-1', '/workspace/out/a.txt', Readable.from([Buffer.from('a')]), BIG);
    await store.save('run-1', '/workspace/empty', Readable.from([]), BIG);

    // Another node reads what this one saved.
    const other = new PostgresArtifactStore(await pg.openAnother());
    expect((await other.list('run-1')).map((a) => [a.path, a.sizeBytes])).toEqual([
      ['/workspace/empty', 0],
      ['/workspace/out/a.txt', 1],
      ['/workspace/out/build.tar', bytes.byteLength],
    ]);
    expect(await other.get('run-1', '/workspace/out/build.tar')).toEqual(saved);
    expect(await other.get('run-1', '/nope')).toBeUndefined();
    expect(await other.list('nope')).toEqual([]);
    const content = await other.read('run-1', '/workspace/out/build.tar');
    expect(content?.artifact).toEqual(saved);
    const read = await readAll(content!.stream);
    expect(read.equals(bytes)).toBe(true);
    expect(sha256(read)).toBe(saved.sha256);
    expect((await readAll((await other.read('run-1', '/workspace/empty'))!.stream)).byteLength).toBe(0);
    expect(await other.read('run-2', '/workspace/out/build.tar')).toBeUndefined();
  });

  it('refuses content past maxBytes as it streams, keeps nothing of it, and keeps what it replaced', async () => {
    await pg.empty();
    const store = new PostgresArtifactStore(pg.db);
    const first = await store.save('run-1', '/workspace/big', pieces(Buffer.from('kept')), BIG);
    let pulled = 0;
    function* endless(): Iterable<Uint8Array> {
      for (;;) {
        pulled += 1;
        yield randomBytes(64 * 1024);
      }
    }
    const maxBytes = 2 * ARTIFACT_CHUNK_BYTES + 1;
    const saving = store.save('run-1', '/workspace/big', Readable.from(endless(), { highWaterMark: 1 }), { maxBytes });
    await expect(saving).rejects.toBeInstanceOf(ArtifactTooLargeError);
    await expect(saving).rejects.toThrow(`/workspace/big is longer than the ${maxBytes} bytes left for artifacts`);
    // It stopped reading at the limit: the 9th piece of 64 KiB passes 512 KiB + 1 (the stream reads a piece or two ahead).
    expect(pulled).toBeGreaterThanOrEqual(9);
    expect(pulled).toBeLessThanOrEqual(11);
    expect(await store.get('run-1', '/workspace/big')).toEqual(first);
    expect(await chunkRows()).toEqual([{ n: 0, bytes: 4 }]);
    expect((await readAll((await store.read('run-1', '/workspace/big'))!.stream)).toString()).toBe('kept');

    const aborted = new AbortController();
    aborted.abort(new Error('run cancelled'));
    await expect(store.save('run-1', '/workspace/other', pieces(randomBytes(10)), { ...BIG, signal: aborted.signal })).rejects.toThrow(
      'run cancelled',
    );
    expect(await store.get('run-1', '/workspace/other')).toBeUndefined();
    expect(await chunkRows()).toHaveLength(1);
  });

  it('replaces an artifact at the same path, bytes and all', async () => {
    await pg.empty();
    const store = new PostgresArtifactStore(pg.db);
    await store.save('run-1', '/workspace/report', pieces(randomBytes(ARTIFACT_CHUNK_BYTES + 1)), BIG);
    const second = await store.save('run-1', '/workspace/report', pieces(Buffer.from('second')), BIG);
    expect(await store.list('run-1')).toEqual([second]);
    expect(await chunkRows()).toEqual([{ n: 0, bytes: 6 }]);
    expect((await readAll((await store.read('run-1', '/workspace/report'))!.stream)).toString()).toBe('second');
  });

  it('fails a read whose artifact is replaced meanwhile, rather than end short', async () => {
    await pg.empty();
    const store = new PostgresArtifactStore(pg.db);
    await store.save('run-1', '/workspace/log', pieces(randomBytes(3 * ARTIFACT_CHUNK_BYTES)), BIG);
    const content = await store.read('run-1', '/workspace/log');
    const reader = content!.stream.getReader();
    expect((await reader.read()).value?.byteLength).toBe(ARTIFACT_CHUNK_BYTES);
    await store.save('run-1', '/workspace/log', pieces(Buffer.from('new')), BIG);
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return;
      })(),
    ).rejects.toThrow('artifact /workspace/log of run run-1 was replaced or removed while it was read');
  });

  it('prunes the artifacts of runs that no longer exist, and keeps those of kept runs', async () => {
    await pg.empty();
    const runs = new PostgresRunStore(pg.db, { logLinesPerRun: 100 });
    const store = new PostgresArtifactStore(pg.db);
    const day = 24 * 3_600_000;
    const now = Date.parse('2026-03-01T00:00:00Z');
    for (const [id, daysAgo] of [
      ['old', 10],
      ['new', 1],
    ] as const) {
      const at = new Date(now - daysAgo * day);
      await runs.insert(makeRun({ id, status: 'SUCCEEDED', queuedAt: at, startedAt: at, finishedAt: at }));
      await store.save(id, '/workspace/out', pieces(randomBytes(ARTIFACT_CHUNK_BYTES + 10)), BIG);
    }
    expect(await runs.prune({ maxFinishedRuns: 100, maxAgeMs: 7 * day }, now)).toBe(1);
    expect(await store.prune()).toBe(1);
    expect(await store.list('old')).toEqual([]);
    expect(await store.list('new')).toHaveLength(1);
    expect(await chunkRows()).toHaveLength(2);
    expect(await store.prune()).toBe(0);
  });
});
