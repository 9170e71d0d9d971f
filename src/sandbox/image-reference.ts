/**
 * Image references parsed with the Docker engine's own grammar (docker/distribution `reference`,
 * as the engine applies it through `ParseNormalizedNamed`), so that bosun refuses at its door
 * every name the engine would refuse or, worse, answer with a redirect: `a/`, `/a`, `a//b`,
 * `a:b:c`, `UPPERCASE`, `a:`, `a@sha256:short`.
 *
 * ```
 * reference        := name [ ":" tag ] [ "@" digest ]
 * name             := [domain "/"] path-component ["/" path-component]*
 * domain           := host [":" port]           host: DNS name, IPv4 or [IPv6]
 * path-component   := [a-z0-9]+ (separator [a-z0-9]+)*     separator: . _ __ or one or more -
 * tag              := [\w][\w.-]{0,127}
 * digest           := algorithm ":" hex         sha256 (64), sha384 (96) or sha512 (128) lowercase hex
 * ```
 * The first component is a domain only when it contains `.` or `:` or is `localhost` (otherwise
 * `docker.io/library/` is implied). Newer engines also read a first component with uppercase
 * letters (`Registry/img`) as a domain; older ones (20.10) refuse it as an uppercase path, and so
 * does bosun, which must not accept what its engine refuses. The name, so normalized, may
 * have at most 255 characters. An image id (64 hex digits, or `sha256:` and them) reads as a name
 * (or a name and tag), as the engine's lookup takes it. Pure: no engine is asked.
 */
import { InvalidValueError } from '../errors.js';

/** A valid reference, split into its parts. */
export interface ImageReference {
  /** The registry (`localhost:5000`), or null for Docker Hub. */
  readonly domain: string | null;
  /** The repository path without the domain (`team/image`). */
  readonly path: string;
  readonly tag: string | null;
  /** `algorithm:hex`. */
  readonly digest: string | null;
}

/** The engine's `NameTotalLengthMax`. */
export const MAX_IMAGE_NAME_CHARS = 255;
const MAX_TAG_CHARS = 128;

const EXAMPLE = 'an image reference such as bosun-sandbox:latest or registry.example.com/team/image:1.0';
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;
const TAG = /^\w[\w.-]*$/;
const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
/** go-digest's available algorithms and their encoded lengths (lowercase hex). */
const DIGEST_HEX_CHARS: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Parses an image reference as the Docker engine would.
 * @throws InvalidValueError whose `expected` says what was wrong ("… (a path component is empty: …)").
 */
export function parseImageReference(input: unknown): ImageReference {
  const refuse = (why: string): never => {
    throw new InvalidValueError(`${EXAMPLE} (${why})`, input);
  };
  if (typeof input !== 'string') return refuse('not a string');
  if (input === '') return refuse('it is empty');
  // Bound the work before anything else: a reference is at most name + ":" + tag + "@" + digest.
  if (input.length > MAX_IMAGE_NAME_CHARS + 1 + MAX_TAG_CHARS + 1 + 7 + 128) return refuse(`it is longer than ${MAX_IMAGE_NAME_CHARS} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(input)) return refuse('it contains whitespace or a control character');

  const at = input.indexOf('@');
  if (at !== input.lastIndexOf('@')) refuse('more than one @');
  const beforeDigest = at === -1 ? input : input.slice(0, at);
  const digest = at === -1 ? null : input.slice(at + 1);
  if (digest !== null) checkDigest(digest, refuse);

  const lastSlash = beforeDigest.lastIndexOf('/');
  const colon = beforeDigest.indexOf(':', lastSlash + 1);
  const name = colon === -1 ? beforeDigest : beforeDigest.slice(0, colon);
  const tag = colon === -1 ? null : beforeDigest.slice(colon + 1);
  if (tag !== null) {
    if (tag === '') refuse('the tag after ":" is empty');
    if (tag.includes(':')) refuse('more than one ":" after the last "/": one tag at most');
    if (tag.length > MAX_TAG_CHARS || !TAG.test(tag)) {
      refuse(`the tag must be 1 to ${MAX_TAG_CHARS} letters, digits, _ . -, not starting with . or -`);
    }
  }

  if (name === '') refuse('the name is empty');
  const components = name.split('/');
  if (components.some((component) => component === '')) {
    refuse('a path component is empty: no leading, trailing or doubled "/"');
  }
  const first = components[0]!;
  const hasDomain = components.length > 1 && (/[.:]/.test(first) || first === 'localhost');
  const domain = hasDomain ? first : null;
  const pathComponents = hasDomain ? components.slice(1) : components;
  if (domain !== null) checkDomain(domain, refuse);
  for (const component of pathComponents) {
    if (component !== component.toLowerCase()) refuse('the repository path must be lowercase');
    if (!PATH_COMPONENT.test(component)) {
      refuse(`path component ${JSON.stringify(component)} must be lowercase letters and digits separated by one . or _, two _, or dashes`);
    }
  }
  const path = pathComponents.join('/');
  const normalized =
    domain === null || domain === 'docker.io' || domain === 'index.docker.io'
      ? `docker.io/${pathComponents.length === 1 ? 'library/' : ''}${path}`
      : name;
  if (normalized.length > MAX_IMAGE_NAME_CHARS) {
    refuse(`the name is longer than ${MAX_IMAGE_NAME_CHARS} characters once normalized (${normalized.length})`);
  }
  return { domain, path, tag, digest };
}

/** True when the engine's grammar accepts `input`. */
export function isImageReference(input: unknown): input is string {
  try {
    parseImageReference(input);
    return true;
  } catch {
    return false;
  }
}

function checkDomain(domain: string, refuse: (why: string) => never): void {
  let host = domain;
  const portAt = domain.startsWith('[') ? domain.indexOf(':', domain.indexOf(']')) : domain.indexOf(':');
  if (portAt !== -1) {
    host = domain.slice(0, portAt);
    if (!PORT.test(domain.slice(portAt + 1))) refuse(`the registry ${JSON.stringify(domain)} has a bad port`);
  }
  if (!DOMAIN_NAME.test(host) && !IPV6.test(host)) refuse(`the registry ${JSON.stringify(domain)} is not a host name or address`);
}

function checkDigest(digest: string, refuse: (why: string) => never): void {
  const match = DIGEST.exec(digest);
  const expectedChars = match ? DIGEST_HEX_CHARS[match[1]!] : undefined;
  if (!match || expectedChars === undefined) refuse('the digest must be sha256:, sha384: or sha512: followed by lowercase hex');
  if (!new RegExp(`^[a-f0-9]{${expectedChars}}$`).test(match[2]!)) refuse(`a ${match[1]} digest has ${expectedChars} lowercase hex digits`);
}
