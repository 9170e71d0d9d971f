/**
 * The overall figures of a health report, from the health of each container. Pure.
 */
import type { ContainerHealth, HealthOverall } from './monitor-types.js';

/**
 * Counts containers by level and averages CPU and memory over those with a current reading (a
 * container whose stream is broken reads UNKNOWN, and its last sample is stale).
 */
export function summarizeHealth(containers: readonly ContainerHealth[]): HealthOverall {
  let healthy = 0;
  let warning = 0;
  let critical = 0;
  let cpuTotal = 0;
  let memoryTotal = 0;
  let measured = 0;
  for (const container of containers) {
    if (container.level === 'HEALTHY') healthy += 1;
    else if (container.level === 'WARNING') warning += 1;
    else if (container.level === 'CRITICAL') critical += 1;
    if (container.level !== 'UNKNOWN' && container.latest !== null) {
      cpuTotal += container.latest.cpuPercent;
      memoryTotal += container.latest.memoryPercent;
      measured += 1;
    }
  }
  return {
    totalContainers: containers.length,
    healthyContainers: healthy,
    warningContainers: warning,
    criticalContainers: critical,
    unhealthyContainers: warning + critical,
    avgCpuPercent: measured === 0 ? 0 : cpuTotal / measured,
    avgMemoryPercent: measured === 0 ? 0 : memoryTotal / measured,
  };
}

/** The health check's one log line: "health: 3 containers (1 healthy, …), docker 27.1.1". */
export function describeHealth(overall: HealthOverall, docker: { reachable: boolean; version: string | null; error: string | null }): string {
  const engine = docker.reachable ? `docker ${docker.version ?? '?'}` : `docker unreachable (${docker.error ?? '?'})`;
  const unknown = overall.totalContainers - overall.healthyContainers - overall.unhealthyContainers;
  return (
    `health: ${overall.totalContainers} containers (${overall.healthyContainers} healthy, ` +
    `${overall.warningContainers} warning, ${overall.criticalContainers} critical, ${unknown} unknown), ${engine}`
  );
}
