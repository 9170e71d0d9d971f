/**
 * GraphQL Code Generator (the CLI's programmatic `generate`, with its typescript plugin) over
 * schema.graphql, as a client project would run it. DateTime comes out as `string`: schema.graphql
 * cannot carry the scalar's `extensions.codegenScalarType` hint, so the config maps the scalars
 * as the README says, and the test checks that mapping is the hint of bosun's built schema.
 * Given the schema object instead (as a code-first server's codegen run gets it), the typescript
 * plugin reads the hint itself. `strictScalars` makes codegen fail on any custom scalar left
 * unmapped (instead of typing it `any`).
 */
import { fileURLToPath } from 'node:url';
import { generate } from '@graphql-codegen/cli';
import { plugin as typescriptPlugin } from '@graphql-codegen/typescript';
import { isScalarType, specifiedScalarTypes } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/api/build-schema.js';

const SCHEMA_FILE = fileURLToPath(new URL('../../schema.graphql', import.meta.url));

/** The README's codegen config, for the typescript plugin. */
const README_SCALARS = { DateTime: 'string' };

/** `scalars` for codegen from the hints (`extensions.codegenScalarType`) of the built schema's custom scalars. */
function hintedScalars(): Record<string, unknown> {
  const builtIn = new Set(specifiedScalarTypes.map((type) => type.name));
  return Object.fromEntries(
    Object.values(buildSchema().getTypeMap())
      .filter((type) => isScalarType(type) && !builtIn.has(type.name))
      .map((type) => [type.name, type.extensions['codegenScalarType']]),
  );
}

async function generateTypes(scalars: Record<string, string> | undefined): Promise<string> {
  const [output] = (await generate(
    {
      schema: SCHEMA_FILE,
      silent: true,
      generates: { 'types.ts': { plugins: ['typescript'], config: { strictScalars: true, ...(scalars ? { scalars } : {}) } } },
    },
    false,
  )) as { filename: string; content: string }[];
  if (!output) throw new Error('codegen wrote nothing');
  return output.content;
}

describe('GraphQL Code Generator over schema.graphql', () => {
  it('types DateTime as string with the mapping the README gives, which is the scalar’s own codegen hint', async () => {
    expect(hintedScalars()).toEqual(README_SCALARS);
    const types = await generateTypes(README_SCALARS);
    expect(types).toMatch(/DateTime: \{ input: string; output: string; \}/);
    // The schema's types come out with their descriptions and fields, e.g. the run connection.
    expect(types).toMatch(/export type AgentRunConnection = \{/);
    expect(types).toMatch(/queuedAt: Scalars\['DateTime'\]\['output'\];/);
    expect(types).toContain('The name given by the newest run of the group.');
  });

  it('reads the hint itself from the schema object (a server-side codegen run): DateTime is string without any mapping', async () => {
    const output = await typescriptPlugin(buildSchema(), [], { strictScalars: true });
    const content = typeof output === 'string' ? output : output.content;
    expect(content).toMatch(/DateTime: \{ input: string; output: string; \}/);
  });

  it('refuses to guess: without the mapping, strictScalars stops on DateTime', async () => {
    await expect(generateTypes(undefined)).rejects.toThrow(/DateTime/);
  });
});
