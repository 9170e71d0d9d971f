/**
 * exec's and finishAgent's input: defaults, and each refusal naming its field.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_EXEC_TIMEOUT_MS, resolveExecInput, resolveFinishInput } from '../../../src/runs/external/exec-inputs.js';

const refusal = (field: string): unknown => expect.objectContaining({ code: 'BAD_USER_INPUT', field });

describe('resolveExecInput', () => {
  it('applies the defaults', () => {
    expect(resolveExecInput('ls', null)).toEqual({ command: 'ls', cwd: '/workspace', env: {}, timeoutMs: DEFAULT_EXEC_TIMEOUT_MS, stdin: undefined });
  });

  it('keeps what the call gives', () => {
    expect(resolveExecInput('cat', { cwd: '/tmp', env: [{ name: 'A', value: '1' }], timeoutMs: 500, stdin: 'in' })).toEqual({
      command: 'cat',
      cwd: '/tmp',
      env: { A: '1' },
      timeoutMs: 500,
      stdin: 'in',
    });
  });

  it('refuses an empty command or one with NUL', () => {
    expect(() => resolveExecInput('  ', null)).toThrow(refusal('command'));
    expect(() => resolveExecInput('a\0b', null)).toThrow(refusal('command'));
  });

  it('refuses reserved, malformed and repeated variable names, and NUL in values', () => {
    expect(() => resolveExecInput('true', { env: [{ name: 'BOSUN_AGENT_ID', value: 'x' }] })).toThrow(refusal('options.env[0].name'));
    expect(() =>
      resolveExecInput('true', {
        env: [
          { name: 'OK', value: '' },
          { name: '1X', value: '' },
        ],
      }),
    ).toThrow(refusal('options.env[1].name'));
    expect(() =>
      resolveExecInput('true', {
        env: [
          { name: 'A', value: '' },
          { name: 'A', value: '' },
        ],
      }),
    ).toThrow(refusal('options.env[1].name'));
    expect(() => resolveExecInput('true', { env: [{ name: 'A', value: 'a\0' }] })).toThrow(refusal('options.env[0].value'));
  });

  it('refuses a timeout that is not a positive integer, and a bad cwd', () => {
    expect(() => resolveExecInput('true', { timeoutMs: 0 })).toThrow(refusal('options.timeoutMs'));
    expect(() => resolveExecInput('true', { timeoutMs: 1.5 })).toThrow(refusal('options.timeoutMs'));
    expect(() => resolveExecInput('true', { cwd: 'relative' })).toThrow(refusal('options.cwd'));
    expect(() => resolveExecInput('true', { cwd: '/workspace/../x' })).toThrow(refusal('options.cwd'));
  });
});

describe('resolveFinishInput', () => {
  it('takes exit codes 0..255 and an optional error', () => {
    expect(resolveFinishInput(0, undefined)).toEqual({ exitCode: 0, error: null });
    expect(resolveFinishInput(255, 'tests still fail')).toEqual({ exitCode: 255, error: 'tests still fail' });
    expect(() => resolveFinishInput(256, null)).toThrow(refusal('exitCode'));
    expect(() => resolveFinishInput(-1, null)).toThrow(refusal('exitCode'));
    expect(() => resolveFinishInput(1, 'x'.repeat(4097))).toThrow(refusal('error'));
  });
});
