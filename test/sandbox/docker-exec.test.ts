/**
 * pipeOutput without an engine: a command's multiplexed output stream (docker-modem's own
 * demultiplexer over a PassThrough) handed to line handlers through the output pacer.
 */
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { pipeOutput } from '../../src/sandbox/docker-exec.js';

const require = createRequire(import.meta.url);
const Modem = require('docker-modem') as new () => Docker['modem'];

/** One stdout frame of the engine's multiplexed stream. */
function stdoutFrame(text: string): Buffer {
  const body = Buffer.from(text);
  const header = Buffer.alloc(8);
  header.writeUInt8(1, 0);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe('pipeOutput', () => {
  it('fails the command, neither hanging nor throwing into the event loop, when a line handler throws on a later turn', async () => {
    const docker = { modem: new Modem() } as Docker;
    const stream = new PassThrough();
    const seen: string[] = [];
    const output = pipeOutput(
      docker,
      stream,
      (_stream, line) => {
        // The first piece takes the turn's slice, so the line below is handled on a later turn.
        if (line === 'line 0') {
          const until = performance.now() + 5;
          while (performance.now() < until);
        }
        if (line === 'boom') throw new Error('the store could not number the line');
        seen.push(line);
      },
      undefined,
    );
    // 20 KiB of lines in one frame: 'boom' is in the second 8 KiB piece.
    const lines = Array.from({ length: 2000 }, (_, i) => (i === 1500 ? 'boom' : `line ${i}`));
    stream.write(stdoutFrame(`${lines.join('\n')}\n`));
    stream.end();

    await expect(output).rejects.toThrow('the store could not number the line');
    expect(seen.at(-1)).toBe('line 1499');
    expect(seen).not.toContain('line 1501');
    expect(stream.isPaused()).toBe(false);
  });
});
