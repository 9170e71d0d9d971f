/**
 * `npm run soak` (SOAK_MS, default 600000 = 10 minutes): bosun as a real child process (its own
 * throw-away database file and instance id, loopback only) against the real Docker engine, at
 * moderate load for the duration, then checks that it held up. Bounded in count and time, it
 * stops by itself; whatever happens, the child is stopped and its containers removed.
 *
 * Load (MAX_CONCURRENT_AGENTS 2): short `echo`/`sleep` runs, some cancelled while queued and some
 * while running; graphql-ws and SSE subscribers joining and leaving (agentLogs, agentRunUpdated,
 * resourceSamples, queueStatusChanged); raw sockets that subscribe and then never read; one or two
 * log-heavy runs printing 300 MB.
 *
 * Measured: bosun's V8 heap (heapUsed after a forced full GC, asked over the child's IPC channel,
 * so what is live and not what awaits collection) and RSS every 2 s; /health latency every 250 ms
 * (a probe in flight while that forced GC holds the event loop measures the soak, so it is left out
 * of the criterion and reported apart).
 *
 * Criteria (issue 14): heap at the end within 10 % of its post-warm-up level (each a median of the
 * samples in a window: warm-up ends at 20 % of the duration, the level is the median over the next
 * 10 %, the end level the median over the last 10 % of the load); /health p99 under 200 ms; every
 * run final after the drain; no container of the instance left. Prints a table, appends it to
 * bench/results/<date>-soak.md and exits 1 naming each miss.
 *
 * One file past the usual ~400 lines: the load, the probes and the report share the run's state,
 * and splitting them would only thread that state through more signatures.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'graphql-ws';
import { startBosun, type BosunChild, type LoopStall } from './lib/bosun-child.js';
import { containersLabelled, dockerVersion } from './lib/docker-cli.js';
import { FINAL_STATUSES, START_AGENT, gql, startInput, wsClient } from './lib/graphql.js';
import { BENCH_DIR, ROOT, loadAverage, rss, sleep } from './lib/processes.js';
import { fmt, summarize } from './lib/stats.js';

const DEFAULT_SOAK_MS = 600_000;
const HEALTH_INTERVAL_MS = 250;
const MEMORY_INTERVAL_MS = 2_000;
const LOAD_TICK_MS = 1_000;
const MAX_CONCURRENT_AGENTS = 2;
/** Runs not yet final that the load keeps at most (2 running + a short line). */
const MAX_IN_FLIGHT = 6;
const MAX_TRANSIENT_SUBSCRIBERS = 20;
const MAX_NON_READERS = 6;
/** After the load: how long the runs still going get to finish. */
const DRAIN_MS = 120_000;
const HEAP_TOLERANCE = 0.1;
const HEALTH_P99_LIMIT_MS = 200;
const LOG_HEAVY_STEP = 'yes bosun | head -c 300000000';
const LOG_HEAVY_LONG_LINES = "head -c 300000000 /dev/zero | tr '\\0' x | fold -w 1000";

type RunKind = 'short' | 'sleep' | 'cancel-queued' | 'cancel-running' | 'log-heavy';

interface TrackedRun {
  readonly id: string;
  readonly kind: RunKind;
  status: string;
  /** ms into the soak. */
  readonly startedAt: number;
  finishedAt?: number;
}

function readSoakMs(): number {
  const raw = process.env['SOAK_MS'];
  if (raw === undefined || raw === '') return DEFAULT_SOAK_MS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 30_000 || value > 24 * 3_600_000) {
    console.error(`Expected SOAK_MS to be an integer from 30000 to 86400000 (ms), got ${raw}`);
    process.exit(2);
  }
  return value;
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (low: number, high: number) => low + Math.random() * (high - low);
const median = (values: readonly number[]) => summarize(values).median;

