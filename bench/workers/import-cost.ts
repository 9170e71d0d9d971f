/**
 * What loading costs in resident memory, for the memory benchmark's notes: a fresh process
 * (node --import tsx, as bosun runs) imports bosun's heavy dependencies one by one, then bosun
 * itself, and reports its RSS after each step. Prints one JSON line.
 */
import { readFileSync } from 'node:fs';

const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
const steps: { step: string; rssMb: number }[] = [{ step: 'node + tsx loader', rssMb: rssMb() }];
for (const specifier of ['dockerode', 'graphql-yoga', '@graphql-yoga/render-graphiql', '../../src/app.js']) {
  await import(specifier);
  steps.push({ step: specifier.replace('../../', ''), rssMb: rssMb() });
}
console.log(JSON.stringify(steps));
