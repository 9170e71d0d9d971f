/**
 * The sandbox path rule: examples of each refusal, and properties over generated paths (a path
 * that is accepted means exactly itself, inside a root; no `..`, NUL or relative path passes).
 */
import fc from 'fast-check';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BosunError } from '../../../src/errors.js';
import { MAX_SANDBOX_PATH_CHARS, requireSandboxPath, requireWorkingDirectory, sandboxPathProblem } from '../../../src/runs/external/sandbox-paths.js';

describe('sandboxPathProblem', () => {
  it.each([
    ['/workspace', 'entry'],
    ['/workspace/a', 'file'],
    ['/workspace/a/b.txt', 'file'],
    ['/tmp', 'entry'],
    ['/tmp/x', 'file'],
    ['/workspace/.hidden', 'file'],
    ['/workspace/a..b', 'file'],
    ['/workspace/sp ace/ünï', 'file'],
  ] as const)('accepts %s as %s', (path, kind) => {
    expect(sandboxPathProblem(path, kind)).toBeUndefined();
  });

  it.each([
    ['', 'entry', 'it is empty'],
    ['workspace/a', 'entry', 'it is not absolute'],
    ['/workspace/../etc/passwd', 'entry', 'it is not normalised'],
    ['/workspace/./a', 'entry', 'it is not normalised'],
    ['/workspace//a', 'entry', 'it is not normalised'],
    ['/workspace/a/', 'entry', 'it is not normalised'],
    ['/workspace/..', 'entry', 'it is not normalised'],
    ['/etc/passwd', 'entry', 'it is outside /workspace and /tmp'],
    ['/', 'entry', 'it is outside /workspace and /tmp'],
    ['/workspacefoo', 'entry', 'it is outside /workspace and /tmp'],
    ['/tmpfile', 'file', 'it is outside /workspace and /tmp'],
    ['/workspace/a\0b', 'file', 'it holds a NUL byte'],
    ['/workspace', 'file', 'it names a mount, not a file in it'],
    ['/tmp', 'file', 'it names a mount, not a file in it'],
    [`/workspace/${'a'.repeat(MAX_SANDBOX_PATH_CHARS)}`, 'file', 'it is too long'],
  ] as const)('refuses %j as %s: %s', (path, kind, problem) => {
    expect(sandboxPathProblem(path, kind)).toBe(problem);
  });

  it('accepts only absolute normalised paths inside a root, whatever the path', () => {
    const segment = fc.oneof(fc.constantFrom('.', '..', '', 'a', 'workspace', 'tmp', 'b.txt', '\0', ' '), fc.string({ maxLength: 4 }));
    const path = fc.tuple(fc.boolean(), fc.array(segment, { maxLength: 6 })).map(([absolute, parts]) => `${absolute ? '/' : ''}${parts.join('/')}`);
    fc.assert(
      fc.property(path, fc.constantFrom<'file' | 'entry'>('file', 'entry'), (candidate, kind) => {
        if (sandboxPathProblem(candidate, kind) !== undefined) return;
        expect(candidate.startsWith('/')).toBe(true);
        expect(candidate).not.toContain('\0');
        expect(posix.normalize(candidate)).toBe(candidate);
        expect(candidate.split('/')).not.toContain('..');
        expect(/^\/(workspace|tmp)(\/|$)/.test(candidate)).toBe(true);
        // Resolving it inside the root never leaves the root.
        expect(posix.resolve('/', candidate)).toBe(candidate);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses every path with a `..` segment', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', '..', '.'), { minLength: 1, maxLength: 5 }), (parts) => {
        fc.pre(parts.includes('..'));
        expect(sandboxPathProblem(`/workspace/${parts.join('/')}`, 'entry')).toBeDefined();
      }),
    );
  });
});

describe('requireSandboxPath', () => {
  it('names the field in a BAD_USER_INPUT refusal', () => {
    let error: unknown;
    try {
      requireSandboxPath('files[2].path', '/workspace/../etc', 'file');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BosunError);
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'files[2].path' });
    expect((error as Error).message).toMatch(
      /^files\[2\]\.path: expected an absolute, normalised path of a file inside \/workspace or \/tmp.*\(it is not normalised\), got "\/workspace\/\.\.\/etc"$/,
    );
  });

  it('returns the path it accepts', () => {
    expect(requireSandboxPath('path', '/tmp/x')).toBe('/tmp/x');
  });
});

describe('requireWorkingDirectory', () => {
  it('takes any absolute normalised directory', () => {
    expect(requireWorkingDirectory('options.cwd', '/')).toBe('/');
    expect(requireWorkingDirectory('options.cwd', '/usr/src')).toBe('/usr/src');
  });

  it.each(['relative', '/a/../b', '/a/', '/a\0', ''])('refuses %j', (cwd) => {
    expect(() => requireWorkingDirectory('options.cwd', cwd)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'options.cwd' }));
  });
});
