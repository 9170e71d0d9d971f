/**
 * Agents by name. Built in the composition root, with the shell agent and whatever else the
 * deployment registers.
 */
import type { Agent } from './agent.js';

export class AgentRegistry {
  private readonly agents = new Map<string, Agent>();

  constructor(agents: Iterable<Agent> = []) {
    for (const agent of agents) this.register(agent);
  }

  register(agent: Agent): this {
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(agent.name)) {
      throw new TypeError(`Expected an agent name of lowercase letters, digits and dashes, got ${JSON.stringify(agent.name)}`);
    }
    if (this.agents.has(agent.name)) throw new TypeError(`An agent named ${JSON.stringify(agent.name)} is already registered`);
    this.agents.set(agent.name, agent);
    return this;
  }

  get(name: string): Agent | undefined {
    return this.agents.get(name);
  }

  names(): string[] {
    return [...this.agents.keys()].sort();
  }
}
