import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.js';
import { MAX_SANDBOX_ID, parseSandboxUser } from '../../src/sandbox/sandbox-user.js';

describe('parseSandboxUser', () => {
  it.each([
    ['0', { uid: 0, gid: 0 }],
    ['1000', { uid: 1000, gid: 1000 }],
    ['1000:2000', { uid: 1000, gid: 2000 }],
    ['2147483647', { uid: MAX_SANDBOX_ID, gid: MAX_SANDBOX_ID }],
    ['0:2147483647', { uid: 0, gid: MAX_SANDBOX_ID }],
  ])('accepts %j', (input, user) => {
    expect(parseSandboxUser(input)).toEqual(user);
  });

  // The engine refuses ids past int32 ("uids and gids must be in range 0-2147483647") although the
  // kernel's are 32-bit unsigned: 4294967294 would be accepted by a uint32 check and fail at run time.
  it.each([
    '9999999999',
    '2147483648',
    '4294967294',
    '4294967295',
    '1000:2147483648',
    '12345678901',
    '',
    'root',
    '1000:staff',
    '-1',
    '1000:',
    ':1000',
    '1.5',
    ' 1000',
    '1000\u0000',
    '1:2:3',
  ])('refuses %j', (input) => {
    expect(() => parseSandboxUser(input)).toThrow(InvalidValueError);
    expect(() => parseSandboxUser(input)).toThrow(
      /^Expected a numeric user such as 1000 or 1000:1000 \(uid or uid:gid, each an integer from 0 to 2147483647; 0 is root\), got /,
    );
  });

  it.each([1000, null, undefined, {}])('refuses the non-string %j', (input) => {
    expect(() => parseSandboxUser(input)).toThrow(InvalidValueError);
  });
});
