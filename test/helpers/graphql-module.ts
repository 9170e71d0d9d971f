/**
 * The graphql module instance that @pothos/core and graphql-yoga use.
 *
 * graphql 16 has no `exports` map: Node loads its CJS build (index.js) for the libraries, while
 * vitest resolves a bare `graphql` import in source and test files to its ESM build (index.mjs).
 * graphql refuses to mix the two ("Cannot use GraphQLSchema … from another module or realm"),
 * so tests that print or compare a built schema take graphql from here. Outside vitest there is
 * one instance.
 */
import { createRequire } from 'node:module';

export const graphql = createRequire(import.meta.url)('graphql') as typeof import('graphql');
