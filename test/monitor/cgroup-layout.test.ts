import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CgroupLayout, parseProcCgroup, systemdSlicePath } from '../../src/monitor/cgroup-layout.js';
import { FakeCgroupHost, containerId } from './fake-cgroup.js';

const hosts: FakeCgroupHost[] = [];
afterEach(() => {
  for (const host of hosts.splice(0)) host.remove();
});

function host(version: 1 | 2): { fake: FakeCgroupHost; layout: CgroupLayout } {
  const fake = new FakeCgroupHost(version);
  hosts.push(fake);
  const layout = CgroupLayout.detect({ root: fake.root, procRoot: fake.procRoot });
  if (layout === null) throw new Error('the fake hierarchy was not detected');
  return { fake, layout };
}

const ID = containerId(1);

describe('CgroupLayout.detect', () => {
  it('tells the unified hierarchy (v2) from per-controller ones (v1, also hybrid set-ups)', () => {
    expect(host(2).layout.version).toBe(2);
    expect(host(1).layout.version).toBe(1);
  });

  it('is null where neither can be read (no cgroup file system, or v1 without the pids controller)', () => {
    const empty = mkdtempSync(join(tmpdir(), 'bosun-no-cgroup-'));
    try {
      expect(CgroupLayout.detect({ root: join(empty, 'absent') })).toBeNull();
      mkdirSync(join(empty, 'cpuacct'));
      mkdirSync(join(empty, 'memory'));
      expect(CgroupLayout.detect({ root: empty })).toBeNull();
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe.each([1, 2] as const)('locating a container on cgroup v%i', (version) => {
  it('finds the cgroupfs driver’s /docker/<id> from the id alone', () => {
    const { fake, layout } = host(version);
    fake.writeCgroup(`/docker/${ID}`);
    expect(layout.locate(ID)).toEqual({ version, ...fake.dirsOf(`/docker/${ID}`) });
  });

  it('finds the systemd driver’s system.slice/docker-<id>.scope from the id alone', () => {
    const { fake, layout } = host(version);
    fake.writeCgroup(`/system.slice/docker-${ID}.scope`);
    expect(layout.locate(ID)).toEqual({ version, ...fake.dirsOf(`/system.slice/docker-${ID}.scope`) });
  });

  it('finds a container under a custom cgroup parent, for either driver', () => {
    const { fake, layout } = host(version);
    fake.writeCgroup(`/bosun/${ID}`);
    fake.writeCgroup(`/agents.slice/agents-sandboxes.slice/docker-${containerId(2)}.scope`);
    expect(layout.locate(ID)).toBeNull();
    expect(layout.locate(ID, { pid: null, cgroupParent: '/bosun' })?.cpu).toBe(fake.dirsOf(`/bosun/${ID}`).cpu);
    expect(layout.locate(containerId(2), { pid: null, cgroupParent: 'agents-sandboxes.slice' })?.cpu).toBe(
      fake.dirsOf(`/agents.slice/agents-sandboxes.slice/docker-${containerId(2)}.scope`).cpu,
    );
  });

  it('finds any other placement through the container’s process (/proc/<pid>/cgroup)', () => {
    const { fake, layout } = host(version);
    const path = `/user.slice/user-1000.slice/user@1000.service/docker/${ID}`;
    fake.writeCgroup(path);
    fake.writeProcess(4242, path);
    expect(layout.locate(ID)).toBeNull();
    expect(layout.locate(ID, { pid: 4242, cgroupParent: null })).toEqual({ version, ...fake.dirsOf(path) });
  });

  it('takes no directory whose files are not there, and no path outside its own cgroup namespace', () => {
    const { fake, layout } = host(version);
    // The engine's own view of a container in a VM: nothing of it on this host.
    expect(layout.locate(ID, { pid: 4242, cgroupParent: null })).toBeNull();
    fake.writeProcess(4243, `/../../docker/${ID}`);
    expect(layout.locate(ID, { pid: 4243, cgroupParent: null })).toBeNull();
    // A short id is never guessed at.
    fake.writeCgroup(`/docker/${ID.slice(0, 12)}`);
    expect(layout.locate(ID.slice(0, 12))).toBeNull();
  });
});

describe('parseProcCgroup', () => {
  it('maps each v1 controller, split at commas, and the v2 line to ""', () => {
    const paths = parseProcCgroup('4:cpu,cpuacct:/docker/x\n11:memory:/docker/x\n1:name=systemd:/init\n0::/system.slice/y\n');
    expect(paths.get('cpuacct')).toBe('/docker/x');
    expect(paths.get('cpu')).toBe('/docker/x');
    expect(paths.get('memory')).toBe('/docker/x');
    expect(paths.get('')).toBe('/system.slice/y');
  });
});

describe('systemdSlicePath', () => {
  it('nests a slice under its prefixes, as systemd does', () => {
    expect(systemdSlicePath('system.slice')).toBe('/system.slice');
    expect(systemdSlicePath('a-b-c.slice')).toBe('/a.slice/a-b.slice/a-b-c.slice');
    expect(systemdSlicePath('-.slice')).toBe('/');
    expect(systemdSlicePath('/custom/parent')).toBe('/custom/parent');
  });
});
