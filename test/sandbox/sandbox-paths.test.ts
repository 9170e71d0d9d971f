import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.js';
import { checkSandboxPath, isWithin } from '../../src/sandbox/sandbox-paths.js';

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
