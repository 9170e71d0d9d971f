/**
 * The packages dockerode and docker-modem `require` as they load, for features bosun never uses,
 * deferred until something uses them (src/shared/deferred-packages.ts):
 * - `ssh2` (docker-modem's lib/ssh.js): engines reached over `ssh://`, which bosun's config
 *   refuses (DOCKER_HOST is `unix://` or `tcp://`, src/env-reader.ts);
 * - `@grpc/grpc-js` and `@grpc/proto-loader` (dockerode's lib/session.js): the BuildKit session
 *   of `buildImage({ version: '2' })`; bosun builds no images.
 *
 * Loaded, they are some 220 modules (with protobufjs and ssh2's WebAssembly ciphers) and about
 * 6 MB of a fresh bosun's idle RSS of 100 (bench/results/2026-11-30-idle-profile.md).
 */
import { deferPackages, type DeferredPackage } from '../shared/deferred-packages.js';

const UNUSED_DOCKER_TRANSPORTS: readonly DeferredPackage[] = [
  // docker-modem reads `require('ssh2').Client` as it loads.
  { requiredBy: ['dockerode', 'docker-modem'], specifier: 'ssh2', constructors: ['Client'] },
  { requiredBy: ['dockerode'], specifier: '@grpc/grpc-js' },
  { requiredBy: ['dockerode'], specifier: '@grpc/proto-loader' },
];

/** Call before dockerode is first loaded. */
export function deferUnusedDockerTransports(): void {
  deferPackages(UNUSED_DOCKER_TRANSPORTS);
}
