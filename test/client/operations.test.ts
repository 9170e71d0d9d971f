/**
 * The client's operations against the schema bosun prints (schema.graphql, itself checked
 * against the running schema by test/schema), and the variables built from the client's inputs.
 */
import { readFileSync } from 'node:fs';
import { buildSchema, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { OPERATIONS, envList, execOptionsInput, fileInput, startAgentInput } from '../../src/client/operations.js';

const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));

describe('client operations', () => {
  it.each(Object.entries(OPERATIONS))('%s is valid against schema.graphql', (_name, document) => {
    expect(validate(schema, parse(document)).map((error) => error.message)).toEqual([]);
  });

  it('starts an external run, with env as a list', () => {
    expect(
      startAgentInput({
        group: { id: 'g', name: 'G' },
        config: { agent: 'shell', env: { A: '1' }, artifacts: ['/workspace/out'] } as never,
        initialRepoContext: 'ctx',
      }),
    ).toEqual({
      group: { id: 'g', name: 'G' },
      initialRepoContext: 'ctx',
      config: { env: [{ name: 'A', value: '1' }], artifacts: ['/workspace/out'], agent: 'external' },
    });
    expect(startAgentInput({ group: { id: 'g', name: 'G' } })).toEqual({ group: { id: 'g', name: 'G' }, config: { agent: 'external' } });
  });

  it('takes env as an object or as the schema list', () => {
    expect(envList(undefined)).toBeUndefined();
    expect(envList({ A: '1', B: '' })).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '' },
    ]);
    expect(envList([{ name: 'A', value: '1' }])).toEqual([{ name: 'A', value: '1' }]);
  });

  it('sends only the exec options that are set, and no signal', () => {
    expect(execOptionsInput({})).toBeNull();
    expect(execOptionsInput({ signal: new AbortController().signal })).toBeNull();
    expect(execOptionsInput({ cwd: '/tmp', env: { X: 'y' }, timeoutMs: 5, stdin: 'in' })).toEqual({
      cwd: '/tmp',
      env: [{ name: 'X', value: 'y' }],
      timeoutMs: 5,
      stdin: 'in',
    });
  });

  it('sends text as content and bytes as base64', () => {
    expect(fileInput({ path: '/workspace/a', content: 'é' })).toEqual({ path: '/workspace/a', content: 'é' });
    const bytes = new Uint8Array([0, 255, 1, 2]).subarray(1, 3);
    expect(fileInput({ path: '/workspace/b', content: bytes, mode: 0o755 })).toEqual({ path: '/workspace/b', contentBase64: '/wE=', mode: 0o755 });
  });
});
