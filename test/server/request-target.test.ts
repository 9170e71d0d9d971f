/**
 * Which requests bosun cannot read: the URL yoga builds from the Host header and the target.
 */
import { describe, expect, it } from 'vitest';
import { malformedRequestReason } from '../../src/server/request-target.js';

const reason = (host: string | undefined, url: string): string | undefined =>
  malformedRequestReason({ headers: host === undefined ? {} : { host }, url });

describe('malformedRequestReason', () => {
  it.each([
    ['127.0.0.1:4000', '/graphql?query={__typename}&variables={'],
    ['[::1]:4000', '/'],
    ['bosun.example.com', '/graphql'],
    [undefined, '/graphql'],
    // Not loopback, but a URL: the access rules refuse it, not this.
    ['127.0.0.1:4000@evil.com', '/graphql'],
    ['localhost:65535', '/dashboard/app.js?v=1'],
    ['a-b.example:1', "/graphql?query=%7B__typename%7D&x=a'b(c)*d"],
    // Not plain, then parsed: still fine.
    ['localhost.', '/graphql?query={ a }'],
    ['x_y:4000', '/graphql'],
    ['[::1]:4000', '//graphql'],
  ])('reads Host %j with target %j', (host, url) => {
    expect(reason(host, url)).toBeUndefined();
  });

  it.each(['a b', '[::1', 'foo:bar:baz', '%', '127.0.0.1:99999', 'localhost:65536', '256.0.0.1', 'a.1'])('refuses Host %j', (host) => {
    expect(reason(host, '/graphql')).toBe('Bad request: malformed Host header');
  });

  it.each(['//[', 'http://x:1:2/graphql', '//a:99999/'])('refuses target %j', (url) => {
    expect(reason('127.0.0.1:4000', url)).toBe('Bad request: malformed request target');
  });
});
