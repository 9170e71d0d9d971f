/**
 * What counts as this machine: loopback addresses and names. Without a token bosun listens on
 * loopback only (config validation refuses anything else), and answers only requests addressed to
 * a loopback name, so that a web page cannot reach it through a DNS name rebound to 127.0.0.1.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Whether `host` (an address or name as HOST or a Host header's host part gives it, IPv6 with or
 * without brackets) is loopback: 127.0.0.0/8, ::1, ::ffff:127.x.y.z, `localhost` and names
 * under `.localhost` (RFC 6761).
 */
export function isLoopbackHost(host: string): boolean {
  const name = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (name === '::1' || name === '0:0:0:0:0:0:0:1') return true;
  const v4 = name.startsWith('::ffff:') ? name.slice('::ffff:'.length) : name;
  return isIPv4(v4) && v4.startsWith('127.');
}

/**
 * A name or IPv4 address as a Host header may carry it (RFC 3986 reg-name without
 * percent-encoding: letters, digits and `-._~!$&'()*+,;=`). Notably no `@` (userinfo), `/`, `?`,
 * `#`, `:` or space.
 */
const REG_NAME = /^[A-Za-z0-9\-._~!$&'()*+,;=]+$/;

/**
 * The host part of a Host header (`127.0.0.1:4000` → `127.0.0.1`, `[::1]:4000` → `[::1]`), or
 * undefined when the header is not `host[:port]` as RFC 9110 defines it. Anything else — a
 * userinfo such as `127.0.0.1:4000@evil.com`, a path, a second colon, a bad port — is refused
 * rather than guessed at: a guess is how a name that is not loopback passes for one.
 */
export function hostOfHostHeader(header: string): string | undefined {
  const value = header.trim();
  let host: string;
  let rest: string;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0 || !isIPv6(value.slice(1, end))) return undefined;
    host = value.slice(0, end + 1);
    rest = value.slice(end + 1);
  } else {
    const colon = value.indexOf(':');
    host = colon < 0 ? value : value.slice(0, colon);
    rest = colon < 0 ? '' : value.slice(colon);
    if (!REG_NAME.test(host)) return undefined;
  }
  if (rest !== '' && !/^:\d{0,5}$/.test(rest)) return undefined;
  if (rest.length > 1 && Number(rest.slice(1)) > 65_535) return undefined;
  return host;
}
