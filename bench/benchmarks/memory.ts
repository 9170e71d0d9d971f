/**
 * 7. Memory: bosun's resident memory with 10,000 runs waiting (MAX_CONCURRENT_AGENTS 1, one long
 * run holding the slot, MAX_QUEUE_LENGTH 20000) and 1,000 idle graphql-ws subscribers of
 * `queueStatusChanged` (held by a separate client process), read from /proc/<pid>/status of the
 * bosun process alone. The baseline is the same process just after start, empty.
 */
import { startBosun } from '../lib/bosun-child.js';
import { gql, START_AGENT, startInput } from '../lib/graphql.js';
import { forkTs, rss, run, sleep, stopChild, waitForMessage } from '../lib/processes.js';
import { figure, type Benchmark } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const WAITING = Number(process.env['BENCH_MEMORY_RUNS'] ?? 10_000);
const SUBSCRIBERS = 1_000;
const SAMPLES = 20;
const SAMPLE_EVERY_MS = 250;
const PARALLEL_STARTS = 16;
const MB = 1024 * 1024;

async function sampleRss(pid: number): Promise<number[]> {
  const values: number[] = [];
  for (let index = 0; index < SAMPLES; index += 1) {
    values.push(rss(pid).rss / MB);
    await sleep(SAMPLE_EVERY_MS);
  }
  return values;
}

export const memory: Benchmark = {
  name: 'memory',
  title: `Memory: ${WAITING.toLocaleString('en')} waiting runs and ${SUBSCRIBERS.toLocaleString('en')} idle subscribers`,
  async run(context) {
    const bosun = await startBosun({
      env: { MAX_CONCURRENT_AGENTS: '1', MAX_QUEUE_LENGTH: '20000', QUEUE_TIMEOUT_MS: '3600000' },
      profileDir: context.profileDir,
      // Only for the after-collection figures in the notes, taken after the RSS samples.
      nodeFlags: ['--expose-gc'],
    });
    const clients = forkTs('clients/subscribers.ts');
    let idle: number[];
    let loaded: number[];
    let hwm: number;
    let heap: NodeJS.MemoryUsage;
    let idleHeap: NodeJS.MemoryUsage;
    /** Live heap after a full collection (taken after the RSS samples of each state, so it does not change them). */
    const live: { idle?: NodeJS.MemoryUsage; all?: NodeJS.MemoryUsage } = {};
    let runsRss = 0;
    let enqueueSeconds = 0;
    let queued = 0;
    try {
      await sleep(2000);
      idle = await sampleRss(bosun.pid);
      idleHeap = await bosun.memoryUsage();
      live.idle = await bosun.memoryUsage(true);

      await bosun.profiled('memory-load', async () => {
        const blocker = await gql<{ startAgent: { agentId: string } }>(bosun.url, START_AGENT, startInput(['sleep 600']));
        for (;;) {
          const { agentRun } = await gql<{ agentRun: { status: string } }>(bosun.url, 'query ($id: ID!) { agentRun(id: $id) { status } }', {
            id: blocker.startAgent.agentId,
          });
          if (agentRun.status === 'RUNNING') break;
          if (agentRun.status !== 'QUEUED') throw new Error(`the blocking run ended ${agentRun.status}`);
          await sleep(100);
        }
        const began = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: PARALLEL_STARTS }, async () => {
            while (next < WAITING) {
              next += 1;
              await gql(bosun.url, START_AGENT, startInput(['true'], `memory-${next % 100}`));
            }
          }),
        );
        enqueueSeconds = (performance.now() - began) / 1000;
        context.log(`memory: ${WAITING} runs queued in ${enqueueSeconds.toFixed(1)} s`);
        runsRss = rss(bosun.pid).rss / MB;

        const opened = waitForMessage(clients, 'opened', 120_000);
        clients.send({ type: 'open', count: SUBSCRIBERS, targets: [{ name: 'bosun', protocol: 'graphql-ws', wsUrl: bosun.wsUrl }] });
        await opened;
        const { queueStatus } = await gql<{ queueStatus: { queued: number } }>(bosun.url, '{ queueStatus { queued } }');
        queued = queueStatus.queued;
        await sleep(3000);
      });
      loaded = await sampleRss(bosun.pid);
      hwm = rss(bosun.pid).hwm / MB;
      heap = await bosun.memoryUsage();
      live.all = await bosun.memoryUsage(true);
    } finally {
      if (clients.connected) clients.send({ type: 'close' });
      await stopChild(clients, 5_000);
      await bosun.stop();
    }
    // Where the idle figure comes from: RSS after each import in a fresh process.
    const imports = await run(process.execPath, ['--import', 'tsx', new URL('../workers/import-cost.ts', import.meta.url).pathname]).then(
      (result) => JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { step: string; rssMb: number }[],
      () => [],
    );
    const so = summarize(loaded);
    const sb = summarize(idle);
    const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;
    return {
      method:
        `RSS (VmRSS of /proc/<pid>/status of the bosun process) sampled ${SAMPLES} times every ${SAMPLE_EVERY_MS} ms: first 2 s after ` +
        `start with nothing to do (baseline), then after one \`sleep 600\` run took the only slot, ${WAITING.toLocaleString('en')} ` +
        `\`startAgent\` calls (${PARALLEL_STARTS} in flight over HTTP) queued behind it and ${SUBSCRIBERS.toLocaleString('en')} graphql-ws ` +
        'clients in another process subscribed to `queueStatusChanged`, and 3 s of rest. The target is checked on the p95.',
      rows: [
        {
          metric: 'server RSS under load',
          unit: 'MB',
          samples: `${so.n} / ${sb.n}`,
          bosun: figure(so),
          baseline: { name: 'same process idle', ...figure(sb) },
          ratio: { value: so.median / sb.median, definition: 'loaded / idle RSS' },
          target: '≤ 250 MB',
          pass: so.p95 <= 250 && queued === WAITING,
        },
      ],
      notes: [
        `Runs waiting when measured: ${queued}; queued in ${enqueueSeconds.toFixed(1)} s (${(WAITING / enqueueSeconds).toFixed(0)} startAgent/s). High-water mark (VmHWM): ${hwm.toFixed(0)} MB.`,
        `RSS right after the ${WAITING.toLocaleString('en')} startAgent calls, before the subscribers: ${runsRss.toFixed(0)} MB.`,
        `V8 heap used / total, external: idle ${mb(idleHeap.heapUsed)} / ${mb(idleHeap.heapTotal)}, ${mb(idleHeap.external)}; ` +
          `loaded ${mb(heap.heapUsed)} / ${mb(heap.heapTotal)}, ${mb(heap.external)}. After a forced full GC (once sampling was over): ` +
          `idle ${mb(live.idle.heapUsed)}, loaded ${mb(live.all.heapUsed)} live, i.e. ` +
          `${((live.all.heapUsed - live.idle.heapUsed) / (WAITING + SUBSCRIBERS) / 1024).toFixed(1)} KiB per waiting run or subscriber; ` +
          `the rest of the RSS growth is heap V8 grew for the garbage of the load and keeps (heap total ${mb(heap.heapTotal)}).`,
        imports.length > 0
          ? `Idle RSS by import, in a fresh \`node --import tsx\` process (RSS after each step, MB): ` +
            imports
              .map((step, index) => `${step.step} ${index === 0 ? step.rssMb.toFixed(0) : `+${(step.rssMb - imports[index - 1]!.rssMb).toFixed(0)}`}`)
              .join(', ') +
            ` = ${imports.at(-1)!.rssMb.toFixed(0)} MB.`
          : 'The import-cost breakdown could not be measured.',
      ],
    };
  },
};