/** The soak: owns the child, its load, its probes and every socket it opens. */
class Soak {
  readonly runs = new Map<string, TrackedRun>();
  readonly health: { at: number; ms: number; ok: boolean }[] = [];
  /** When the soak's own forced GC (and the IPC round trip around it) held bosun's event loop, ms into the soak. */
  readonly gcWindows: { from: number; to: number }[] = [];
  readonly memory: { at: number; heapUsed: number; rss: number }[] = [];
  /** Latencies of the control server, probed alongside /health. */
  readonly control: number[] = [];
  readonly counts = {
    started: 0,
    startErrors: 0,
    cancels: 0,
    subscribers: 0,
    sse: 0,
    nonReaders: 0,
    subscriberErrors: 0,
    nonReadersClosedByServer: 0,
  };
  private readonly closers = new Set<() => void>();
  private readonly stopped = new AbortController();
  private observer: Client | undefined;
  private logHeavyId: string | undefined;
  private transientAlive = 0;
  private probes: Promise<void> = Promise.resolve();
  private probesStopped = false;
  /** Set just before the soak stops bosun itself. */
  exitExpected = false;
  private nonReadersAlive = 0;
  private childExited: string | undefined;
  startedAt = 0;
  /** The same moment as `startedAt`, in epoch ms (the child's stalls are stamped so). */
  startedEpochMs = 0;

  constructor(
    readonly bosun: BosunChild,
    readonly soakMs: number,
    private readonly controlUrl: string,
  ) {
    bosun.process.on('exit', (code, signal) => {
      if (!this.stopped.signal.aborted)
        this.childExited = `bosun exited (${code ?? signal}) during the soak:\n${bosun.process.output().slice(-2_000)}`;
    });
  }

  get exitReason(): string | undefined {
    return this.childExited;
  }

  private get base(): string {
    return this.bosun.url.replace(/\/graphql$/, '');
  }

  elapsed(): number {
    return performance.now() - this.startedAt;
  }

  /** Runs the load and the probes for `soakMs`, then stops starting anything new. */
  async run(): Promise<void> {
    this.startedAt = performance.now();
    this.startedEpochMs = Date.now();
    this.observe();
    this.probes = Promise.all([this.probeHealth(), this.sampleMemory()]).then(() => undefined);
    const heavyAt = this.soakMs >= 300_000 ? [0.35, 0.6] : [0.35];
    await this.load(heavyAt);
  }

  /** Stops the probes, which go on through the drain: /health is measured until the last run is final. */
  async stopProbes(): Promise<void> {
    this.probesStopped = true;
    await this.probes;
  }

  private probing(): boolean {
    return !this.probesStopped && this.childExited === undefined;
  }

  stop(): void {
    this.stopped.abort();
    for (const close of [...this.closers]) close();
    this.closers.clear();
  }

  private running(): boolean {
    return !this.stopped.signal.aborted && this.childExited === undefined && this.elapsed() < this.soakMs;
  }

  /** The soak's own view of statuses: one agentRunUpdated subscription for every run. */
  private observe(): void {
    this.observer = wsClient(this.bosun.wsUrl);
    const dispose = this.observer.subscribe<{ agentRunUpdated: { id: string; status: string } }>(
      { query: 'subscription { agentRunUpdated { id status } }' },
      {
        next: ({ data }) => {
          const update = data?.agentRunUpdated;
          const run = update && this.runs.get(update.id);
          if (!run) return;
          run.status = update.status;
          if (FINAL_STATUSES.has(run.status)) run.finishedAt ??= this.elapsed();
        },
        error: () => undefined,
        complete: () => undefined,
      },
    );
    this.closers.add(() => {
      dispose();
      void this.observer?.dispose();
    });
  }

  /**
   * /health every 250 ms, and at the same moment the control server: a bare node:http process
   * answering 'ok', which tells a stalled bosun from a machine too busy to answer anyone quickly.
   */
  private async probeHealth(): Promise<void> {
    while (this.probing()) {
      const started = performance.now();
      const [bosun, control] = await Promise.all([timedGet(`${this.base}/health`), timedGet(this.controlUrl)]);
      this.health.push({ at: started - this.startedAt, ...bosun });
      this.control.push(control.ms);
      await sleep(Math.max(0, HEALTH_INTERVAL_MS - (performance.now() - started)));
    }
  }

