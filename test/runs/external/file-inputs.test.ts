/**
 * writeFiles' input: its limits, the exactly-one-content rule, strict base64, modes, and that
 * every refusal names its field.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_FILES_PER_WRITE, MAX_WRITE_BYTES, decodeStrictBase64, resolveFileInputs } from '../../../src/runs/external/file-inputs.js';

const refusal = (field: string): unknown => expect.objectContaining({ code: 'BAD_USER_INPUT', field });

describe('resolveFileInputs', () => {
  it('decodes text as UTF-8 and base64 as bytes, keeping modes', () => {
    const files = resolveFileInputs([
      { path: '/workspace/a.txt', content: 'héllo' },
      { path: '/tmp/b.bin', contentBase64: Buffer.from([0, 255, 1]).toString('base64'), mode: 0o755 },
    ]);
    expect(files.map((file) => [file.path, Buffer.from(file.content).toString('hex'), file.mode])).toEqual([
      ['/workspace/a.txt', Buffer.from('héllo').toString('hex'), undefined],
      ['/tmp/b.bin', '00ff01', 0o755],
    ]);
  });

  it('refuses no files and more than 100', () => {
    expect(() => resolveFileInputs([])).toThrow(refusal('files'));
    const many = Array.from({ length: MAX_FILES_PER_WRITE + 1 }, (_, i) => ({ path: `/workspace/${i}`, content: '' }));
    expect(() => resolveFileInputs(many)).toThrow(refusal('files'));
    expect(resolveFileInputs(many.slice(1))).toHaveLength(MAX_FILES_PER_WRITE);
  });

  it('refuses more than 10 MiB in all, naming the file that passes it', () => {
    const half = 'x'.repeat(MAX_WRITE_BYTES / 2);
    expect(
      resolveFileInputs([
        { path: '/workspace/a', content: half },
        { path: '/workspace/b', content: half },
      ]),
    ).toHaveLength(2);
    expect(() =>
      resolveFileInputs([
        { path: '/workspace/a', content: half },
        { path: '/workspace/b', content: half },
        { path: '/workspace/c', content: 'x' },
      ]),
    ).toThrow(refusal('files[2]'));
  });

  it('refuses a file with both or neither content', () => {
    expect(() => resolveFileInputs([{ path: '/workspace/a', content: 'x', contentBase64: 'eA==' }])).toThrow(
      /files\[0\]: expected exactly one of content and contentBase64, got both/,
    );
    expect(() => resolveFileInputs([{ path: '/workspace/a' }])).toThrow(/got neither/);
    expect(() => resolveFileInputs([{ path: '/workspace/a', content: null, contentBase64: null }])).toThrow(refusal('files[0]'));
  });

  it('names the bad path, traversal and NUL included', () => {
    expect(() =>
      resolveFileInputs([
        { path: '/workspace/ok', content: '' },
        { path: '/workspace/../etc/x', content: '' },
      ]),
    ).toThrow(refusal('files[1].path'));
    expect(() => resolveFileInputs([{ path: '/workspace/a\0b', content: '' }])).toThrow(refusal('files[0].path'));
    expect(() => resolveFileInputs([{ path: '/etc/passwd', content: '' }])).toThrow(refusal('files[0].path'));
    expect(() => resolveFileInputs([{ path: '/workspace', content: '' }])).toThrow(refusal('files[0].path'));
    expect(() =>
      resolveFileInputs([
        { path: '/workspace/a', content: '' },
        { path: '/workspace/a', content: '' },
      ]),
    ).toThrow(refusal('files[1].path'));
  });

  it('refuses modes outside 0..0o777', () => {
    expect(() => resolveFileInputs([{ path: '/workspace/a', content: '', mode: 0o4755 }])).toThrow(refusal('files[0].mode'));
    expect(() => resolveFileInputs([{ path: '/workspace/a', content: '', mode: -1 }])).toThrow(refusal('files[0].mode'));
    expect(resolveFileInputs([{ path: '/workspace/a', content: '', mode: 0 }])[0]!.mode).toBe(0);
  });

  it.each(['eA', 'eA=', 'e A==', 'eA==\n', 'eB==', '****', 'eA==eA=='])('refuses %j as base64', (value) => {
    expect(() => resolveFileInputs([{ path: '/workspace/a', contentBase64: value }])).toThrow(refusal('files[0].contentBase64'));
  });
});

describe('decodeStrictBase64', () => {
  it('takes exactly the canonical encoding of every byte string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const encoded = Buffer.from(bytes).toString('base64');
        expect(decodeStrictBase64(encoded)?.equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  it('refuses any string that is not a canonical encoding', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (text) => {
        const decoded = decodeStrictBase64(text);
        if (decoded !== undefined) expect(decoded.toString('base64')).toBe(text);
      }),
    );
  });
});
