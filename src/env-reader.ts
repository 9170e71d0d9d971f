/**
 * The primitives `loadConfig` reads the environment with: one reader per kind of value (integer,
 * number, size, CPUs, token, list, URL, the Docker endpoint), each refusing a bad value with a
 * {@link ConfigError} whose message is the one line start-up prints. It reads only the object it is
 * given; src/config.ts is the one place that hands it the process's environment.
 */
import { InvalidValueError, describeValue } from './errors.js';
import type { DockerConnection } from './sandbox/docker-client.js';
import { parseImageReference } from './sandbox/image-reference.js';
import { describeIntegerRange, describeNumberRange, isIntegerInRange } from './shared/validate.js';

/** A bad environment variable. The message is the one line that start-up prints. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly variable: string;

  constructor(variable: string, raw: string, expected: string) {
    super(`${variable}=${describeValue(raw)}: expected ${expected}`);
    this.variable = variable;
  }

  /** A variable that must be set (because another is) but is not; `reason` says why it is needed. */
  static missing(variable: string, reason: string): ConfigError {
    const error = new ConfigError(variable, '', '');
    error.message = `${variable} is not set: ${reason}`;
    return error;
  }
}

export type Environment = Readonly<Record<string, string | undefined>>;

interface RangeOptions {
  readonly min?: number;
  readonly max?: number;
  readonly note?: string;
}

export class EnvReader {
  constructor(private readonly env: Environment) {}

  /**
   * The variable's value, or undefined when it is unset or blank (empty or whitespace only): every
   * reader goes through here, so `X=""` always means "use the default", whatever X is.
   */
  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value;
  }

  /** Whether the variable is set to something other than blanks. */
  isSet(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  parsed<T>(name: string, fallback: string, parse: (raw: string) => T): T {
    const raw = this.raw(name) ?? fallback;
    try {
      return parse(raw);
    } catch (error) {
      if (error instanceof InvalidValueError) throw new ConfigError(name, raw, error.expected);
      throw error;
    }
  }

  string(name: string, fallback: string): string {
    return this.raw(name)?.trim() ?? fallback;
  }

  /** An image reference in the engine's grammar (see parseImageReference): `a/` would crash the first default run. */
  image(name: string, fallback: string): string {
    const image = this.string(name, fallback);
    try {
      parseImageReference(image);
    } catch (error) {
      if (error instanceof InvalidValueError) throw new ConfigError(name, image, error.expected);
      throw error;
    }
    return image;
  }

  /**
   * A bearer token: 16 to 512 printable ASCII characters without spaces. A bad one is reported
   * without its value, which must not reach logs.
   */
  secret(name: string): string | undefined {
    const raw = this.raw(name)?.trim();
    if (raw === undefined) return undefined;
    if (!/^[\x21-\x7e]{16,512}$/.test(raw)) {
      throw new ConfigError(name, hidden(raw), 'a token of 16 to 512 printable ASCII characters without spaces');
    }
    return raw;
  }

  /** Comma-separated http(s) origins (scheme, host and optional port; nothing after), normalized. */
  origins(name: string): readonly string[] {
    const raw = this.raw(name);
    if (raw === undefined) return [];
    const expected = 'comma-separated origins such as https://ci.example.com (scheme, host and port only)';
    const origins: string[] = [];
    for (const entry of raw
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')) {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        throw new ConfigError(name, raw, expected);
      }
      const onlyOrigin = url.pathname === '/' && !/[?#@]/.test(entry) && !/^[a-z]+:\/\/[^/]*\/./i.test(entry);
      if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !onlyOrigin) {
        throw new ConfigError(name, raw, expected);
      }
      if (!origins.includes(url.origin)) origins.push(url.origin);
    }
    return origins;
  }

  optional(name: string, pattern: RegExp, expected: string): string | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    if (!pattern.test(raw)) throw new ConfigError(name, raw, expected);
    return raw;
  }

  integer(name: string, fallback: number, range: RangeOptions = {}): number {
    return this.numeric(name, fallback, range, true);
  }

  number(name: string, fallback: number, range: RangeOptions = {}): number {
    return this.numeric(name, fallback, range, false);
  }

  private numeric(name: string, fallback: number, range: RangeOptions, integer: boolean): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    // Integers are described and checked by the one integer validator (src/shared/validate.ts).
    const expected = integer ? describeIntegerRange(range) : describeNumberRange(range);
    const pattern = integer ? /^-?\d+$/ : /^-?\d+(?:\.\d+)?$/;
    if (!pattern.test(raw.trim())) throw new ConfigError(name, raw, expected);
    const value = Number(raw.trim());
    const inRange = integer
      ? isIntegerInRange(value, range)
      : Number.isFinite(value) && value >= (range.min ?? -Number.MAX_VALUE) && value <= (range.max ?? Number.MAX_VALUE);
    if (!inRange) throw new ConfigError(name, raw, expected);
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const normalized = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(normalized)) return true;
    if (['false', '0', 'no', 'off'].includes(normalized)) return false;
    throw new ConfigError(name, raw, 'true or false');
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const value = raw.trim().toLowerCase() as T;
    if (!allowed.includes(value)) throw new ConfigError(name, raw, `one of ${allowed.join(', ')}`);
    return value;
  }

  url(name: string): string | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(raw.trim());
    } catch {
      throw new ConfigError(name, raw, 'an http:// or https:// URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(name, raw, 'an http:// or https:// URL');
    }
    return url.toString();
  }

  /**
   * The URL of a service bosun connects to (`redis://…`, `postgres://…`), kept as given. Its
   * scheme must be one of `protocols` (`['redis:', 'rediss:']`). It may carry a password: a bad
   * one is reported with the password hidden, or entirely hidden when it does not parse.
   */
  serviceUrl(name: string, protocols: readonly string[], expected: string): string | undefined {
    const raw = this.raw(name)?.trim();
    if (raw === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(name, hidden(raw), expected);
    }
    if (!protocols.includes(url.protocol)) {
      if (url.password === '') throw new ConfigError(name, raw, expected);
      url.password = '***';
      throw new ConfigError(name, url.toString(), expected);
    }
    return raw;
  }

  docker(): DockerConnection {
    const socket = this.raw('DOCKER_SOCKET');
    if (socket !== undefined) {
      if (!socket.startsWith('/')) throw new ConfigError('DOCKER_SOCKET', socket, 'an absolute path to the Docker socket');
      return { kind: 'socket', socketPath: socket };
    }
    const host = this.raw('DOCKER_HOST');
    if (host === undefined) return { kind: 'socket', socketPath: '/var/run/docker.sock' };
    const expected = 'unix:///path/to/docker.sock or tcp://host:port';
    let url: URL;
    try {
      url = new URL(host.trim());
    } catch {
      throw new ConfigError('DOCKER_HOST', host, expected);
    }
    if (url.protocol === 'unix:' && url.pathname.startsWith('/')) return { kind: 'socket', socketPath: url.pathname };
    if (url.protocol === 'tcp:' && url.hostname !== '') {
      const port = url.port === '' ? 2375 : Number(url.port);
      return { kind: 'tcp', host: url.hostname, port };
    }
    throw new ConfigError('DOCKER_HOST', host, expected);
  }
}

/** What a ConfigError shows instead of a secret's value. */
export function hidden(secret: string): string {
  return `(hidden, ${secret.length} characters)`;
}