  private async sampleMemory(): Promise<void> {
    while (this.probing()) {
      const at = this.elapsed();
      try {
        const from = this.elapsed();
        const usage = await this.bosun.memoryUsage(true);
        this.gcWindows.push({ from, to: this.elapsed() });
        this.memory.push({ at, heapUsed: usage.heapUsed, rss: rss(this.bosun.pid).rss });
      } catch {
        // The child went away: the exit handler names it.
      }
      await sleep(MEMORY_INTERVAL_MS);
    }
  }

  private async load(heavyAt: readonly number[]): Promise<void> {
    const pendingHeavy = [...heavyAt];
    let tick = 0;
    while (this.running()) {
      tick += 1;
      const fraction = this.elapsed() / this.soakMs;
      if (pendingHeavy.length > 0 && fraction >= pendingHeavy[0]!) {
        const steps = pendingHeavy.length === heavyAt.length ? [LOG_HEAVY_STEP] : [LOG_HEAVY_LONG_LINES];
        pendingHeavy.shift();
        void this.start('log-heavy', steps).then((id) => (this.logHeavyId = id ?? this.logHeavyId));
      }
      // Runs only while the end window is still ahead, so that the runs' own work settles before it.
      const inFlight = [...this.runs.values()].filter((run) => !FINAL_STATUSES.has(run.status)).length;
      if (inFlight < MAX_IN_FLIGHT && fraction < 0.97) void this.startSome();
      if (tick % 2 === 0 && this.transientAlive < MAX_TRANSIENT_SUBSCRIBERS) void this.transientSubscriber();
      if (tick % 5 === 0 && this.nonReadersAlive < MAX_NON_READERS) this.nonReader();
      await sleep(LOAD_TICK_MS);
    }
  }

  private async startSome(): Promise<void> {
    const kind = pick<RunKind>(['short', 'short', 'sleep', 'cancel-queued', 'cancel-queued', 'cancel-running']);
    const steps = {
      short: ['echo start', 'sleep 1', 'echo done'],
      sleep: [`sleep ${Math.ceil(between(1, 4))}`, 'echo slept'],
      'cancel-queued': ['echo never-or-soon', 'sleep 2'],
      'cancel-running': ['echo running', 'sleep 60'],
      'log-heavy': [LOG_HEAVY_STEP],
    }[kind];
    const id = await this.start(kind, steps);
    if (id === undefined) return;
    if (kind === 'cancel-queued') {
      await sleep(between(100, 1_500));
      // Cancelled only while still queued; a run that got a slot already is left to finish.
      if (this.runs.get(id)?.status === 'QUEUED') await this.cancel(id);
    } else if (kind === 'cancel-running') {
      const deadline = performance.now() + 60_000;
      while (this.runs.get(id)?.status !== 'RUNNING' && performance.now() < deadline && !FINAL_STATUSES.has(this.runs.get(id)?.status ?? '')) {
        await sleep(200);
      }
      await sleep(between(500, 3_000));
      await this.cancel(id);
    }
  }

  private async start(kind: RunKind, steps: readonly string[]): Promise<string | undefined> {
    try {
      const data = await gql<{ startAgent: { agentId: string; status: string } }>(this.bosun.url, START_AGENT, startInput(steps, `soak-${kind}`));
      const id = data.startAgent.agentId;
      // An update may have arrived before this answer: keep the later status.
      if (!this.runs.has(id)) this.runs.set(id, { id, kind, status: data.startAgent.status, startedAt: this.elapsed() });
      this.counts.started += 1;
      return id;
    } catch {
      this.counts.startErrors += 1;
      return undefined;
    }
  }

  private async cancel(id: string): Promise<void> {
    try {
      await gql(this.bosun.url, 'mutation ($id: ID!) { cancelAgent(id: $id) { id status } }', { id });
      this.counts.cancels += 1;
    } catch {
      // Final already: nothing to cancel.
    }
  }

  /** A run to follow: the log-heavy one half of the time, else a recent one. */
  private runToFollow(): string | undefined {
    const ids = [...this.runs.keys()].slice(-5);
    if (this.logHeavyId !== undefined && Math.random() < 0.5) return this.logHeavyId;
    return ids.length === 0 ? undefined : pick(ids);
  }

