/**
 * Reading `stat -c '%f %s %n'` output (raw mode in hex, size, name) into {@link SandboxFileInfo}s.
 * File names may hold spaces and newlines, so lines cannot be split naively; two exact readings:
 * - entries of one directory, each given to stat as `./name`: a name holds no `/`, so a newline
 *   followed by `<hex> <digits> ./` always starts the next record;
 * - paths the caller knows, in the order it gave them: each record must be exactly that path.
 * Pure, so that both are unit-tested.
 */
import type { SandboxFileInfo, SandboxFileType } from './sandbox.js';

/** The `stat -c` format both readings expect. */
export const STAT_FORMAT = '%f %s %n';

const S_IFMT = 0o170000;
const TYPES: ReadonlyMap<number, SandboxFileType> = new Map([
  [0o100000, 'FILE'],
  [0o040000, 'DIRECTORY'],
  [0o120000, 'SYMLINK'],
]);

export interface StatRecord {
  readonly type: SandboxFileType;
  readonly sizeBytes: number;
  /** Permission bits with setuid, setgid and sticky. */
  readonly mode: number;
}

/** What stat's raw mode (`%f`, hex) and size say. */
export function statRecord(rawModeHex: string, size: string): StatRecord {
  const raw = Number.parseInt(rawModeHex, 16);
  return { type: TYPES.get(raw & S_IFMT) ?? 'OTHER', sizeBytes: Number(size), mode: raw & 0o7777 };
}

/**
 * Records of entries given to stat as `./name` (one directory's children), by name.
 * @throws Error when the output is not such records.
 */
export function parseChildStats(text: string): Array<StatRecord & { readonly name: string }> {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error('stat output does not end with a newline');
  return text
    .slice(0, -1)
    .split(/\n(?=[0-9a-f]+ \d+ \.\/)/)
    .map((record) => {
      const match = /^([0-9a-f]+) (\d+) \.\/([^/]+)$/s.exec(record);
      if (!match) throw new Error(`unexpected stat output: ${JSON.stringify(record.slice(0, 200))}`);
      return { ...statRecord(match[1]!, match[2]!), name: match[3]! };
    });
}

/**
 * Records of exactly `paths`, in order (stat was given them as they are).
 * @throws Error when a path's record is missing or the output holds anything else.
 */
export function parseKnownStats(text: string, paths: readonly string[]): SandboxFileInfo[] {
  const fields = /([0-9a-f]+) (\d+) /y;
  let offset = 0;
  const records = paths.map((path) => {
    fields.lastIndex = offset;
    const match = fields.exec(text);
    const start = fields.lastIndex;
    if (!match || text.slice(start, start + path.length) !== path || text[start + path.length] !== '\n') {
      throw new Error(`no stat record for ${JSON.stringify(path)}`);
    }
    offset = start + path.length + 1;
    return { path, ...statRecord(match[1]!, match[2]!) };
  });
  if (offset !== text.length) throw new Error('stat output holds more records than paths');
  return records;
}
