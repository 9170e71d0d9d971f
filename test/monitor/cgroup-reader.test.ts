import { afterEach, describe, expect, it } from 'vitest';
import { CgroupLayout, type CgroupDirs } from '../../src/monitor/cgroup-layout.js';
import { CgroupFiles, HostCpuClock, LIMITS_EVERY_READS, parseCount, parseProcStatCpuNs, statField } from '../../src/monitor/cgroup-reader.js';
import { DEFAULT_COUNTERS, FakeCgroupHost, containerId } from './fake-cgroup.js';

const hosts: FakeCgroupHost[] = [];
const readers: CgroupFiles[] = [];
afterEach(() => {
  for (const reader of readers.splice(0)) reader.close();
  for (const host of hosts.splice(0)) host.remove();
});

const PATH = `/docker/${containerId(7)}`;

function setup(version: 1 | 2, keepOpen = true): { fake: FakeCgroupHost; files: CgroupFiles; dirs: CgroupDirs } {
  const fake = new FakeCgroupHost(version);
  hosts.push(fake);
  fake.writeCgroup(PATH);
  const dirs = CgroupLayout.detect({ root: fake.root })!.locate(containerId(7))!;
  const files = new CgroupFiles(dirs, keepOpen);
  readers.push(files);
  return { fake, files, dirs };
}

describe.each([1, 2] as const)('CgroupFiles on cgroup v%i', (version) => {
  it('reads the counters docker stats is computed from', () => {
    const { files } = setup(version);
    expect(files.read()).toEqual({
      cpuUsageNs: DEFAULT_COUNTERS.cpuUsageNs,
      memoryUsageBytes: DEFAULT_COUNTERS.memoryUsageBytes,
      // v1: the hierarchical total_inactive_file, as docker stats takes it; v2: inactive_file.
      inactiveFileBytes: DEFAULT_COUNTERS.inactiveFileBytes,
      memoryLimitBytes: DEFAULT_COUNTERS.memoryLimit,
      pids: DEFAULT_COUNTERS.pids,
      pidsLimit: DEFAULT_COUNTERS.pidsLimit,
    });
  });

  it('sees new figures at each read through the descriptors it keeps open (and holds 4)', () => {
    const { fake, files } = setup(version);
    files.read();
    expect(files.openDescriptors).toBe(4);
    fake.writeCgroup(PATH, { cpuUsageNs: 5_000_000_000, memoryUsageBytes: 3_000_000, pids: 9 });
    expect(files.read()).toMatchObject({ cpuUsageNs: 5_000_000_000, memoryUsageBytes: 3_000_000, pids: 9 });
  });

  it('holds no descriptor between reads when told not to keep them', () => {
    const { fake, files } = setup(version, false);
    files.read();
    expect(files.openDescriptors).toBe(0);
    fake.writeCgroup(PATH, { pids: 12 });
    expect(files.read().pids).toBe(12);
  });

  it('reads "no limit" as Infinity (memory) and null (pids)', () => {
    const { fake, files } = setup(version);
    fake.writeCgroup(PATH, { memoryLimit: 'max', pidsLimit: 'max' });
    const reading = files.read();
    // v1 shows no limit as a huge number, which the sampler caps at the host's memory as docker does.
    expect(reading.memoryLimitBytes).toBeGreaterThan(2 ** 62);
    expect(reading.pidsLimit).toBeNull();
  });

  it(`reads the limits again every ${LIMITS_EVERY_READS} readings (a docker update)`, () => {
    const { fake, files } = setup(version);
    files.read();
    fake.writeCgroup(PATH, { memoryLimit: 800 * 1024 ** 2, pidsLimit: 50 });
    for (let index = 1; index < LIMITS_EVERY_READS; index += 1) expect(files.read().pidsLimit).toBe(100);
    expect(files.read()).toMatchObject({ memoryLimitBytes: 800 * 1024 ** 2, pidsLimit: 50 });
  });

  it('throws ENOENT once the cgroup is gone, closing its descriptors, and reads again once it is back', () => {
    const { fake, files } = setup(version);
    files.read();
    fake.removeCgroup(PATH);
    // A regular file stays readable through an open descriptor; a cgroup file does not. Both end in ENOENT at the next open.
    files.close();
    expect(() => files.read()).toThrow(expect.objectContaining({ code: 'ENOENT' }) as Error);
    expect(files.openDescriptors).toBe(0);
    fake.writeCgroup(PATH, { pids: 4 });
    expect(files.read().pids).toBe(4);
  });

  it('throws on content that is not a counter', () => {
    const { fake, files } = setup(version);
    fake.writeCgroup(PATH, { pids: Number.NaN });
    expect(() => files.read()).toThrow('not a number');
  });
});

describe('HostCpuClock', () => {
  it('adds up user to softirq (not steal) in ticks of 10 ms, as the engine does', () => {
    const fake = new FakeCgroupHost(2);
    hosts.push(fake);
    const clock = new HostCpuClock(fake.procStat);
    fake.setHostTicks(250);
    expect(clock.readNs()).toBe(2_500_000_000);
    fake.setHostTicks(450);
    expect(clock.readNs()).toBe(4_500_000_000);
    clock.close();
    expect(new HostCpuClock(`${fake.procStat}-absent`).readNs()).toBeNull();
  });

  it('parses the cpu line strictly', () => {
    expect(parseProcStatCpuNs('cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1\n')).toBe(28 * 10_000_000);
    expect(() => parseProcStatCpuNs('intr 1 2\n')).toThrow();
    expect(() => parseProcStatCpuNs('cpu 1 2 3\n')).toThrow('too few fields');
  });
});

describe('file parsing', () => {
  it('parseCount reads a number or "max"', () => {
    expect(parseCount('123\n')).toBe(123);
    expect(parseCount('max\n', Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    expect(parseCount('max\n')).toBeNull();
    expect(() => parseCount('\n')).toThrow('not a number');
  });

  it('statField finds a key at the start, in the middle and at the end, never a longer key', () => {
    const text = 'inactive_file 1\ntotal_inactive_file 2\nactive_file 3';
    expect(statField(text, 'inactive_file')).toBe(1);
    expect(statField(text, 'total_inactive_file')).toBe(2);
    expect(statField(text, 'active_file')).toBe(3);
    expect(statField(text, 'file')).toBeUndefined();
  });
});
