/**
 * The labels that mark a container as bosun's, and the filters that find them again.
 */
export const LABEL_MANAGED = 'bosun.managed';
export const LABEL_INSTANCE = 'bosun.instance';
/** The run a container serves (named `bosun.agent` since the first release; the value is the run's id). */
export const LABEL_RUN = 'bosun.agent';

export interface OwnershipLabels {
  readonly instanceId: string;
  readonly runId: string;
}

export function ownershipLabels(owner: OwnershipLabels): Record<string, string> {
  return { [LABEL_MANAGED]: 'true', [LABEL_INSTANCE]: owner.instanceId, [LABEL_RUN]: owner.runId };
}

/** A Docker `filters` value for the containers of one instance (and optionally one run). */
export function ownershipFilter(instanceId: string, runId?: string): { label: string[] } {
  const label = [`${LABEL_MANAGED}=true`, `${LABEL_INSTANCE}=${instanceId}`];
  if (runId !== undefined) label.push(`${LABEL_RUN}=${runId}`);
  return { label };
}
