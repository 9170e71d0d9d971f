/**
 * What counts as this machine: loopback addresses and names. Without a token bosun listens on
 * loopback only (config validation refuses anything else), and answers only requests addressed to
 * a loopback name, so that a web page cannot reach it through a DNS name rebound to 127.0.0.1.
 */
import { isIPv4 } from 'node:net';

/**
 * Whether `host` (an address or name as HOST or a Host header's host part gives it, IPv6 with or
 * without brackets) is loopback: 127.0.0.0/8, ::1, ::ffff:127.x.y.z, `localhost` and names
 * under `.localhost` (RFC 6761).
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (name === '::1' || name === '0:0:0:0:0:0:0:1') return true;
  const v4 = name.startsWith('::ffff:') ? name.slice('::ffff:'.length) : name;
  return isIPv4(v4) && v4.startsWith('127.');
}

/** The host part of a Host header (`127.0.0.1:4000` → `127.0.0.1`, `[::1]:4000` → `[::1]`). */
export function hostOfHostHeader(header: string): string {
  const value = header.trim();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end < 0 ? value : value.slice(0, end + 1);
  }
  const colon = value.lastIndexOf(':');
  return colon < 0 ? value : value.slice(0, colon);
}