  private subscriptionQuery(): { query: string; variables?: Record<string, unknown> } {
    const id = this.runToFollow();
    const choices: { query: string; variables?: Record<string, unknown> }[] = [
      { query: 'subscription { queueStatusChanged { running queued paused } }' },
      { query: 'subscription { agentRunUpdated { id status } }' },
      { query: 'subscription { resourceSamples { containerId cpuPercent memoryUsageBytes } }' },
    ];
    if (id !== undefined) {
      choices.push(
        { query: 'subscription ($id: ID!) { agentLogs(agentId: $id, afterSeq: 0) { seq line } }', variables: { id } },
        { query: 'subscription ($id: ID!) { agentLogs(agentId: $id, afterSeq: 0) { seq line } }', variables: { id } },
        { query: 'subscription ($id: ID!) { agentRunUpdated(agentId: $id) { id status } }', variables: { id } },
      );
    }
    return pick(choices);
  }

  /** A reading subscriber (graphql-ws with 1 to 4 subscriptions, or SSE with one) that leaves after 2 to 15 s. */
  private async transientSubscriber(): Promise<void> {
    const lifetimeMs = between(2_000, 15_000);
    this.transientAlive += 1;
    try {
      await this.transientSubscriberFor(lifetimeMs);
    } finally {
      this.transientAlive -= 1;
    }
  }

  private async transientSubscriberFor(lifetimeMs: number): Promise<void> {
    if (Math.random() < 0.6) {
      this.counts.subscribers += 1;
      const client = wsClient(this.bosun.wsUrl);
      const close = () => void client.dispose();
      this.closers.add(close);
      const count = Math.ceil(between(0, 4));
      for (let i = 0; i < count; i += 1) {
        client.subscribe(this.subscriptionQuery(), {
          next: () => undefined,
          error: () => (this.counts.subscriberErrors += 1),
          complete: () => undefined,
        });
      }
      await sleep(lifetimeMs);
      this.closers.delete(close);
      close();
      return;
    }
    this.counts.sse += 1;
    const aborter = new AbortController();
    const close = () => aborter.abort();
    this.closers.add(close);
    const timer = setTimeout(close, lifetimeMs);
    try {
      const response = await fetch(this.bosun.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify(this.subscriptionQuery()),
        signal: aborter.signal,
      });
      if (!response.ok || !response.body) this.counts.subscriberErrors += 1;
      else for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) void chunk;
    } catch (error) {
      if (!aborter.signal.aborted) {
        this.counts.subscriberErrors += 1;
        void error;
      }
    } finally {
      clearTimeout(timer);
      this.closers.delete(close);
    }
  }

  /**
   * A raw socket that subscribes to a run's whole log (and every sample) and then stops reading:
   * a WebSocket speaking graphql-transport-ws by hand, or an SSE request. Destroyed after 20-40 s.
   */
  private nonReader(): void {
    const id = this.runToFollow();
    if (id === undefined) return;
    this.counts.nonReaders += 1;
    this.nonReadersAlive += 1;
    const { port } = new URL(this.bosun.url);
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    const close = () => socket.destroy();
    this.closers.add(close);
    const timer = setTimeout(
      () => {
        this.closers.delete(close);
        close();
      },
      between(20_000, 40_000),
    );
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      this.nonReadersAlive -= 1;
      if (this.closers.delete(close)) this.counts.nonReadersClosedByServer += 1;
    });
    const logs = JSON.stringify({
      query: 'subscription ($id: ID!) { agentLogs(agentId: $id, afterSeq: 0) { seq at stream line } }',
      variables: { id },
    });
    if (Math.random() < 0.5) {
      socket.write(
        `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n` +
          `Content-Length: ${Buffer.byteLength(logs)}\r\n\r\n${logs}`,
      );
      socket.pause();
      return;
    }
    socket.write(
      `GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
    );
    socket.write(wsFrame(JSON.stringify({ type: 'connection_init', payload: {} })));
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!seen.includes('connection_ack')) return;
      socket.off('data', onData);
      socket.write(wsFrame(JSON.stringify({ id: '1', type: 'subscribe', payload: JSON.parse(logs) as unknown })));
      socket.write(
        wsFrame(JSON.stringify({ id: '2', type: 'subscribe', payload: { query: 'subscription { resourceSamples { containerId cpuPercent } }' } })),
      );
      socket.pause();
    };
    socket.on('data', onData);
  }

  /** Waits for every run to be final (the store's answer, not the subscription's), up to `DRAIN_MS`. */
  async drain(): Promise<TrackedRun[]> {
    const deadline = performance.now() + DRAIN_MS;
    for (;;) {
      await this.refreshStatuses();
      const open = [...this.runs.values()].filter((run) => !FINAL_STATUSES.has(run.status));
      if (open.length === 0 || performance.now() > deadline || this.childExited !== undefined) return open;
      await sleep(1_000);
    }
  }

  private async refreshStatuses(): Promise<void> {
    for (const run of this.runs.values()) {
      if (FINAL_STATUSES.has(run.status)) continue;
      try {
        const data = await gql<{ agentRun: { status: string } | null }>(this.bosun.url, 'query ($id: ID!) { agentRun(id: $id) { status } }', {
          id: run.id,
        });
        run.status = data.agentRun?.status ?? 'MISSING';
        if (FINAL_STATUSES.has(run.status)) run.finishedAt ??= this.elapsed();
      } catch {
        // Unreachable child: the exit handler names it.
      }
    }
  }
}

/** Median heapUsed of the samples in each tenth of [0, loadEndMs): the heap's trajectory in ten figures. */
function tenths(samples: readonly { at: number; heapUsed: number }[], loadEndMs: number): number[] {
  return Array.from({ length: 10 }, (_, i) =>
    median(samples.filter((sample) => sample.at >= (i * loadEndMs) / 10 && sample.at < ((i + 1) * loadEndMs) / 10).map((sample) => sample.heapUsed)),
  );
}

async function timedGet(url: string): Promise<{ ms: number; ok: boolean }> {
  const started = performance.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    await response.arrayBuffer();
    return { ms: performance.now() - started, ok: response.ok };
  } catch {
    return { ms: performance.now() - started, ok: false };
  }
}

/** The control server: a bare node:http process on loopback; resolves with its URL and a stop. */
async function startControl(): Promise<{ url: string; stop: () => void }> {
  const code = "require('node:http').createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port) })";
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  return { url: `http://127.0.0.1:${chunk.toString().trim()}/`, stop: () => child.kill() };
}

