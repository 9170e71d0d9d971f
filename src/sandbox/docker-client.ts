/**
 * Builds the dockerode client from the config's connection settings.
 */
import Docker from 'dockerode';
import type { DockerConnection } from '../config.js';

export function createDockerClient(connection: DockerConnection): Docker {
  return connection.kind === 'socket'
    ? new Docker({ socketPath: connection.socketPath })
    : new Docker({ host: connection.host, port: connection.port, protocol: 'http' });
}
