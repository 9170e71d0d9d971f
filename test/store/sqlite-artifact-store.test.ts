import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ArtifactTooLargeError } from '../../src/runs/artifact-store.js';
import { openDatabase, type SqliteDatabase } from '../../src/store/database.js';
import { artifactDirFor, SqliteArtifactStore } from '../../src/store/sqlite-artifact-store.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { makeRun } from '../helpers/fixtures.js';

const dirs: string[] = [];
const dbs: SqliteDatabase[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) if (db.open) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A database file in a new directory, its artifacts beside it as the app places them. */
function open(dir = mkdtempSync(join(tmpdir(), 'bosun-artifacts-test-'))) {
  if (!dirs.includes(dir)) dirs.push(dir);
  const dbPath = join(dir, 'data', 'bosun.db');
  const db = openDatabase(dbPath);
  dbs.push(db);
  const artifacts = artifactDirFor(dbPath);
  return {
    dir,
    db,
    artifactsDir: artifacts.dir,
    store: new SqliteArtifactStore(db, artifacts),
    runs: new SqliteRunStore(db, { logLinesPerRun: 100 }),
  };
}

function chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  return Readable.from(parts.map((part) => Buffer.from(part)));
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return Buffer.from(await new Response(stream).arrayBuffer()).toString('utf8');
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const BIG = { maxBytes: 1024 * 1024 };

