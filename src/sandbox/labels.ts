/**
 * The labels that mark a container as bosun's, and the filters that find them again.
 */
export const LABEL_MANAGED = 'bosun.managed';
export const LABEL_INSTANCE = 'bosun.instance';
/** The run a container serves (named `bosun.agent` since the first release; the value is the run's id). */
export const LABEL_RUN = 'bosun.agent';
/**
 * On a sandbox created ahead of time for the warm pool. Labels cannot change once a container
 * exists, so a pool sandbox keeps it (and its slot's name in {@link LABEL_RUN}) after a run takes
 * it: the run's record (`containerId`) and the container's name (renamed `bosun-<runId>` at the
 * take) are what link it to its run.
 */
export const LABEL_POOL = 'bosun.pool';

export interface OwnershipLabels {
  readonly instanceId: string;
  readonly runId: string;
  /** Created ahead of time for the warm pool ({@link LABEL_POOL}). */
  readonly pool?: boolean;
}

export function ownershipLabels(owner: OwnershipLabels): Record<string, string> {
  return {
    [LABEL_MANAGED]: 'true',
    [LABEL_INSTANCE]: owner.instanceId,
    [LABEL_RUN]: owner.runId,
    ...(owner.pool === true ? { [LABEL_POOL]: 'true' } : {}),
  };
}

/** A Docker `filters` value for the containers of one instance (and optionally one run). */
export function ownershipFilter(instanceId: string, runId?: string): { label: string[] } {
  const label = [`${LABEL_MANAGED}=true`, `${LABEL_INSTANCE}=${instanceId}`];
  if (runId !== undefined) label.push(`${LABEL_RUN}=${runId}`);
  return { label };
}
