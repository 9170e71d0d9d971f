/**
 * The labels that mark a container as bosun's, and the filters that find them again.
 */
export const LABEL_MANAGED = 'bosun.managed';
export const LABEL_INSTANCE = 'bosun.instance';
export const LABEL_AGENT = 'bosun.agent';

export interface OwnershipLabels {
  readonly instanceId: string;
  readonly agentId: string;
}

export function ownershipLabels(owner: OwnershipLabels): Record<string, string> {
  return { [LABEL_MANAGED]: 'true', [LABEL_INSTANCE]: owner.instanceId, [LABEL_AGENT]: owner.agentId };
}

/** A Docker `filters` value for the containers of one instance (and optionally one agent). */
export function ownershipFilter(instanceId: string, agentId?: string): { label: string[] } {
  const label = [`${LABEL_MANAGED}=true`, `${LABEL_INSTANCE}=${instanceId}`];
  if (agentId !== undefined) label.push(`${LABEL_AGENT}=${agentId}`);
  return { label };
}
