/**
 * The user a sandbox runs as: `uid[:gid]`, numbers only (the image's /etc/passwd is not
 * consulted). Each id is an integer from 0 to 2147483647: the kernel's ids are 32-bit unsigned,
 * but the engine refuses anything past int32 ("uids and gids must be in range 0-2147483647"), so
 * a larger one would be accepted here and fail only when the run starts.
 */
import { InvalidValueError } from '../errors.js';
import { describeIntegerRange, isIntegerInRange } from '../shared/validate.js';

/** The engine's largest uid and gid. */
export const MAX_SANDBOX_ID = 2_147_483_647;

export interface SandboxUser {
  readonly uid: number;
  /** The uid when the input names no group. */
  readonly gid: number;
}

const ID_RANGE = { min: 0, max: MAX_SANDBOX_ID } as const;
const EXPECTED = `a numeric user such as 1000 or 1000:1000 (uid or uid:gid, each ${describeIntegerRange(ID_RANGE)}; 0 is root)`;

/**
 * Parses `uid` or `uid:gid`.
 * @throws InvalidValueError "Expected a numeric user such as 1000 or 1000:1000 (…), got …".
 */
export function parseSandboxUser(input: unknown): SandboxUser {
  const match = typeof input === 'string' ? /^(\d{1,10})(?::(\d{1,10}))?$/.exec(input) : null;
  if (!match) throw new InvalidValueError(EXPECTED, input);
  const uid = Number(match[1]);
  const gid = match[2] === undefined ? uid : Number(match[2]);
  if (!isIntegerInRange(uid, ID_RANGE) || !isIntegerInRange(gid, ID_RANGE)) throw new InvalidValueError(EXPECTED, input);
  return { uid, gid };
}
