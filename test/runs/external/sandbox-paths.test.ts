/**
 * The paths an external run's calls may name: the shared rule (tested with the sandbox), refused
 * as BAD_USER_INPUT naming the call's field and saying why; files are not the mounts themselves.
 */
import { describe, expect, it } from 'vitest';
import { BosunError } from '../../../src/errors.js';
import { requireSandboxPath, requireWorkingDirectory } from '../../../src/runs/external/sandbox-paths.js';

const refusal = (field: string): unknown => expect.objectContaining({ code: 'BAD_USER_INPUT', field });

describe('requireSandboxPath', () => {
  it('returns the path it accepts, a mount included for an entry', () => {
    expect(requireSandboxPath('path', '/tmp/x', 'file')).toBe('/tmp/x');
    expect(requireSandboxPath('path', '/workspace')).toBe('/workspace');
  });

  it('names the field and says what is wrong', () => {
    let error: unknown;
    try {
      requireSandboxPath('files[2].path', '/workspace/../etc', 'file');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BosunError);
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'files[2].path' });
    expect((error as Error).message).toMatch(
      /^files\[2\]\.path: expected an absolute, normalised path inside \/workspace or \/tmp .*\(it is not normalised\), got "\/workspace\/\.\.\/etc"$/,
    );
  });

  it.each(['/workspace/a\0b', '/etc/passwd', 'workspace/a', '/tmp/', ''])('refuses %j', (path) => {
    expect(() => requireSandboxPath('path', path)).toThrow(refusal('path'));
  });

  it('refuses a mount as a file', () => {
    expect(() => requireSandboxPath('files[0].path', '/workspace', 'file')).toThrow(/not a mount itself/);
    expect(() => requireSandboxPath('path', '/tmp', 'file')).toThrow(refusal('path'));
  });
});

describe('requireWorkingDirectory', () => {
  it('takes any absolute normalised directory', () => {
    expect(requireWorkingDirectory('options.cwd', '/')).toBe('/');
    expect(requireWorkingDirectory('options.cwd', '/usr/src')).toBe('/usr/src');
  });

  it.each(['relative', '/a/../b', '/a/', '/a\0', ''])('refuses %j', (cwd) => {
    expect(() => requireWorkingDirectory('options.cwd', cwd)).toThrow(refusal('options.cwd'));
  });
});
