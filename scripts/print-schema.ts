/**
 * Writes the API schema to schema.graphql at the repository root (`npm run print-schema`).
 * test/schema/schema-file.test.ts fails when the file and the built schema differ.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { printBosunSchema } from '../src/api/print.js';

const target = fileURLToPath(new URL('../schema.graphql', import.meta.url));
writeFileSync(target, printBosunSchema());
console.log(`wrote ${target}`);