describe('SqliteArtifactStore', () => {
  it('stores bytes beside the database, owner-only, and lists, gets and reads them back', async () => {
    const { store, artifactsDir } = open();
    const saved = await store.save('run-1', '/workspace/out/fix.patch', chunks('diff ', '--git'), BIG);
    expect(saved).toMatchObject({ runId: 'run-1', path: '/workspace/out/fix.patch', sizeBytes: 10, sha256: sha256('diff --git') });
    await store.save('run-1', '/workspace/out/a.txt', chunks('a'), BIG);
    await store.save('run-2', '/tmp/other', chunks('other'), BIG);

    expect((await store.list('run-1')).map((a) => a.path)).toEqual(['/workspace/out/a.txt', '/workspace/out/fix.patch']);
    expect(await store.get('run-1', '/workspace/out/fix.patch')).toEqual(saved);
    expect(await store.get('run-1', '/tmp/other')).toBeUndefined();
    expect(await store.list('nope')).toEqual([]);
    const content = await store.read('run-1', '/workspace/out/fix.patch');
    expect(content?.artifact).toEqual(saved);
    expect(await text(content!.stream)).toBe('diff --git');
    expect(await store.read('run-2', '/workspace/out/fix.patch')).toBeUndefined();

    expect(statSync(artifactsDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(artifactsDir, 'run-1')).mode & 0o777).toBe(0o700);
    const file = join(artifactsDir, 'run-1', sha256('diff --git'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(artifactsDir, 'run-1')).sort()).toEqual([sha256('a'), sha256('diff --git')].sort());
  });

  it('keeps one file for the same bytes at two paths of a run', async () => {
    const { store, artifactsDir } = open();
    await store.save('run-1', '/workspace/a', chunks('same'), BIG);
    await store.save('run-1', '/workspace/b', chunks('same'), BIG);
    expect((await store.list('run-1')).map((a) => a.sha256)).toEqual([sha256('same'), sha256('same')]);
    expect(readdirSync(join(artifactsDir, 'run-1'))).toEqual([sha256('same')]);
  });

  it('refuses content past maxBytes as it streams, and keeps nothing of it', async () => {
    const { store, artifactsDir } = open();
    await expect(store.save('run-1', '/workspace/big', chunks('12345', '67890', 'never read'), { maxBytes: 8 })).rejects.toBeInstanceOf(
      ArtifactTooLargeError,
    );
    expect(await store.list('run-1')).toEqual([]);
    expect(readdirSync(join(artifactsDir, 'run-1'))).toEqual([]);
  });

  it('keeps nothing of a save that is aborted or whose content fails', async () => {
    const { store, artifactsDir } = open();
    const controller = new AbortController();
    function* abortMidway() {
      yield Buffer.from('first');
      controller.abort(new Error('deadline'));
      yield Buffer.from('second');
    }
    const aborted = store.save('run-1', '/workspace/x', Readable.from(abortMidway()), { ...BIG, signal: controller.signal });
    await expect(aborted).rejects.toThrow('deadline');
    function* broken() {
      yield Buffer.from('first');
      throw new Error('connection reset');
    }
    await expect(store.save('run-1', '/workspace/y', Readable.from(broken()), BIG)).rejects.toThrow('connection reset');
    expect(await store.list('run-1')).toEqual([]);
    expect(readdirSync(join(artifactsDir, 'run-1'))).toEqual([]);
  });

  it('removes the file when its record cannot be written (the database refuses writes)', async () => {
    const { store, db, artifactsDir } = open();
    await store.save('run-1', '/workspace/kept', chunks('kept'), BIG);
    db.pragma('query_only = ON');
    await expect(store.save('run-1', '/workspace/lost', chunks('lost'), BIG)).rejects.toThrow(/readonly|read-only|query_only/i);
    // A file whose bytes another path of the run holds stays.
    await expect(store.save('run-1', '/workspace/again', chunks('kept'), BIG)).rejects.toThrow();
    db.pragma('query_only = OFF');
    expect(readdirSync(join(artifactsDir, 'run-1'))).toEqual([sha256('kept')]);
    expect((await store.list('run-1')).map((a) => a.path)).toEqual(['/workspace/kept']);
  });

  it('refuses a run id that could not name a directory', async () => {
    const { store } = open();
    for (const runId of ['..', 'a/b', '.hidden', '']) {
      await expect(store.save(runId, '/workspace/x', chunks('x'), BIG)).rejects.toThrow(/cannot name an artifact directory/);
    }
  });

  it('reads artifacts back after a restart on the same database', async () => {
    const first = open();
    await first.store.save('run-1', '/workspace/out/fix.patch', chunks('patch'), BIG);
    first.db.close();

    const again = open(first.dir);
    expect((await again.store.list('run-1')).map((a) => [a.path, a.sizeBytes, a.sha256])).toEqual([['/workspace/out/fix.patch', 5, sha256('patch')]]);
    expect(await text((await again.store.read('run-1', '/workspace/out/fix.patch'))!.stream)).toBe('patch');
  });

  it('answers a recorded artifact whose file is gone as unknown', async () => {
    const { store, artifactsDir } = open();
    await store.save('run-1', '/workspace/x', chunks('x'), BIG);
    rmSync(join(artifactsDir, 'run-1', sha256('x')));
    expect(await store.read('run-1', '/workspace/x')).toBeUndefined();
  });

  it('prunes the artifacts of runs that are gone, rows and files, and leaves the rest', async () => {
    const { store, runs, artifactsDir } = open();
    const finishedAt = new Date('2026-01-01T00:00:00Z');
    await runs.insert(makeRun({ id: 'old', status: 'SUCCEEDED', finishedAt, startedAt: finishedAt }));
    await runs.insert(makeRun({ id: 'live', status: 'RUNNING', startedAt: finishedAt }));
    await store.save('old', '/workspace/a', chunks('a'), BIG);
    await store.save('live', '/workspace/b', chunks('b'), BIG);
    // Left by a crash: a run directory (with a half-written file) whose run never got a record.
    mkdirSync(join(artifactsDir, 'crashed'));
    writeFileSync(join(artifactsDir, 'crashed', '.tmp-1'), 'half');
    // Not bosun's: names no run directory could have.
    writeFileSync(join(artifactsDir, 'README'), 'mine');
    mkdirSync(join(artifactsDir, 'my.notes'));

    expect(await store.prune()).toBe(1); // only the crashed run's directory: "old" still exists
    expect(runs.prune({ maxFinishedRuns: 0, maxAgeMs: 1 }, finishedAt.getTime() + 10)).toBe(1);
    expect(await store.prune()).toBe(1);

    expect(await store.list('old')).toEqual([]);
    expect((await store.list('live')).map((a) => a.path)).toEqual(['/workspace/b']);
    expect(readdirSync(artifactsDir).sort()).toEqual(['README', 'live', 'my.notes']);
    expect(await store.prune()).toBe(0);
  });

  it('prunes nothing and fails nothing before any artifact was stored', async () => {
    const { store, artifactsDir } = open();
    expect(existsSync(artifactsDir)).toBe(false);
    expect(await store.prune()).toBe(0);
  });

  it('puts the artifacts of a :memory: database in a temporary directory that dispose removes', async () => {
    const { dir, temporary } = artifactDirFor(':memory:');
    dirs.push(dir);
    expect(temporary).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const db = openDatabase(':memory:');
    dbs.push(db);
    const store = new SqliteArtifactStore(db, { dir, temporary });
    await store.save('run-1', '/workspace/x', chunks('x'), BIG);
    store[Symbol.dispose]();
    expect(existsSync(dir)).toBe(false);

    const kept = open();
    await kept.store.save('run-1', '/workspace/x', chunks('x'), BIG);
    kept.store[Symbol.dispose]();
    expect(existsSync(join(kept.artifactsDir, 'run-1'))).toBe(true);
    expect(artifactDirFor('/var/lib/bosun/bosun.db')).toEqual({ dir: '/var/lib/bosun/artifacts', temporary: false });
  });
});
