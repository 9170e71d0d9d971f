/**
 * The deferred transports, in a fresh Node process (this one may have loaded dockerode already,
 * through other test files): a client is made without loading ssh2 or gRPC, and each, once used,
 * is the real package.
 */
import { describe, expect, it } from 'vitest';
import { CACHE_COUNTER, inFreshProcess } from '../helpers/fresh-process.js';

const PRELUDE = `${CACHE_COUNTER}
import { createRequire } from 'node:module';
import { createDockerClient } from './src/sandbox/docker-client.ts';
const fromBosun = createRequire(import.meta.url);
const fromDockerode = createRequire(fromBosun.resolve('dockerode'));
const fromModem = createRequire(fromDockerode.resolve('docker-modem'));
const counts = () => ({ ssh2: cached('ssh2'), grpc: cached('@grpc/grpc-js'), protoLoader: cached('@grpc/proto-loader') });
`;

describe('deferUnusedDockerTransports', () => {
  it('makes a Docker client without loading ssh2, @grpc/grpc-js or @grpc/proto-loader', async () => {
    const result = await inFreshProcess(`${PRELUDE}
      const docker = createDockerClient({ kind: 'socket', socketPath: '/nonexistent/docker.sock' });
      console.log(JSON.stringify({ ...counts(), dockerode: cached('dockerode') > 0, modem: typeof docker.modem.dial }));
    `);
    expect(result).toEqual({ ssh2: 1, grpc: 1, protoLoader: 1, dockerode: true, modem: 'function' });
  });

  it('loads the real gRPC packages on their first use, for dockerode and for later requires', async () => {
    const result = await inFreshProcess(`${PRELUDE}
      createDockerClient({ kind: 'socket', socketPath: '/nonexistent/docker.sock' });
      const grpc = fromDockerode('@grpc/grpc-js');
      const before = counts();
      const server = new grpc.Server();
      const loadSync = typeof fromDockerode('@grpc/proto-loader').loadSync;
      console.log(JSON.stringify({
        before,
        after: counts(),
        server: server instanceof fromDockerode('@grpc/grpc-js').Server,
        sameClass: grpc.Server === fromDockerode('@grpc/grpc-js').Server,
        credentials: typeof grpc.ServerCredentials.createInsecure,
        keys: Object.keys(grpc).includes('loadPackageDefinition'),
        loadSync,
      }));
    `);
    expect(result['before']).toEqual({ ssh2: 1, grpc: 1, protoLoader: 1 });
    expect((result['after'] as Record<string, number>)['grpc']).toBeGreaterThan(1);
    expect((result['after'] as Record<string, number>)['protoLoader']).toBeGreaterThan(1);
    expect(result).toMatchObject({ server: true, sameClass: true, credentials: 'function', keys: true, loadSync: 'function' });
  });

  it("builds docker-modem's ssh2 Client from the real package when an ssh connection is made", async () => {
    const result = await inFreshProcess(`${PRELUDE}
      createDockerClient({ kind: 'socket', socketPath: '/nonexistent/docker.sock' });
      const { Client } = fromModem('ssh2');
      const before = counts();
      const client = new Client();
      const real = fromModem('ssh2');
      console.log(JSON.stringify({ before, after: counts().ssh2, real: client instanceof real.Client, connect: typeof client.connect }));
    `);
    expect(result['before']).toEqual({ ssh2: 1, grpc: 1, protoLoader: 1 });
    expect(result['after']).toBeGreaterThan(1);
    expect(result).toMatchObject({ real: true, connect: 'function' });
  });
});
