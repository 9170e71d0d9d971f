/**
 * Builds the dockerode client from the config's connection settings, with the one change bosun
 * needs from its HTTP layer: it never follows a redirect.
 *
 * The engine answers a request whose path is not clean (`/images/a//json`, from an image named
 * `a/`) with `301 Moved Permanently`. docker-modem follows 3xx answers itself (its lib/http.js,
 * "based on follow-redirects"): it resolves the Location against a URL that has no host (the
 * request went to a unix socket), so the new request goes to a host named after a path segment
 * (`http://images/...`), and that request has no 'error' listener: its DNS failure is an uncaught
 * exception that ends the process. With `maxRedirects: 0` the modem emits its "Max redirects
 * exceeded" error on the original request instead, which the modem does listen to, so the call
 * rejects; bosun turns that into {@link DockerRedirectError}.
 *
 * dockerode is loaded here, on the first client, after {@link deferUnusedDockerTransports} (see
 * lazy-docker-transports.ts): a static import would load it, and the packages it loads for ssh://
 * engines and BuildKit sessions, before anything could defer them.
 */
import type Docker from 'dockerode';
import { createRequire } from 'node:module';
import { deferUnusedDockerTransports } from './lazy-docker-transports.js';

const require = createRequire(import.meta.url);

/** A 3xx answer from the engine, refused rather than followed. */
export class DockerRedirectError extends Error {
  override readonly name = 'DockerRedirectError';
  /** Stable, for {@link toSandboxError}: not a connection fault. */
  readonly code = 'EDOCKERREDIRECT';

  constructor(options?: { cause?: unknown }) {
    super(
      'the Docker engine answered with a redirect, which bosun never follows (the request path was not clean: a name with an empty, "." or ".." segment)',
      options,
    );
  }
}

/** How to reach the Docker engine, in dockerode's terms: a unix socket, or a TCP host and port. */
export type DockerConnection =
  { readonly kind: 'socket'; readonly socketPath: string } | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

export function createDockerClient(connection: DockerConnection): Docker {
  deferUnusedDockerTransports();
  const Docker = require('dockerode') as typeof import('dockerode');
  const docker =
    connection.kind === 'socket'
      ? new Docker({ socketPath: connection.socketPath })
      : new Docker({ host: connection.host, port: connection.port, protocol: 'http' });
  refuseRedirects(docker);
  return docker;
}

/**
 * The part of docker-modem's private API that every request goes through (modem.dial calls it).
 * Typed as a function property: {@link refuseRedirects} takes the original off the modem and calls it with `this`.
 */
interface ModemInternals {
  buildRequest: (
    this: ModemInternals,
    options: Record<string, unknown>,
    context: unknown,
    data: unknown,
    callback: (error: unknown, result?: unknown) => void,
  ) => void;
}

/** docker-modem's message when a request would exceed `maxRedirects`. */
const MAX_REDIRECTS_MESSAGE = /^Max redirects exceeded/;

/**
 * Makes every request of this client refuse redirects (per instance: other modems are untouched).
 * @throws Error when docker-modem no longer has the hook, so that an upgrade cannot silently drop the guard.
 */
export function refuseRedirects(docker: Docker): void {
  const modem = docker.modem as unknown as ModemInternals;
  const buildRequest = modem.buildRequest;
  if (typeof buildRequest !== 'function') {
    throw new Error('docker-modem has no buildRequest any more: check how it handles redirects before upgrading it');
  }
  modem.buildRequest = function (this: ModemInternals, options, context, data, callback) {
    options['maxRedirects'] = 0;
    buildRequest.call(this, options, context, data, (error, result) => {
      if (error instanceof Error && MAX_REDIRECTS_MESSAGE.test(error.message)) callback(new DockerRedirectError({ cause: error }));
      else callback(error, result);
    });
  };
}
