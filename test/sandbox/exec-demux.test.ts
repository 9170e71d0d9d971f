import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ExecDemuxer } from '../../src/sandbox/exec-demux.js';

function frame(stream: 1 | 2, payload: Buffer | string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

async function demux(chunks: Buffer[]): Promise<{ stdout: Buffer; stderr: Buffer }> {
  const stderr: Buffer[] = [];
  const demuxer = new ExecDemuxer((chunk) => stderr.push(chunk));
  Readable.from(chunks).pipe(demuxer);
  const stdout: Buffer[] = [];
  for await (const chunk of demuxer) stdout.push(chunk as Buffer);
  return { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
}

describe('ExecDemuxer', () => {
  it('splits stdout from stderr byte for byte, NUL and invalid UTF-8 included', async () => {
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0xc3, 0x28]);
    const { stdout, stderr } = await demux([Buffer.concat([frame(1, binary), frame(2, 'warning\n'), frame(1, 'tail')])]);
    expect(stdout.equals(Buffer.concat([binary, Buffer.from('tail')]))).toBe(true);
    expect(stderr.toString()).toBe('warning\n');
  });

  it('reassembles headers and payloads cut anywhere, down to one byte per chunk', async () => {
    const whole = Buffer.concat([frame(1, 'hello '), frame(2, 'err'), frame(1, 'world'), frame(1, '')]);
    const oneByOne = Array.from(whole, (byte) => Buffer.from([byte]));
    const { stdout, stderr } = await demux(oneByOne);
    expect(stdout.toString()).toBe('hello world');
    expect(stderr.toString()).toBe('err');
  });

  it('errors on a stream that ends in the middle of a frame', async () => {
    await expect(demux([frame(1, 'complete').subarray(0, 10)])).rejects.toThrow(/middle of a frame/);
  });
});
