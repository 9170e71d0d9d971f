import { describe, expect, it } from 'vitest';
import { parseChildStats, parseKnownStats, statRecord } from '../../src/sandbox/file-stat.js';

describe('statRecord', () => {
  it('reads the type and the permission bits (setuid, setgid, sticky included) from the raw mode', () => {
    expect(statRecord('81a4', '12')).toEqual({ type: 'FILE', sizeBytes: 12, mode: 0o644 });
    expect(statRecord('43ff', '60')).toEqual({ type: 'DIRECTORY', sizeBytes: 60, mode: 0o1777 });
    expect(statRecord('a1ff', '4')).toEqual({ type: 'SYMLINK', sizeBytes: 4, mode: 0o777 });
    expect(statRecord('11a4', '0')).toEqual({ type: 'OTHER', sizeBytes: 0, mode: 0o644 });
    expect(statRecord('89ed', '1')).toEqual({ type: 'FILE', sizeBytes: 1, mode: 0o4755 });
  });
});

describe('parseChildStats', () => {
  it('reads names with spaces and newlines, even ones that look like a record', () => {
    const text = '81a4 3 ./plain\n81a4 5 ./with space\n81a4 7 ./new\nline\n81a4 9 ./fake\n81a4 1 x\n41ed 40 ./dir\n';
    expect(parseChildStats(text)).toEqual([
      { name: 'plain', type: 'FILE', sizeBytes: 3, mode: 0o644 },
      { name: 'with space', type: 'FILE', sizeBytes: 5, mode: 0o644 },
      { name: 'new\nline', type: 'FILE', sizeBytes: 7, mode: 0o644 },
      // No `/` can follow inside a name, so "81a4 1 x" is part of this one.
      { name: 'fake\n81a4 1 x', type: 'FILE', sizeBytes: 9, mode: 0o644 },
      { name: 'dir', type: 'DIRECTORY', sizeBytes: 40, mode: 0o755 },
    ]);
  });

  it('keeps a name that ends with a newline', () => {
    expect(parseChildStats('81a4 1 ./a\n\n81a4 2 ./b\n').map((record) => record.name)).toEqual(['a\n', 'b']);
  });

  it('reads nothing as no entries, and refuses what is not stat output', () => {
    expect(parseChildStats('')).toEqual([]);
    expect(() => parseChildStats('81a4 1 ./a')).toThrow(/newline/);
    expect(() => parseChildStats('stat: cannot stat\n')).toThrow(/unexpected stat output/);
  });
});

describe('parseKnownStats', () => {
  it('reads the records of the paths it was given, in order', () => {
    const paths = ['/workspace/a b', '/workspace/new\nline', '/tmp/x'];
    expect(parseKnownStats('81a4 1 /workspace/a b\n81ed 2 /workspace/new\nline\n81a4 3 /tmp/x\n', paths)).toEqual([
      { path: '/workspace/a b', type: 'FILE', sizeBytes: 1, mode: 0o644 },
      { path: '/workspace/new\nline', type: 'FILE', sizeBytes: 2, mode: 0o755 },
      { path: '/tmp/x', type: 'FILE', sizeBytes: 3, mode: 0o644 },
    ]);
  });

  it('refuses a missing record, another path, and anything more', () => {
    expect(() => parseKnownStats('81a4 1 /a\n', ['/a', '/b'])).toThrow(/no stat record for "\/b"/);
    expect(() => parseKnownStats('81a4 1 /ab\n', ['/a'])).toThrow(/no stat record for "\/a"/);
    expect(() => parseKnownStats('81a4 1 /a\n81a4 1 /b\n', ['/a'])).toThrow(/more records/);
  });
});
