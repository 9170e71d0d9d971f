/**
 * 2. Query throughput: `queueStatus` over HTTP POST against bosun, and `{ hello }` against a bare
 * graphql-yoga server, each in its own child process; 10 connections for 10 s per round with
 * autocannon's programmatic API (in this process), rounds alternating so that both see the
 * same machine.
 */
import autocannon from 'autocannon';
import { startBosun } from '../lib/bosun-child.js';
import { forkTs, stopChild, waitForMessage } from '../lib/processes.js';
import { figure, type Benchmark } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const CONNECTIONS = 10;
const DURATION_S = Number(process.env['BENCH_THROUGHPUT_SECONDS'] ?? 10);
const ROUNDS = 2;
const WARMUP_S = 2;

const BOSUN_QUERY = '{ queueStatus { running queued maxConcurrency utilizationPercent paused } }';
const HELLO_QUERY = '{ hello }';

interface Round {
  /** Completed 2xx responses in each whole second. */
  readonly perSecond: number[];
  readonly total: number;
  readonly seconds: number;
  readonly bad: number;
  readonly latencyP50: number;
  readonly latencyP99: number;
}

async function load(url: string, query: string, seconds: number): Promise<Round> {
  const perSecond: number[] = [];
  let current = 0;
  let bad = 0;
  const instance = autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query }),
  });
  const timer = setInterval(() => {
    perSecond.push(current);
    current = 0;
  }, 1000);
  instance.on('response', (_client: unknown, status: number) => {
    if (status >= 200 && status < 300) current += 1;
    else bad += 1;
  });
  const result = await instance;
  clearInterval(timer);
  const duration = result.duration;
  bad += result.errors + result.timeouts;
  return {
    perSecond: perSecond.slice(0, Math.floor(seconds)),
    total: result['2xx'],
    seconds: duration,
    bad,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
  };
}

export const throughput: Benchmark = {
  name: 'throughput',
  title: 'Query throughput: queueStatus over HTTP POST',
  async run(context) {
    const bosun = await startBosun({ profileDir: context.profileDir });
    const hello = forkTs('servers/yoga-hello.ts');
    const middle = forkTs('servers/yoga-bosun-schema.ts');
    const ours: Round[] = [];
    const base: Round[] = [];
    const mid: Round[] = [];
    let middleProblem: string | undefined;
    try {
      const { url: helloUrl } = await waitForMessage<{ type: string; url: string }>(hello, 'ready');
      // The diagnostic server imports bosun's internals; if they changed shape, go on without it.
      const middleUrl = await waitForMessage<{ type: string; url: string }>(middle, 'ready').then(
        (ready) => ready.url,
        (error: unknown) => {
          middleProblem = String(error).split('\n')[0];
          return undefined;
        },
      );
      await load(helloUrl, HELLO_QUERY, WARMUP_S);
      if (middleUrl) await load(middleUrl, BOSUN_QUERY, WARMUP_S);
      await load(bosun.url, BOSUN_QUERY, WARMUP_S);
      for (let round = 0; round < ROUNDS; round += 1) {
        base.push(await load(helloUrl, HELLO_QUERY, DURATION_S));
        if (middleUrl) mid.push(await load(middleUrl, BOSUN_QUERY, DURATION_S));
        ours.push(await bosun.profiled(`throughput-round-${round}`, () => load(bosun.url, BOSUN_QUERY, DURATION_S)));
        context.log(`throughput: round ${round + 1}/${ROUNDS}`);
      }
    } finally {
      for (const child of [hello, middle]) if (child.connected) child.send({ type: 'close' });
      await Promise.all([stopChild(hello, 5_000), stopChild(middle, 5_000)]);
      await bosun.stop();
    }
    const rate = (rounds: Round[]) => rounds.reduce((sum, r) => sum + r.total, 0) / rounds.reduce((sum, r) => sum + r.seconds, 0);
    const so = summarize(ours.flatMap((r) => r.perSecond));
    const sb = summarize(base.flatMap((r) => r.perSecond));
    const value = rate(ours) / rate(base);
    const bad = [...ours, ...base].reduce((sum, r) => sum + r.bad, 0);
    return {
      method:
        `${ROUNDS} rounds of ${DURATION_S} s per server after a ${WARMUP_S} s warm-up each, alternating (hello, middle point, bosun, …); ` +
        `${CONNECTIONS} connections, one request in flight per connection. Samples are completed 2xx responses per whole second; ` +
        'the ratio compares total responses / total seconds. Both servers run in their own child process under tsx; autocannon in the parent.',
      rows: [
        {
          metric: 'queueStatus POST throughput',
          unit: 'req/s',
          samples: `${so.n} / ${sb.n} s`,
          bosun: figure(so),
          baseline: { name: 'bare yoga { hello }', ...figure(sb) },
          ratio: { value, definition: 'bosun / baseline req/s' },
          target: '≥ 0.85×',
          pass: value >= 0.85 && bad === 0,
        },
      ],
      notes: [
        `Overall: bosun ${rate(ours).toFixed(0)} req/s, baseline ${rate(base).toFixed(0)} req/s; non-2xx, errors and timeouts: ${bad}.`,
        `Latency p50 / p99: bosun ${ours.map((r) => `${r.latencyP50} / ${r.latencyP99}`).join(', ')} ms; baseline ${base.map((r) => `${r.latencyP50} / ${r.latencyP99}`).join(', ')} ms (per round).`,
        mid.length > 0
          ? `Diagnostic middle point, interleaved with the two (bare yoga serving bosun's own schema and queueStatus resolver, no plugins): ` +
            `${rate(mid).toFixed(0)} req/s. So the schema and resolver take the ratio to ${(rate(mid) / rate(base)).toFixed(2)}×, and bosun's ` +
            `server set-up (plugins, per-request context, error masking, logging) from there to ${value.toFixed(2)}× ` +
            `(bosun / middle ${(rate(ours) / rate(mid)).toFixed(2)}×).`
          : `The diagnostic middle point (bare yoga with bosun's schema) could not start: ${middleProblem}.`,
        // Said with every result, so that nobody reads bosun past bare yoga as yoga's request path made faster.
        "Both yoga servers keep yoga's default request body limit (maxRequestBodySize, 25 MB), which pipes every request body through a web " +
          'TransformStream (a stream pipeline, an AbortSignal and a DOMException per request); bosun turns it off and limits bodies (1 MiB) on the ' +
          'node request instead (src/server/request-body-limit.ts), which is most of its lead: a bare yoga with the limit off answers about 2× ' +
          'its default.',
      ],
    };
  },
};
