import { PassThrough } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { OutputPacer } from '../../src/sandbox/output-pacer.js';

/** Busy for `ms`, as recording a piece of output is. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('OutputPacer', () => {
  it('hands a chunk on in pieces, in order, some now and the rest on later turns with the stream paused meanwhile', async () => {
    const stream = new PassThrough();
    stream.resume();
    const pacer = new OutputPacer(stream, 2, 4);
    const pieces: string[] = [];
    pacer.write(Buffer.from('aaaabbbbccccdddd'), (piece) => {
      pieces.push(piece.toString());
      busy(3);
    });
    // The first piece took the turn's slice: the rest wait, and reading stops until they are handed on.
    expect(pieces).toEqual(['aaaa']);
    expect(stream.isPaused()).toBe(true);
    const drained = pacer.drained();
    for (let turn = 0; turn < 3; turn += 1) await nextTurn();
    await drained;
    expect(pieces).toEqual(['aaaa', 'bbbb', 'cccc', 'dddd']);
    expect(stream.isPaused()).toBe(false);
  });

  it('hands on pieces one after another in one turn while they are quick, and everything at once on flush', async () => {
    const stream = new PassThrough();
    stream.resume();
    const quick = new OutputPacer(stream, 1_000, 4);
    const pieces: string[] = [];
    quick.write(Buffer.from('aaaabbbbcc'), (piece) => pieces.push(piece.toString()));
    expect(pieces).toEqual(['aaaa', 'bbbb', 'cc']);
    await quick.drained();

    const slow = new OutputPacer(stream, 0, 4);
    const held: string[] = [];
    slow.write(Buffer.from('aaaabbbbcc'), (piece) => held.push(piece.toString()));
    expect(held).toEqual(['aaaa']);
    slow.flush();
    expect(held).toEqual(['aaaa', 'bbbb', 'cc']);
    expect(stream.isPaused()).toBe(false);
    await slow.drained();
  });

  it('survives a handler that throws on a later turn: reports it once, hands on nothing more, resumes reading and drains', async () => {
    const stream = new PassThrough();
    stream.resume();
    const errors: unknown[] = [];
    const pacer = new OutputPacer(stream, 0, 4, (error) => errors.push(error));
    const pieces: string[] = [];
    pacer.write(Buffer.from('aaaabbbbccccdddd'), (piece) => {
      if (piece.toString() === 'bbbb') throw new Error('cannot number the line');
      pieces.push(piece.toString());
    });
    expect(stream.isPaused()).toBe(true);
    await pacer.drained();
    pacer.write(Buffer.from('eeee'), (piece) => pieces.push(piece.toString()));

    expect(pieces).toEqual(['aaaa']);
    expect(errors).toEqual([new Error('cannot number the line')]);
    expect(pacer.error).toEqual(new Error('cannot number the line'));
    expect(stream.isPaused()).toBe(false);
  });

  it('keeps a throw during flush as its error, and still settles', async () => {
    const stream = new PassThrough();
    stream.resume();
    const pacer = new OutputPacer(stream, 0, 4);
    pacer.write(Buffer.from('aaaabbbb'), (piece) => {
      if (piece.toString() === 'bbbb') throw new Error('late');
    });
    pacer.flush();
    expect(pacer.error).toEqual(new Error('late'));
    expect(stream.isPaused()).toBe(false);
    await pacer.drained();
  });
});
