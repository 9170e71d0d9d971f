import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArtifactCollector } from '../../src/runs/artifact-collector.js';
import type { ArtifactStore } from '../../src/runs/artifact-store.js';
import type { Sandbox } from '../../src/sandbox/sandbox.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import { openDatabase, type SqliteDatabase } from '../../src/store/database.js';
import { SqliteArtifactStore } from '../../src/store/sqlite-artifact-store.js';
import { streamOf, tarOf, type StreamOptions, type TarEntry } from '../helpers/tar-archives.js';

const RUN = 'run-1';

type Answer = { entries: readonly TarEntry[]; stream?: StreamOptions } | Error | 'never';

/** Answers readArchive from a table of paths, as the engine would; records what was asked and aborted. */
class ArchiveSandbox implements Pick<Sandbox, 'readArchive'> {
  readonly asked: string[] = [];
  readonly cancelled: string[] = [];
  readonly aborted: string[] = [];

  constructor(private readonly answers: Readonly<Record<string, Answer>>) {}

  async readArchive(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    this.asked.push(path);
    signal?.addEventListener('abort', () => this.aborted.push(path), { once: true });
    const answer = this.answers[path];
    if (answer === undefined) throw new SandboxError('FILE_NOT_FOUND', `${path}: no such file or directory`);
    if (answer instanceof Error) throw answer;
    if (answer === 'never') return new Promise(() => undefined);
    return streamOf(await tarOf(answer.entries), { ...answer.stream, onCancel: () => this.cancelled.push(path) });
  }
}

const sha256 = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex');