/** One masked client text frame (RFC 6455 5.2). */
function wsFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const length = payload.length < 126 ? Buffer.from([0x80 | payload.length]) : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i += 1) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([Buffer.from([0x81]), length, mask, masked]);
}

interface Verdict {
  readonly criterion: string;
  readonly measured: string;
  readonly target: string;
  readonly pass: boolean;
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const mb = (bytes: number) => fmt(bytes / 1024 / 1024, 'MB');

async function main(): Promise<number> {
  const soakMs = readSoakMs();
  const loadAtStart = loadAverage();
  const commitAtStart = commit();
  const startedIso = new Date().toISOString();
  const dbDir = mkdtempSync(join(tmpdir(), 'bosun-soak-'));
  console.log(`soak: ${soakMs / 1000} s, MAX_CONCURRENT_AGENTS ${MAX_CONCURRENT_AGENTS}, load average ${loadAtStart}`);
  // SOAK_PROFILE=<dir>: a CPU profile and a sampling heap profile (what is live at the end, by allocation site) of the whole soak.
  const profileDir = process.env['SOAK_PROFILE'] || undefined;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const bosun = await startBosun({
    profileDir,
    nodeFlags: ['--expose-gc'],
    watchStalls: true,
    env: { MAX_CONCURRENT_AGENTS: String(MAX_CONCURRENT_AGENTS), BOSUN_DB_PATH: join(dbDir, 'soak.db'), STOP_GRACE_MS: '1000' },
  });
  const control = await startControl();
  const soak = new Soak(bosun, soakMs, control.url);
  let loadEndMs: number;
  const verdicts: Verdict[] = [];
  let open: TrackedRun[];
  let leftWhileUp: number;
  let leftAfterStop: number;
  let stalls: LoopStall[] = [];
  const onSignal = () => {
    soak.stop();
    void bosun.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    ({ loadEndMs, open } = await bosun.profiled('soak', async () => {
      await soak.run();
      soak.stop();
      console.log(`soak: load over after ${fmt(soak.elapsed() / 1000)} s; draining`);
      return { loadEndMs: soak.elapsed(), open: await soak.drain() };
    }));
    // Ten quiet seconds more of samples (the heap with no client left); sandboxes are removed when
    // their run ends, so none may be left while bosun is still up.
    await sleep(10_000);
    await soak.stopProbes();
    leftWhileUp = soak.exitReason === undefined ? (await containersLabelled('bosun.instance', bosun.instanceId)).length : -1;
    if (soak.exitReason === undefined) stalls = await bosun.stalls();
  } finally {
    soak.stop();
    await soak.stopProbes();
    soak.exitExpected = true;
    control.stop();
    leftAfterStop = await bosun.stop();
    rmSync(dbDir, { recursive: true, force: true });
  }
  const loadAtEnd = loadAverage();

  // Heap: medians over windows, so that a sample taken mid-burst does not decide.
  const windowMs = Math.max(soakMs * 0.1, 10_000);
  const warmUpEnd = soakMs * 0.2;
  const loadEnd = loadEndMs;
  const inWindow = (from: number, to: number) => soak.memory.filter((sample) => sample.at >= from && sample.at < to);
  const baseline = inWindow(warmUpEnd, warmUpEnd + windowMs);
  const end = inWindow(loadEnd - windowMs, loadEnd + 1);
  const baseHeap = median(baseline.map((sample) => sample.heapUsed));
  const endHeap = median(end.map((sample) => sample.heapUsed));
  const heapChange = endHeap / baseHeap - 1;
  // The clients are closed when the load ends; what the drain's last samples hold, nobody holds for a client.
  const afterDrain = soak.memory.filter((sample) => sample.at > loadEnd + 5_000).slice(-3);
  const baseRss = median(baseline.map((sample) => sample.rss));
  const endRss = median(end.map((sample) => sample.rss));
  verdicts.push({
    criterion: 'heap at end vs post-warm-up',
    measured: `${mb(baseHeap)} → ${mb(endHeap)} (${heapChange >= 0 ? '+' : ''}${fmt(heapChange * 100)} %; ${baseline.length} / ${end.length} samples)`,
    target: `within ±${HEAP_TOLERANCE * 100} %`,
    pass: baseline.length >= 3 && end.length >= 3 && Math.abs(heapChange) <= HEAP_TOLERANCE,
  });

  // A probe in flight while the soak itself forced a full GC in bosun measures the soak, not bosun: left out, and shown.
  const overlapsGc = (probe: { at: number; ms: number }) => soak.gcWindows.some((gc) => probe.at < gc.to && probe.at + probe.ms > gc.from);
  const healthDuringGc = summarize(soak.health.filter(overlapsGc).map((probe) => probe.ms));
  const gcRoundTrip = summarize(soak.gcWindows.map((gc) => gc.to - gc.from));
  const healthMs = summarize(soak.health.filter((probe) => !overlapsGc(probe)).map((probe) => probe.ms));
  const failedProbes = soak.health.filter((probe) => !probe.ok).length;
  verdicts.push({
    criterion: '/health latency p99',
    measured: `p50 ${fmt(healthMs.median, 'ms')}, p99 ${fmt(healthMs.p99, 'ms')}, max ${fmt(healthMs.max, 'ms')} (${healthMs.n} probes, ${failedProbes} failed; ${healthDuringGc.n} overlapping the soak's forced GC left out)`,
    target: `p99 < ${HEALTH_P99_LIMIT_MS} ms, none failed`,
    pass: healthMs.n > 0 && healthMs.p99 < HEALTH_P99_LIMIT_MS && failedProbes === 0,
  });

  const heavy = [...soak.runs.values()].filter((run) => run.kind === 'log-heavy');
  const duringHeavy = (at: number) => heavy.some((run) => at >= run.startedAt && at <= (run.finishedAt ?? Number.POSITIVE_INFINITY));
  const healthQuiet = summarize(soak.health.filter((probe) => !overlapsGc(probe) && !duringHeavy(probe.at)).map((probe) => probe.ms));
  const healthHeavy = summarize(soak.health.filter((probe) => !overlapsGc(probe) && duringHeavy(probe.at)).map((probe) => probe.ms));
  const controlMs = summarize(soak.control);
  // bosun's own view of its event loop: stalls past 50 ms since the load began, by their start (ms into the soak).
  const soakStalls = stalls
    .map((stall) => ({ ...stall, at: stall.endedAt - stall.ms - soak.startedEpochMs }))
    .filter((stall) => stall.endedAt >= soak.startedEpochMs);
  const ownStalls = soakStalls.filter((stall) => !stall.forcedGc);
  const longest = (list: readonly LoopStall[]) =>
    list.length === 0
      ? 'none'
      : ((top) => `${fmt(top.ms, 'ms')} (on CPU ${fmt(top.cpuMs, 'ms')}, GC ${fmt(top.gcMs, 'ms')})`)(list.reduce((a, b) => (b.ms > a.ms ? b : a)));
  const longestOnCpu = (list: readonly LoopStall[]) => (list.length === 0 ? 0 : Math.max(...list.map((stall) => stall.cpuMs)));
  const heavyStalls = ownStalls.filter((stall) => duringHeavy(stall.at));
  const forcedGcStalls = soakStalls.filter((stall) => stall.forcedGc);
  const byStatus = new Map<string, number>();
  for (const run of soak.runs.values()) byStatus.set(run.status, (byStatus.get(run.status) ?? 0) + 1);
  const cancelledRunning = [...soak.runs.values()].filter((run) => run.kind === 'cancel-running' && run.status === 'CANCELLED').length;
  const cancelledQueued = [...soak.runs.values()].filter((run) => run.kind === 'cancel-queued' && run.status === 'CANCELLED').length;
  verdicts.push({
    criterion: 'every run final',
    measured: `${soak.runs.size} runs: ${[...byStatus].map(([status, n]) => `${n} ${status}`).join(', ')}; not final: ${open.length}`,
    target: `all final within ${DRAIN_MS / 1000} s of the load's end`,
    pass: open.length === 0 && soak.runs.size > 0,
  });
  verdicts.push({
    criterion: 'no container left',
    measured: `${leftWhileUp < 0 ? 'n/a' : leftWhileUp} after the drain, ${leftAfterStop} after stop`,
    target: '0 and 0',
    pass: leftWhileUp === 0 && leftAfterStop === 0,
  });
  if (soak.exitReason !== undefined)
    verdicts.push({ criterion: 'bosun kept running', measured: soak.exitReason.split('\n')[0]!, target: 'alive', pass: false });

  const c = soak.counts;
  const notes = [
    `runs started ${c.started} (start errors ${c.startErrors}), cancel calls ${c.cancels}: ${cancelledQueued} cancelled while queued, ${cancelledRunning} while running; ` +
      `log-heavy runs: ${heavy.map((run) => `${run.status} after ${run.finishedAt === undefined ? '?' : fmt((run.finishedAt - run.startedAt) / 1000, 's')}`).join(', ')}`,
    `/health while a log-heavy run was going: p50 ${fmt(healthHeavy.median, 'ms')}, p99 ${fmt(healthHeavy.p99, 'ms')} (${healthHeavy.n} probes); ` +
      `otherwise p50 ${fmt(healthQuiet.median, 'ms')}, p99 ${fmt(healthQuiet.p99, 'ms')} (${healthQuiet.n})`,
    `forced GC (IPC round trip) p50 ${fmt(gcRoundTrip.median, 'ms')}, max ${fmt(gcRoundTrip.max, 'ms')}; /health probes overlapping one: p50 ${fmt(healthDuringGc.median, 'ms')}, p99 ${fmt(healthDuringGc.p99, 'ms')} (${healthDuringGc.n})`,
    `control (bare node:http on the same machine, probed alongside): p50 ${fmt(controlMs.median, 'ms')}, p99 ${fmt(controlMs.p99, 'ms')}, max ${fmt(controlMs.max, 'ms')}`,
    `event-loop stalls past 50 ms (bosun's own 10 ms timer, load and drain; the soak's forced GCs left out): ${ownStalls.length}, longest ${longest(ownStalls)}, ` +
      `${ownStalls.filter((stall) => stall.ms > 100).length} past 100 ms; the most CPU time in one: ${fmt(longestOnCpu(ownStalls), 'ms')}; ` +
      `while a log-heavy run was going: ${heavyStalls.length}, longest ${longest(heavyStalls)}; ` +
      `holding a forced GC: ${forcedGcStalls.length}, longest ${longest(forcedGcStalls)}`,
    `subscribers: ${c.subscribers} graphql-ws, ${c.sse} SSE (errors ${c.subscriberErrors}); non-reading raw sockets ${c.nonReaders} (closed by bosun ${c.nonReadersClosedByServer})`,
    `RSS (for reference, not a criterion): ${mb(baseRss)} after warm-up → ${mb(endRss)} at the end; peak ${mb(Math.max(...soak.memory.map((sample) => sample.rss)))}`,
    `heap peak (after GC) ${mb(Math.max(...soak.memory.map((sample) => sample.heapUsed)))}; ${soak.memory.length} samples every ${MEMORY_INTERVAL_MS / 1000} s`,
    `heap (after GC) once the drain was over and every client gone: ${mb(median(afterDrain.map((sample) => sample.heapUsed)))} (${afterDrain.length} samples); ` +
      'well below the end level means live clients held the growth, not a leak',
    `heap (after GC) by tenth of the load, medians: ${tenths(soak.memory, loadEnd)
      .map((bytes) => fmt(bytes / 1024 / 1024))
      .join(' → ')} MB`,
  ];
  const rows = verdicts.map((v) => `| ${v.criterion} | ${v.measured} | ${v.target} | ${v.pass ? 'PASS' : 'MISS'} |`);
  const table = ['| criterion | measured | target | result |', '|---|---|---|---|', ...rows].join('\n');
  console.log(`\n${table}\n\n${notes.map((note) => `- ${note}`).join('\n')}\nload average ${loadAtStart} at start, ${loadAtEnd} at end`);

  const resultsDir = join(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${startedIso.slice(0, 10)}-soak.md`);
  const heading = existsSync(file)
    ? ''
    : '# bosun soak\n\n' +
      'Rerun with `npm run soak` (SOAK_MS, default 600000). bosun runs as a child process (own database file, own instance id, ' +
      `loopback) against the real Docker engine with MAX_CONCURRENT_AGENTS ${MAX_CONCURRENT_AGENTS}: short runs started and ` +
      'cancelled (queued and running), graphql-ws and SSE subscribers joining and leaving, raw sockets that subscribe and never read, ' +
      'log-heavy runs of 300 MB. Heap = V8 heapUsed after a forced full GC (the child runs with --expose-gc), sampled every 2 s; ' +
      'the post-warm-up level is the median over 20-30 % of the duration, the end level the median over its last 10 %. /health is ' +
      "probed every 250 ms; probes overlapping the soak's own forced GC are left out of the criterion and shown apart. Each run appends a section.\n";
  const section = [
    `\n## ${startedIso} — ${soakMs / 1000} s${profileDir === undefined ? '' : ' (profiled: CPU and heap profilers on, latencies not comparable)'}`,
    '',
    `- node ${process.version}, Docker engine ${await dockerVersion()}, ${availableParallelism()} CPUs, bosun commit ${commitAtStart}`,
    `- load average at start ${loadAtStart}, at end ${loadAtEnd} (a shared machine)`,
    ...notes.map((note) => `- ${note}`),
    '',
    table,
    '',
  ].join('\n');
  appendFileSync(file, heading + section);
  console.log(`\nwritten to ${file}`);

  const misses = verdicts.filter((v) => !v.pass);
  for (const miss of misses) console.error(`MISS: ${miss.criterion}: ${miss.measured} (target ${miss.target})`);
  return misses.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
