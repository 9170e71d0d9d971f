/**
 * `writeFiles`' input, checked whole before anything is written: at most {@link MAX_FILES_PER_WRITE}
 * files and {@link MAX_WRITE_BYTES} bytes, each with a sandbox path, exactly one of `content`
 * (text, written as UTF-8) and `contentBase64` (strict base64: the standard alphabet, padded, no
 * whitespace), and optional permission bits. A refusal is BAD_USER_INPUT naming the field
 * (`files[2].contentBase64`). Pure.
 */
import { BosunError, InvalidValueError, badUserInput } from '../../errors.js';
import type { FileToWrite } from '../../sandbox/sandbox.js';
import { isIntegerInRange } from '../../shared/validate.js';
import { requireSandboxPath } from './sandbox-paths.js';

const MiB = 1024 * 1024;
/** Files one `writeFiles` call writes at most. */
export const MAX_FILES_PER_WRITE = 100;
/** Bytes one `writeFiles` call writes at most, all files together (decoded). */
export const MAX_WRITE_BYTES = 10 * MiB;
/** Permission bits a file may be given (no set-id or sticky bits). */
export const MAX_FILE_MODE = 0o777;

/** One file as the API receives it. */
export interface FileInput {
  readonly path: string;
  readonly content?: string | null;
  readonly contentBase64?: string | null;
  readonly mode?: number | null;
}

/** Canonical base64: groups of four from the standard alphabet, `=` padding only at the end. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The bytes `value` encodes, when it is strict base64 (and canonical: the unused bits of its last
 * group are zero, so that one byte string has one encoding); undefined otherwise.
 */
export function decodeStrictBase64(value: string): Buffer | undefined {
  if (!BASE64.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.toString('base64') === value ? bytes : undefined;
}

/**
 * The files to write, decoded.
 * @param argument the argument's name in messages (`files`).
 * @throws BosunError BAD_USER_INPUT naming the first bad field.
 */
export function resolveFileInputs(files: readonly FileInput[], argument = 'files'): FileToWrite[] {
  if (files.length === 0 || files.length > MAX_FILES_PER_WRITE) {
    throw badUserInput(argument, new InvalidValueError(`from 1 to ${MAX_FILES_PER_WRITE} files`, `${files.length} files`));
  }
  const seen = new Set<string>();
  let totalBytes = 0;
  return files.map((file, index) => {
    const field = `${argument}[${index}]`;
    const path = requireSandboxPath(`${field}.path`, file.path, 'file');
    if (seen.has(path)) throw badUserInput(`${field}.path`, new InvalidValueError('each path at most once in a call', path));
    seen.add(path);
    const hasText = file.content !== null && file.content !== undefined;
    const hasBase64 = file.contentBase64 !== null && file.contentBase64 !== undefined;
    if (hasText === hasBase64) {
      throw new BosunError('BAD_USER_INPUT', `${field}: expected exactly one of content and contentBase64, got ${hasText ? 'both' : 'neither'}`, {
        field,
      });
    }
    let content: Buffer;
    if (typeof file.content === 'string') {
      content = Buffer.from(file.content, 'utf8');
    } else {
      const decoded = decodeStrictBase64(file.contentBase64 ?? '');
      if (decoded === undefined) {
        throw badUserInput(
          `${field}.contentBase64`,
          new InvalidValueError('strict base64 (A-Z a-z 0-9 + /, padded with =, no whitespace)', file.contentBase64),
        );
      }
      content = decoded;
    }
    totalBytes += content.length;
    if (totalBytes > MAX_WRITE_BYTES) {
      throw badUserInput(
        `${field}`,
        new InvalidValueError(`at most ${MAX_WRITE_BYTES} bytes in all the files of a call`, `${totalBytes} bytes up to this file`),
      );
    }
    const mode = file.mode ?? undefined;
    if (mode !== undefined && !isIntegerInRange(mode, { min: 0, max: MAX_FILE_MODE })) {
      throw badUserInput(`${field}.mode`, new InvalidValueError(`permission bits, an integer from 0 to ${MAX_FILE_MODE} (0o777)`, mode));
    }
    return { path, content, ...(mode === undefined ? {} : { mode }) };
  });
}
