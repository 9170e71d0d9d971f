import fc from 'fast-check';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.js';
import { checkSandboxPath, isWithin, sandboxPathProblem } from '../../src/sandbox/sandbox-paths.js';

describe('checkSandboxPath', () => {
  it.each(['/workspace', '/tmp', '/workspace/out/fix.patch', '/tmp/a b/ü', '/workspace/.hidden', '/workspace/..x'])('accepts %j', (path) => {
    expect(checkSandboxPath(path)).toBe(path);
  });

  it.each([
    'relative/path',
    '/workspace/../etc',
    '/workspace/./x',
    '/workspace//x',
    '/workspace/',
    '/',
    '/etc/passwd',
    '/workspaces/x',
    '/tmpfoo',
    '/workspace/a\0b',
    `/tmp/${'x'.repeat(4092)}`,
    42,
    null,
  ])('refuses %j', (path) => {
    expect(() => checkSandboxPath(path)).toThrow(InvalidValueError);
  });
});

describe('isWithin', () => {
  it('is true for the root itself and what lies under it, never for a sibling with the same prefix', () => {
    expect(isWithin('/workspace', '/workspace')).toBe(true);
    expect(isWithin('/workspace/out', '/workspace')).toBe(true);
    expect(isWithin('/workspaces', '/workspace')).toBe(false);
    expect(isWithin('/etc', '/')).toBe(true);
  });
});

describe('sandboxPathProblem', () => {
  it.each([
    ['', 'it is empty'],
    ['workspace/a', 'it is not absolute'],
    ['/workspace/../etc/passwd', 'it is not normalised'],
    ['/workspace/./a', 'it is not normalised'],
    ['/workspace//a', 'it is not normalised'],
    ['/workspace/a/', 'it is not normalised'],
    ['/workspace/..', 'it is not normalised'],
    ['/etc/passwd', 'it is outside /workspace and /tmp'],
    ['/', 'it is outside /workspace and /tmp'],
    ['/workspacefoo', 'it is outside /workspace and /tmp'],
    ['/workspace/a\0b', 'it holds a NUL byte'],
    [`/workspace/${'a'.repeat(4096)}`, 'it is too long'],
  ])('says why %j is refused: %s', (path, problem) => {
    expect(sandboxPathProblem(path)).toBe(problem);
  });

  it('accepts only absolute normalised paths inside a root, whatever the path', () => {
    const segment = fc.oneof(fc.constantFrom('.', '..', '', 'a', 'workspace', 'tmp', 'b.txt', '\0', ' '), fc.string({ maxLength: 4 }));
    const path = fc.tuple(fc.boolean(), fc.array(segment, { maxLength: 6 })).map(([absolute, parts]) => `${absolute ? '/' : ''}${parts.join('/')}`);
    fc.assert(
      fc.property(path, (candidate) => {
        if (sandboxPathProblem(candidate) !== undefined) return;
        expect(candidate).not.toContain('\0');
        expect(posix.normalize(candidate)).toBe(candidate);
        expect(candidate.split('/')).not.toContain('..');
        expect(/^\/(workspace|tmp)(\/|$)/.test(candidate)).toBe(true);
        // Resolving it from the root never leaves the root.
        expect(posix.resolve('/', candidate)).toBe(candidate);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses every path with a `..` segment', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', '..', '.'), { minLength: 1, maxLength: 5 }), (parts) => {
        fc.pre(parts.includes('..'));
        expect(sandboxPathProblem(`/workspace/${parts.join('/')}`)).toBeDefined();
      }),
    );
  });
});
