import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PRODUCTION_MALLOC_ARENA_MAX, PRODUCTION_NODE_FLAGS } from '../../bench/lib/bosun-child.js';

describe("the benchmarks' bosun", () => {
  it('runs with the V8 flags and allocator setting npm start uses (scripts/runtime.sh)', () => {
    const runtime = readFileSync(new URL('../../scripts/runtime.sh', import.meta.url), 'utf8');
    const flags = /^bosun_node_flags=\(([^)]*)\)$/m.exec(runtime)?.[1]?.trim().split(/\s+/);
    const arenas = /^bosun_malloc_arena_max=(\S+)$/m.exec(runtime)?.[1];
    expect(flags).toEqual([...PRODUCTION_NODE_FLAGS]);
    expect(arenas).toBe(PRODUCTION_MALLOC_ARENA_MAX);
  });
});