let dir: string;
let db: SqliteDatabase;
let store: SqliteArtifactStore;
let lines: string[];
const warnings: unknown[] = [];
const logger = { warn: (obj: object) => void warnings.push(obj) };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bosun-collector-'));
  db = openDatabase(join(dir, 'bosun.db'));
  store = new SqliteArtifactStore(db, { dir: join(dir, 'artifacts') });
  lines = [];
  warnings.length = 0;
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function collector(options: { maxBytesPerRun?: number; timeoutMs?: number; store?: Pick<ArtifactStore, 'save'> } = {}) {
  return new ArtifactCollector({
    store: options.store ?? store,
    maxBytesPerRun: options.maxBytesPerRun ?? 1024 * 1024,
    logger,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
}

async function collect(sandbox: ArchiveSandbox, paths: readonly string[], options: Parameters<typeof collector>[0] = {}): Promise<void> {
  await collector(options).collect({ runId: RUN, paths, sandbox, log: (line) => lines.push(line) });
}

/** Files on disk for the run, temporary ones included. */
function filesOnDisk(): string[] {
  try {
    return readdirSync(join(dir, 'artifacts', RUN)).sort();
  } catch {
    return [];
  }
}

describe('ArtifactCollector', () => {
  it('keeps each regular file of a directory tree under its full sandbox path, with its size and sha256', async () => {
    const big = 'x'.repeat(5000);
    const sandbox = new ArchiveSandbox({
      '/workspace/out': {
        entries: [
          { name: 'out/', type: 'directory' },
          { name: 'out/fix.patch', content: 'diff --git a/x b/x\n' },
          { name: 'out/sub/', type: 'directory' },
          { name: 'out/sub/deep/', type: 'directory' },
          { name: 'out/sub/deep/big.txt', content: big },
          { name: 'out/empty', content: '' },
        ],
      },
    });
    await collect(sandbox, ['/workspace/out']);
    expect((await store.list(RUN)).map(({ path, sizeBytes, sha256: sum }) => ({ path, sizeBytes, sha256: sum }))).toEqual([
      { path: '/workspace/out/empty', sizeBytes: 0, sha256: sha256('') },
      { path: '/workspace/out/fix.patch', sizeBytes: 19, sha256: sha256('diff --git a/x b/x\n') },
      { path: '/workspace/out/sub/deep/big.txt', sizeBytes: 5000, sha256: sha256(big) },
    ]);
    expect(readFileSync(join(dir, 'artifacts', RUN, sha256(big)), 'utf8')).toBe(big);
    expect(lines).toEqual(['artifacts: kept 3 file(s) (5019 bytes) from /workspace/out']);
  });

  it('keeps a file named by its own path (the archive names it by its base name)', async () => {
    const sandbox = new ArchiveSandbox({ '/tmp/report.json': { entries: [{ name: 'report.json', content: '{}' }] } });
    await collect(sandbox, ['/tmp/report.json']);
    expect((await store.list(RUN)).map((a) => a.path)).toEqual(['/tmp/report.json']);
  });

  it('logs a missing path and goes on with the next', async () => {
    const sandbox = new ArchiveSandbox({ '/workspace/b': { entries: [{ name: 'b', content: 'B' }] } });
    await collect(sandbox, ['/workspace/a', '/workspace/b']);
    expect(lines).toEqual([
      'artifacts: /workspace/a does not exist in the sandbox; nothing kept for it',
      'artifacts: kept 1 file(s) (1 bytes) from /workspace/b',
    ]);
    expect((await store.list(RUN)).map((a) => a.path)).toEqual(['/workspace/b']);
  });

  it('skips symlinks, hard links and other non-files without following them, and says how many', async () => {
    const sandbox = new ArchiveSandbox({
      '/workspace/out': {
        entries: [
          { name: 'out/', type: 'directory' },
          { name: 'out/real', content: 'real' },
          { name: 'out/passwd', type: 'symlink', linkname: '/etc/passwd' },
          { name: 'out/up', type: 'symlink', linkname: '../../etc' },
          { name: 'out/again', type: 'link', linkname: 'out/real' },
          { name: 'out/pipe', type: 'fifo' },
        ],
      },
    });
    await collect(sandbox, ['/workspace/out']);
    expect((await store.list(RUN)).map((a) => a.path)).toEqual(['/workspace/out/real']);
    expect(lines).toEqual([
      'artifacts: kept 1 file(s) (4 bytes) from /workspace/out; skipped 4 entries (symlink: 2, link: 1, fifo: 1): only regular files inside the path are kept',
    ]);
  });

  it('takes no entry that resolves outside the requested path', async () => {
    const sandbox = new ArchiveSandbox({
      '/workspace/out': {
        entries: [
          { name: 'out/ok', content: 'ok' },
          { name: 'out/../../etc/evil', content: 'x' },
          { name: 'other/file', content: 'x' },
          { name: '/etc/abs', content: 'x' },
        ],
      },
    });
    await collect(sandbox, ['/workspace/out']);
    expect((await store.list(RUN)).map((a) => a.path)).toEqual(['/workspace/out/ok']);
    expect(lines[0]).toMatch(/skipped 3 entries \(outside the path: 3\): only regular files inside the path are kept$/);
  });

  it('stores a file reached by two overlapping paths once, and counts its bytes once', async () => {
    const sandbox = new ArchiveSandbox({
      '/workspace/out': { entries: [{ name: 'out/fix.patch', content: '12345' }] },
      '/workspace/out/fix.patch': { entries: [{ name: 'fix.patch', content: '12345' }] },
    });
    await collect(sandbox, ['/workspace/out', '/workspace/out/fix.patch'], { maxBytesPerRun: 7 });
    expect((await store.list(RUN)).map((a) => a.path)).toEqual(['/workspace/out/fix.patch']);
    expect(lines).toEqual([
      'artifacts: kept 1 file(s) (5 bytes) from /workspace/out',
      'artifacts: kept 0 file(s) (0 bytes) from /workspace/out/fix.patch; 1 file(s) in it were kept from an earlier path',
    ]);
  });

  it('stops at the per-run cap, across paths, keeping what fit, and reads nothing more', async () => {
    const sandbox = new ArchiveSandbox({
      '/workspace/a': { entries: [{ name: 'a', content: 'a'.repeat(40) }] },
      '/workspace/b': {
        entries: [
          { name: 'b/1', content: 'b'.repeat(40) },
          { name: 'b/2', content: 'c'.repeat(40) },
          // Longer than the parser buffers: the rest of the stream is left unread.
          { name: 'b/3', content: 'd'.repeat(256 * 1024) },
        ],
        stream: { chunkBytes: 512 },
      },
      '/workspace/c': { entries: [{ name: 'c', content: 'c' }] },
    });
    await collect(sandbox, ['/workspace/a', '/workspace/b', '/workspace/c'], { maxBytesPerRun: 100 });
    expect((await store.list(RUN)).map((a) => [a.path, a.sizeBytes])).toEqual([
      ['/workspace/a', 40],
      ['/workspace/b/1', 40],
    ]);
    expect(sandbox.asked).toEqual(['/workspace/a', '/workspace/b']);
    // The engine's stream is released rather than read to its end.
    expect(sandbox.cancelled).toContain('/workspace/b');
    expect(lines).toEqual([
      'artifacts: kept 1 file(s) (40 bytes) from /workspace/a',
      'artifacts: kept 1 file(s) (40 bytes) from /workspace/b',
      'artifacts: stopped at ARTIFACT_BYTES_PER_RUN (100b): /workspace/b/2 (40 bytes) did not fit in the 20 bytes left, so it and what follows were not kept; 2 file(s) (80 bytes) were kept before it',
    ]);
    expect(filesOnDisk()).toEqual([sha256('a'.repeat(40)), sha256('b'.repeat(40))].sort());
  });

  it('counts bytes as they stream: a file that passes the cap mid-way leaves nothing on disk', async () => {
    // A store that sees more bytes than the header said: the count while streaming is what holds the cap.
    const lying: Pick<ArtifactStore, 'save'> = {
      save: (runId, path, _content, options) => {
        const longer = Readable.from([new Uint8Array(30), new Uint8Array(30)]);
        return store.save(runId, path, longer, options);
      },
    };
    const sandbox = new ArchiveSandbox({ '/workspace/out': { entries: [{ name: 'out/x', content: 'x'.repeat(10) }] } });
    await collect(sandbox, ['/workspace/out'], { maxBytesPerRun: 50, store: lying });
    expect(await store.list(RUN)).toEqual([]);
    expect(filesOnDisk()).toEqual([]);
    expect(lines.at(-1)).toMatch(/^artifacts: stopped at ARTIFACT_BYTES_PER_RUN \(50b\): \/workspace\/out\/x/);
  });

  it('keeps what was stored when the archive breaks mid-way, and stops', async () => {
    const first = 'f'.repeat(1000);
    const sandbox = new ArchiveSandbox({
      '/workspace/out': {
        entries: [
          { name: 'out/first', content: first },
          { name: 'out/second', content: 's'.repeat(5000) },
        ],
        stream: { chunkBytes: 512, failAfterBytes: 3072, failWith: new Error('connection reset') },
      },
      '/workspace/next': { entries: [{ name: 'next', content: 'n' }] },
    });
    await collect(sandbox, ['/workspace/out', '/workspace/next']);
    expect((await store.list(RUN)).map((a) => a.path)).toEqual(['/workspace/out/first']);
    expect(filesOnDisk()).toEqual([sha256(first)]);
    expect(sandbox.asked).toEqual(['/workspace/out']);
    expect(lines).toEqual([
      'artifacts: kept 1 file(s) (1000 bytes) from /workspace/out',
      'artifacts: could not read the archive of /workspace/out (connection reset); 1 file(s) (1000 bytes) were kept before it',
    ]);
  });

  it('stops when the sandbox is gone, without trying the other paths', async () => {
    const sandbox = new ArchiveSandbox({
      '/workspace/a': new SandboxError('CONTAINER_GONE', 'no such container'),
      '/workspace/b': { entries: [{ name: 'b', content: 'b' }] },
    });
    await collect(sandbox, ['/workspace/a', '/workspace/b']);
    expect(sandbox.asked).toEqual(['/workspace/a']);
    expect(lines).toEqual(['artifacts: could not read /workspace/a from the sandbox (no such container); 0 file(s) (0 bytes) were kept before it']);
  });

  it('logs a storage fault (a full disk) in the run and resolves: the run goes on to its end', async () => {
    let saves = 0;
    const full: Pick<ArtifactStore, 'save'> = {
      save: (runId, path, content, options) => {
        saves += 1;
        if (saves === 2) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
        return store.save(runId, path, content, options);
      },
    };
    const sandbox = new ArchiveSandbox({
      '/workspace/out': {
        entries: [
          { name: 'out/1', content: 'one' },
          { name: 'out/2', content: 'two' },
          { name: 'out/3', content: 'three' },
        ],
      },
    });
    await collect(sandbox, ['/workspace/out'], { store: full });
    expect((await store.list(RUN)).map((a) => a.path)).toEqual(['/workspace/out/1']);
    expect(lines.at(-1)).toBe(
      'artifacts: could not store /workspace/out/2 (ENOSPC: no space left on device, write); 1 file(s) (3 bytes) were kept before it',
    );
    expect(warnings).toHaveLength(1);
  });

  it('is bounded by its own deadline: an engine that never answers, or a stream that stalls, ends the collection', async () => {
    const stalled = new ArchiveSandbox({
      '/workspace/out': {
        entries: [
          { name: 'out/first', content: 'f'.repeat(600) },
          { name: 'out/second', content: 's'.repeat(5000) },
        ],
        stream: { chunkBytes: 512, stallAfterBytes: 2048 },
      },
    });
    await collect(stalled, ['/workspace/out'], { timeoutMs: 100 });
    expect((await store.list(RUN)).map((a) => a.path)).toEqual(['/workspace/out/first']);
    expect(stalled.aborted).toEqual(['/workspace/out']);
    expect(lines.at(-1)).toBe('artifacts: collection stopped after its deadline of 100 ms; 1 file(s) (600 bytes) were kept before it');

    lines = [];
    const silent = new ArchiveSandbox({ '/workspace/out': 'never' });
    await collect(silent, ['/workspace/out'], { timeoutMs: 100 });
    expect(silent.aborted).toEqual(['/workspace/out']);
    expect(lines).toEqual(['artifacts: collection stopped after its deadline of 100 ms; 0 file(s) (0 bytes) were kept before it']);
  });

  it('says so when a path holds no regular file', async () => {
    const sandbox = new ArchiveSandbox({
      '/workspace/out': {
        entries: [
          { name: 'out/', type: 'directory' },
          { name: 'out/empty/', type: 'directory' },
        ],
      },
    });
    await collect(sandbox, ['/workspace/out']);
    expect(await store.list(RUN)).toEqual([]);
    expect(lines).toEqual(['artifacts: /workspace/out holds no regular file; nothing kept for it']);
  });

  it('does nothing for a run that names no path', async () => {
    const sandbox = new ArchiveSandbox({});
    await collect(sandbox, []);
    expect(sandbox.asked).toEqual([]);
    expect(lines).toEqual([]);
  });
});
