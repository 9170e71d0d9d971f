/**
 * Defers the loading of three packages that dockerode and docker-modem `require` as they load,
 * for features bosun never uses, until something uses them:
 * - `ssh2` (docker-modem's lib/ssh.js): engines reached over `ssh://`, which bosun's config
 *   refuses (DOCKER_HOST is `unix://` or `tcp://`, src/env-reader.ts);
 * - `@grpc/grpc-js` and `@grpc/proto-loader` (dockerode's lib/session.js): the BuildKit session
 *   of `buildImage({ version: '2' })`; bosun builds no images.
 *
 * Loaded, they are some 360 modules (with protobufjs and ssh2's WebAssembly ciphers) and about
 * 6 MB of a fresh bosun's idle RSS of 100 (bench/results/2026-11-30-idle-profile.md).
 *
 * How: each package's entry file gets a stand-in in `require.cache` (Node's documented module
 * cache, where "adding or replacing entries is also possible") before dockerode loads. The
 * stand-in's exports forward every use to the real package, which is `require`d on the first
 * one, so nothing behaves differently: only later. docker-modem reads `require('ssh2').Client`
 * as it loads, so that name gets a constructor that builds the real `Client` when called.
 */
import { createRequire, Module } from 'node:module';

/** The packages deferred, each from the package that requires it, and the names read at load time that must not load it. */
const DEFERRED: readonly { readonly requiredBy: readonly string[]; readonly specifier: string; readonly constructors: readonly string[] }[] = [
  { requiredBy: ['dockerode', 'docker-modem'], specifier: 'ssh2', constructors: ['Client'] },
  { requiredBy: ['dockerode'], specifier: '@grpc/grpc-js', constructors: [] },
  { requiredBy: ['dockerode'], specifier: '@grpc/proto-loader', constructors: [] },
];

/**
 * Puts the stand-ins in place, before dockerode is first loaded. A package that is loaded
 * already, or not installed where its dependant would look, is left alone (dockerode then loads
 * or fails to load it exactly as it would have). Calling it again changes nothing.
 */
export function deferUnusedDockerTransports(): void {
  for (const { requiredBy, specifier, constructors } of DEFERRED) {
    // Resolved as the requiring package resolves it: dockerode from bosun, docker-modem from dockerode…
    let resolveFrom = import.meta.url;
    let filename: string;
    try {
      for (const name of requiredBy) resolveFrom = createRequire(resolveFrom).resolve(name);
      filename = createRequire(resolveFrom).resolve(specifier);
    } catch {
      continue;
    }
    const requireReal = createRequire(filename);
    if (requireReal.cache[filename] !== undefined) continue;
    const standIn = new Module(filename);
    standIn.filename = filename;
    standIn.loaded = true;
    let real: object | undefined;
    const load = (): object => {
      if (real === undefined) {
        if (requireReal.cache[filename] === standIn) delete requireReal.cache[filename];
        real = requireReal(filename) as object;
      }
      return real;
    };
    standIn.exports = forwardingExports(load, constructors);
    requireReal.cache[filename] = standIn;
  }
}

/** Exports that load the real module on first use and forward to it; `constructors` can be read without loading it. */
function forwardingExports(load: () => object, constructors: readonly string[]): object {
  const eager = new Map(constructors.map((name) => [name, forwardingConstructor(load, name)]));
  return new Proxy(
    {},
    {
      get: (_target, key) => (typeof key === 'string' && eager.has(key) ? eager.get(key) : (Reflect.get(load(), key) as unknown)),
      has: (_target, key) => Reflect.has(load(), key),
      ownKeys: () => Reflect.ownKeys(load()),
      // A proxy may only report a property its empty target lacks as configurable.
      getOwnPropertyDescriptor: (_target, key) => {
        const descriptor = Reflect.getOwnPropertyDescriptor(load(), key);
        return descriptor === undefined ? undefined : { ...descriptor, configurable: true };
      },
    },
  );
}

/** A constructor whose `new` loads the real module and returns an instance of its class `name`. */
function forwardingConstructor(load: () => object, name: string): new (...args: unknown[]) => object {
  return class {
    constructor(...args: unknown[]) {
      const Real = Reflect.get(load(), name) as new (...args: unknown[]) => object;
      // A constructor that returns an object makes `new` evaluate to that object.
      return Reflect.construct(Real, args);
    }
  };
}
