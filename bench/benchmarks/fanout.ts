/**
 * 3. Subscription fan-out: 1,000 graphql-ws subscribers of `queueStatusChanged` on bosun, and
 * 1,000 plain ws clients of a bare `ws` broadcast server, all held by one client process
 * (bench/clients/subscribers.ts). 200 changes each, interleaved: a `setMaxConcurrency` mutation
 * toggling 3 ↔ 2 on bosun, a `POST /publish` on the raw server, each followed by waiting for all
 * 1,000 deliveries.
 */
import { startBosun } from '../lib/bosun-child.js';
import { cpuMsPrecise, forkTs, stopChild, waitForMessage } from '../lib/processes.js';
import { figureWithP99, type Benchmark } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const SUBSCRIBERS = Number(process.env['BENCH_FANOUT_SUBSCRIBERS'] ?? 1000);
const CHANGES = Number(process.env['BENCH_FANOUT_CHANGES'] ?? 200);

interface GroupResult {
  readonly name: string;
  readonly latencies: number[];
  readonly lasts: number[];
  readonly missing: number;
}

export const fanout: Benchmark = {
  name: 'fanout',
  title: `Subscription fan-out: ${SUBSCRIBERS} queueStatusChanged subscribers`,
  async run(context) {
    const bosun = await startBosun({ env: { MAX_CONCURRENT_AGENTS: '2' }, profileDir: context.profileDir });
    const raw = forkTs('servers/raw-ws-broadcast.ts');
    const clients = forkTs('clients/subscribers.ts', { nodeFlags: ['--max-old-space-size=2048'] });
    let results: GroupResult[];
    /** CPU time of each server over the measured changes (each serves only its own). */
    let cpu: { readonly bosunMs: number; readonly rawMs: number };
    try {
      const rawReady = await waitForMessage<{ type: string; wsUrl: string; publishUrl: string; pid: number }>(raw, 'ready');
      const opened = waitForMessage(clients, 'opened', 120_000);
      clients.send({
        type: 'open',
        count: SUBSCRIBERS,
        targets: [
          { name: 'bosun', protocol: 'graphql-ws', wsUrl: bosun.wsUrl, triggerUrl: bosun.url },
          { name: 'raw', protocol: 'raw', wsUrl: rawReady.wsUrl, triggerUrl: rawReady.publishUrl },
        ],
      });
      await opened;
      context.log(`fanout: ${SUBSCRIBERS} + ${SUBSCRIBERS} subscribers connected`);
      const done = waitForMessage<{ type: string; results: GroupResult[] }>(clients, 'result', 300_000);
      const rawPid = rawReady.pid;
      const before = { bosunMs: cpuMsPrecise(bosun.pid), rawMs: cpuMsPrecise(rawPid) };
      results = await bosun.profiled('fanout', async () => {
        clients.send({ type: 'fanout', changes: CHANGES });
        return (await done).results;
      });
      cpu = { bosunMs: cpuMsPrecise(bosun.pid) - before.bosunMs, rawMs: cpuMsPrecise(rawPid) - before.rawMs };
    } finally {
      if (clients.connected) clients.send({ type: 'close' });
      if (raw.connected) raw.send({ type: 'close' });
      await Promise.all([stopChild(clients, 5_000), stopChild(raw, 5_000)]);
      await bosun.stop();
    }
    const ours = results.find((result) => result.name === 'bosun')!;
    const base = results.find((result) => result.name === 'raw')!;
    const so = summarize(ours.latencies);
    const sb = summarize(base.latencies);
    const lo = summarize(ours.lasts);
    const lb = summarize(base.lasts);
    const samples = `${so.n} / ${sb.n}`;
    const missing = ours.missing + base.missing;
    return {
      method:
        `Latency of each delivery = time the client process received the message − time the same process sent the HTTP request that ` +
        'causes the change (bosun: the `setMaxConcurrency` mutation, whose resolver publishes the queue status; raw: `POST /publish`, ' +
        "whose handler broadcasts), one clock, so it covers request, publish, fan-out and the client's receive queue on both sides. " +
        `${CHANGES} changes per side, alternating bosun / raw, each waiting for all ${SUBSCRIBERS} deliveries; samples are deliveries. ` +
        "Servers and the client process each run in their own process; the clients are plain `ws` sockets on both sides (bosun's speak " +
        'the graphql-transport-ws protocol), so client-side cost is the same.',
      rows: [
        {
          metric: 'publish → receive latency per delivery',
          unit: 'ms',
          samples,
          bosun: figureWithP99(so),
          baseline: null,
          ratio: null,
          target: 'p99 ≤ 30 ms',
          pass: so.p99 <= 30 && missing === 0,
        },
        {
          metric: 'publish → receive latency per delivery',
          unit: 'ms',
          samples,
          bosun: figureWithP99(so),
          baseline: { name: 'raw ws broadcast', ...figureWithP99(sb) },
          ratio: { value: so.p99 / sb.p99, definition: 'bosun / raw p99' },
          target: 'p99 ≤ 3× raw',
          pass: so.p99 / sb.p99 <= 3 && missing === 0,
        },
      ],
      notes: [
        `Deliveries: bosun p50 ${so.median.toFixed(2)} ms, p95 ${so.p95.toFixed(2)} ms, p99 ${so.p99.toFixed(2)} ms, max ${so.max.toFixed(1)} ms; ` +
          `raw p50 ${sb.median.toFixed(2)} ms, p95 ${sb.p95.toFixed(2)} ms, p99 ${sb.p99.toFixed(2)} ms, max ${sb.max.toFixed(1)} ms.`,
        `Last of the ${SUBSCRIBERS} deliveries per change (median / p95): bosun ${lo.median.toFixed(1)} / ${lo.p95.toFixed(1)} ms, raw ${lb.median.toFixed(1)} / ${lb.p95.toFixed(1)} ms ` +
          `(≈ the time to fan one change out to everyone: bosun ${((lo.median / SUBSCRIBERS) * 1000).toFixed(1)} µs per subscriber, raw ${((lb.median / SUBSCRIBERS) * 1000).toFixed(1)} µs).`,
        `Deliveries missing after 10 s: ${missing}.`,
        // CPU time moves less with the machine's load than latency does: the figure to compare runs by.
        `Server CPU per delivery over the ${CHANGES} changes (all threads): bosun ${((cpu!.bosunMs * 1000) / (CHANGES * SUBSCRIBERS)).toFixed(1)} µs, ` +
          `raw ${((cpu!.rawMs * 1000) / (CHANGES * SUBSCRIBERS)).toFixed(1)} µs (${(cpu!.bosunMs / cpu!.rawMs).toFixed(2)}×; both include their HTTP trigger).`,
      ],
    };
  },
};
