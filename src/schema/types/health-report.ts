/**
 * `HealthReport` and its parts: the Docker engine, the overall figures, each container's health
 * and the thresholds in force.
 */
import type { BosunBuilder } from '../builder.js';
import type { BosunEnums } from './enums.js';

export function addHealthReportTypes(builder: BosunBuilder, enums: BosunEnums): void {
  builder.objectType('ContainerHealth', {
    fields: (t) => ({
      containerId: t.exposeID('containerId'),
      name: t.exposeString('name'),
      agentId: t.exposeID('agentId', { nullable: true }),
      level: t.expose('level', { type: enums.HealthLevel }),
      latest: t.expose('latest', { type: 'ResourceSample', nullable: true }),
      alerts: t.expose('alerts', { type: ['HealthAlert'], description: 'Unresolved alerts.' }),
      checkedAt: t.expose('checkedAt', { type: 'DateTime', nullable: true }),
    }),
  });

  builder.objectType('HealthOverall', {
    fields: (t) => ({
      totalContainers: t.exposeInt('totalContainers'),
      healthyContainers: t.exposeInt('healthyContainers'),
      warningContainers: t.exposeInt('warningContainers'),
      criticalContainers: t.exposeInt('criticalContainers'),
      unhealthyContainers: t.exposeInt('unhealthyContainers', { description: 'warning + critical.' }),
      avgCpuPercent: t.exposeFloat('avgCpuPercent'),
      avgMemoryPercent: t.exposeFloat('avgMemoryPercent'),
    }),
  });

  builder.objectType('DockerEngineHealth', {
    fields: (t) => ({
      reachable: t.exposeBoolean('reachable'),
      version: t.exposeString('version', { nullable: true }),
      error: t.exposeString('error', { nullable: true }),
    }),
  });

  builder.objectType('ResourceThresholds', {
    fields: (t) => ({
      cpuPercentWarning: t.exposeFloat('cpuPercentWarning'),
      cpuPercentCritical: t.exposeFloat('cpuPercentCritical'),
      memoryPercentWarning: t.exposeFloat('memoryPercentWarning'),
      memoryPercentCritical: t.exposeFloat('memoryPercentCritical'),
      pidsWarning: t.exposeInt('pidsWarning'),
      pidsCritical: t.exposeInt('pidsCritical'),
      pidsPercentWarning: t.exposeFloat('pidsPercentWarning', {
        description:
          "PIDs as a % of the container's pids limit (PIDS_WARNING_PERCENT). The counts pidsWarning / pidsCritical " +
          'grade too when PIDS_WARNING or PIDS_CRITICAL is set (the worse grade counts), and alone for a container without a known pids limit.',
      }),
      pidsPercentCritical: t.exposeFloat('pidsPercentCritical', {
        description: "PIDs as a % of the container's pids limit (PIDS_CRITICAL_PERCENT); see pidsPercentWarning.",
      }),
    }),
  });

  builder.objectType('HealthReport', {
    fields: (t) => ({
      generatedAt: t.expose('generatedAt', { type: 'DateTime' }),
      docker: t.expose('docker', { type: 'DockerEngineHealth' }),
      overall: t.expose('overall', { type: 'HealthOverall' }),
      containers: t.expose('containers', { type: ['ContainerHealth'] }),
      thresholds: t.expose('thresholds', { type: 'ResourceThresholds' }),
    }),
  });
}
