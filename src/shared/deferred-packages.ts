/**
 * Defers the loading of a package that a dependency `require`s as it loads but uses only for a
 * feature bosun never calls, until something uses it. Each such package costs idle memory for
 * nothing: its modules' source, bytecode and start-up objects (bench/results/2026-11-30-idle-profile.md).
 *
 * How: the package's entry file gets a stand-in in `require.cache` (Node's documented module
 * cache, where "adding or replacing entries is also possible") before its dependant loads. The
 * stand-in's exports forward every use to the real package, which is `require`d on the first
 * one, so nothing behaves differently: it only happens later. A dependant that reads a class off
 * the package as it loads (`const Client = require('ssh2').Client`) gets, for the names listed in
 * `constructors`, a constructor that builds the real class's instance when called.
 */
import { createRequire, Module } from 'node:module';

/** A package to defer, and the chain of packages through which bosun reaches the one that requires it. */
export interface DeferredPackage {
  /** From bosun: e.g. `['dockerode', 'docker-modem']` for a package that docker-modem requires. */
  readonly requiredBy: readonly string[];
  readonly specifier: string;
  /** Names the dependant reads as it loads and only calls with `new` later. */
  readonly constructors?: readonly string[];
}

/**
 * Puts the stand-ins in place; call it before the dependants are first loaded. A package loaded
 * already, or not installed where its dependant would look, is left alone (the dependant then
 * loads, or fails to load, it exactly as it would have). Calling it again changes nothing.
 */
export function deferPackages(packages: readonly DeferredPackage[]): void {
  for (const { requiredBy, specifier, constructors = [] } of packages) {
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
