/**
 * Reaping at the worst moment of a sandbox's creation, on the real engine: right after the
 * engine made the container, before the sandbox manager's create() has returned (the container
 * is not started, and the manager does not know its id yet).
 */
import type Docker from 'dockerode';

export interface ReapLog {
  /** Ids each reap removed, in order. */
  readonly reaped: string[];
  /** Errors the reaps threw. */
  readonly failures: unknown[];
}

/**
 * Makes every container creation through `client` run `reap` once the container exists, and
 * wait for it. The engine calls stay real. Reaps run one after another, as the engine guard
 * runs them.
 */
export function reapRightAfterEachCreate(client: Docker, reap: () => Promise<string[]>): ReapLog {
  const log: ReapLog = { reaped: [], failures: [] };
  let reaping = Promise.resolve();
  const createContainer = client.createContainer.bind(client);
  client.createContainer = (async (options: Docker.ContainerCreateOptions) => {
    const container = await createContainer(options);
    await (reaping = reaping.then(() =>
      reap().then(
        (ids) => void log.reaped.push(...ids),
        (error: unknown) => void log.failures.push(error),
      ),
    ));
    return container;
  }) as typeof client.createContainer;
  return log;
}
