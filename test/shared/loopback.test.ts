/**
 * What counts as loopback (HOST without a token, Host headers without a token), and the origin
 * policy of WebSocket upgrades and CORS.
 */
import { describe, expect, it } from 'vitest';
import { hostOfHostHeader, isLoopbackHost } from '../../src/shared/loopback.js';
import { OriginPolicy } from '../../src/server/origin-policy.js';

describe('isLoopbackHost', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    'localhost',
    'LOCALHOST',
    'localhost.',
    'app.localhost',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
  ])('%s is loopback', (host) => expect(isLoopbackHost(host)).toBe(true));
  it.each([
    '0.0.0.0',
    '::',
    '',
    '10.0.0.1',
    '128.0.0.1',
    'localhost.example.com',
    '127.0.0.1.nip.io',
    'example.com',
    '::ffff:10.0.0.1',
    '1.2.3.4.localhost.evil',
  ])('%s is not', (host) => expect(isLoopbackHost(host)).toBe(false));
  it('takes the host of a Host header', () => {
    expect(hostOfHostHeader('127.0.0.1:4000')).toBe('127.0.0.1');
    expect(hostOfHostHeader('[::1]:4000')).toBe('[::1]');
    expect(hostOfHostHeader('localhost')).toBe('localhost');
    expect(hostOfHostHeader('localhost:')).toBe('localhost');
  });
  it.each([
    '127.0.0.1:4000@evil.com',
    'localhost@evil.com',
    '127.0.0.1/x',
    '127.0.0.1?x',
    '127.0.0.1#x',
    '127.0.0.1:4000:5000',
    '[::1]x',
    '[::1',
    '[::g]',
    '127.0.0.1:99999',
    '127.0.0.1:4x',
    'a b',
    '',
  ])('finds no host in %j: only host[:port] has one (userinfo, paths and the like are not guessed at)', (header) =>
    expect(hostOfHostHeader(header)).toBeUndefined(),
  );
});

describe('OriginPolicy', () => {
  const policy = new OriginPolicy(['https://ci.example.com']);
  it('allows its own host and port, and listed origins; nothing opaque or malformed', () => {
    expect(policy.allows('http://127.0.0.1:4000', '127.0.0.1:4000')).toBe(true);
    expect(policy.allows('https://bosun.example.com', 'bosun.example.com')).toBe(true);
    expect(policy.allows('https://ci.example.com', '127.0.0.1:4000')).toBe(true);
    expect(policy.allows('http://127.0.0.1:4001', '127.0.0.1:4000')).toBe(false);
    expect(policy.allows('https://evil.example', '127.0.0.1:4000')).toBe(false);
    expect(policy.allows('null', '127.0.0.1:4000')).toBe(false);
    expect(policy.allows('file://', '')).toBe(false);
    expect(policy.allows('chrome-extension://abc', 'abc')).toBe(false);
    expect(policy.allows('https://ci.example.com', undefined)).toBe(true);
  });
});
