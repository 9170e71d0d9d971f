import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.js';
import { describeLimits, formatMemory, parseCpus, parseMemoryBytes, parsePidsLimit, toNanoCpus } from '../../src/sandbox/limits.js';

const MiB = 1024 ** 2;

describe('parseMemoryBytes', () => {
  it.each([
    ['512m', 512 * MiB],
    ['2g', 2 * 1024 * MiB],
    ['2G', 2 * 1024 * MiB],
    ['1.5g', 1.5 * 1024 * MiB],
    ['6m', 6 * MiB],
    ['65536k', 64 * MiB],
    ['67108864', 64 * MiB],
    ['67108864b', 64 * MiB],
    [' 256m ', 256 * MiB],
  ])('accepts %j', (input, bytes) => {
    expect(parseMemoryBytes(input)).toBe(bytes);
  });

  it.each(['', '0', '-1g', '2x', '5m', '1e309', 'NaN', 'Infinity', 'g', '1.g', '1 g b', '99999999999999999999g', '0x10m'])(
    'rejects %j with an Expected/got message',
    (input) => {
      expect(() => parseMemoryBytes(input)).toThrow(InvalidValueError);
      expect(() => parseMemoryBytes(input)).toThrow(/^Expected a size such as 512m or 2g .*, got /);
    },
  );

  it('formats bytes the way users write them', () => {
    expect(formatMemory(2 * 1024 * MiB)).toBe('2g');
    expect(formatMemory(64 * MiB)).toBe('64m');
    expect(formatMemory(1536 * MiB)).toBe('1536m');
    expect(formatMemory(1000)).toBe('1000b');
  });
});

describe('parseCpus', () => {
  it.each([
    ['1.5', 1.5],
    [1.5, 1.5],
    ['0.5', 0.5],
    [2, 2],
    ['0.01', 0.01],
  ])('accepts %j', (input, cpus) => {
    expect(parseCpus(input, 2)).toBe(cpus);
  });

  it.each([0, -1, 'abc', '', '-1', '1e2', 'NaN', Number.NaN, Number.POSITIVE_INFINITY, 3, '2.5', 0.001])('rejects %j', (input) => {
    expect(() => parseCpus(input, 2)).toThrow(/^Expected a number of CPUs from 0.01 to 2 \(this host's CPUs\), got /);
  });

  it('converts to nano CPUs without float noise', () => {
    expect(toNanoCpus(0.1)).toBe(100_000_000);
    expect(toNanoCpus(1.5)).toBe(1_500_000_000);
  });
});

describe('parsePidsLimit', () => {
  it.each([
    ['1000', 1000],
    [16, 16],
    [4194304, 4194304],
  ])('accepts %j', (input, pids) => {
    expect(parsePidsLimit(input)).toBe(pids);
  });

  it.each([15, 0, -1, 1.5, '1.5', 'abc', '', 4194305, Number.NaN])('rejects %j', (input) => {
    expect(() => parsePidsLimit(input)).toThrow(/^Expected an integer from 16 to 4194304, got /);
  });
});

it('describes limits in one line', () => {
  expect(describeLimits({ cpus: 1, memoryBytes: 2 * 1024 * MiB, pidsLimit: 1000 })).toBe('cpus=1 memory=2g pids=1000');
});
