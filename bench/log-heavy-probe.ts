/**
 * `npx tsx bench/log-heavy-probe.ts [long]`: the soak's log-heavy step alone, to see what it does
 * to bosun's event loop. One run printing 300 MB (short lines, `yes bosun`; with `long`, lines of
 * 1,000 characters) in a bosun child, with one live `agentLogs` subscriber that reads, while
 * `/health` is probed every 50 ms. Prints the run's time, /health latencies and the child's own
 * event-loop stalls past 50 ms (with the main thread's CPU time and the GC time in each). With
 * PROF=<dir>, a CPU profile of the run is written there (read it with bench/lib/profile-summary.ts).
 */
import { mkdirSync } from 'node:fs';
import { startBosun } from './lib/bosun-child.js';
import { gql, RunWatcher, START_AGENT, startInput, wsClient } from './lib/graphql.js';
import { sleep } from './lib/processes.js';
import { fmt, summarize } from './lib/stats.js';

const STEP = process.argv[2] === 'long' ? "head -c 300000000 /dev/zero | tr '\\0' x | fold -w 1000" : 'yes bosun | head -c 300000000';
const HEALTH_INTERVAL_MS = 50;

const profileDir = process.env['PROF'] || undefined;
if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
const bosun = await startBosun({ watchStalls: true, profileDir, env: { MAX_CONCURRENT_AGENTS: '2' } });
try {
  const client = wsClient(bosun.wsUrl);
  const watcher = new RunWatcher(client);
  await watcher.ready;
  const health: number[] = [];
  let probing = true;
  const probes = (async () => {
    while (probing) {
      const started = performance.now();
      await (await fetch(bosun.url.replace(/\/graphql$/, '/health'))).arrayBuffer();
      health.push(performance.now() - started);
      await sleep(Math.max(0, HEALTH_INTERVAL_MS - (performance.now() - started)));
    }
  })();
  const startedAt = performance.now();
  const startedEpochMs = Date.now();
  const { status, received } = await bosun.profiled('log-heavy', async () => {
    const { startAgent } = await gql<{ startAgent: { agentId: string } }>(bosun.url, START_AGENT, startInput([STEP]));
    let lines = 0;
    client.subscribe(
      { query: 'subscription ($id: ID!) { agentLogs(agentId: $id, afterSeq: 0) { seq line } }', variables: { id: startAgent.agentId } },
      { next: () => void (lines += 1), error: () => undefined, complete: () => undefined },
    );
    const final = await watcher.final(startAgent.agentId, 600_000);
    return { status: final.status, received: lines };
  });
  const elapsedMs = performance.now() - startedAt;
  probing = false;
  await probes;
  const stalls = (await bosun.stalls()).filter((stall) => stall.endedAt >= startedEpochMs && !stall.forcedGc);
  const latency = summarize(health);
  console.log(`run ${status} after ${fmt(elapsedMs / 1000, 's')}; the live subscriber got ${received} results before it ended`);
  console.log(`/health p50 ${fmt(latency.median, 'ms')}, p99 ${fmt(latency.p99, 'ms')}, max ${fmt(latency.max, 'ms')} (${latency.n} probes)`);
  console.log(
    `event-loop stalls past 50 ms: ${stalls.length}${stalls.length === 0 ? '' : `, longest ${fmt(Math.max(...stalls.map((stall) => stall.ms)), 'ms')}`}` +
      `${stalls.length === 0 ? '' : `; each as ms (main-thread CPU ms, GC ms): ${stalls.map((s) => `${Math.round(s.ms)} (${Math.round(s.cpuMs)}, ${Math.round(s.gcMs)})`).join(', ')}`}`,
  );
  await client.dispose();
} finally {
  await bosun.stop();
}
process.exit(0);
