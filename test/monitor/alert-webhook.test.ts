import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AlertWebhook, signWebhookBody, type AlertWebhookOptions, type AlertWebhookPayload } from '../../src/monitor/alert-webhook.js';
import type { Logger } from '../../src/logger.js';
import type { HealthAlert } from '../../src/monitor/monitor-types.js';
import { fakeMonitorLogger } from './fake-monitor-logger.js';

const SECRET = 'shh-its-a-secret';

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A webhook receiver on 127.0.0.1:0; `answer` decides each response (by 1-based request number). */
async function startReceiver(answer: (n: number, res: ServerResponse) => void) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(received.length, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  servers.push(server);
  return { url: `http://127.0.0.1:${port}/hooks/bosun`, received };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** What a receiver does: recompute the HMAC of the raw body and compare in constant time. */
function verify(received: Received, secret: string): boolean {
  const header = received.headers['x-bosun-signature'];
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(received.body).digest('hex')}`);
  const actual = Buffer.from(header);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function alert(overrides: Partial<HealthAlert> = {}): HealthAlert {
  return {
    id: 'alert-1',
    level: 'CRITICAL',
    metric: 'CPU',
    value: 97.2,
    threshold: 90,
    containerId: 'c1',
    runId: 'run-1',
    at: new Date('2026-01-01T00:00:00Z'),
    message: 'CPU at 97.2% ≥ critical 90% for 2 samples',
    resolvedAt: null,
    ...overrides,
  };
}

function webhook(url: string, logger: Pick<Logger, 'info' | 'warn'>, overrides: Partial<AlertWebhookOptions> = {}) {
  return new AlertWebhook({ url, secret: SECRET, logger, retryBaseDelayMs: 5, timeoutMs: 2_000, ...overrides });
}

const ok = (_n: number, res: ServerResponse) => res.writeHead(204).end();

describe('AlertWebhook', () => {
  it('POSTs a CRITICAL alert as signed JSON that a receiver can verify', async () => {
    const { url, received } = await startReceiver(ok);
    const logger = fakeMonitorLogger();
    const hook = webhook(url, logger, { now: () => new Date('2026-01-01T00:00:05Z') });

    expect(hook.notify(alert())).toBe(true);
    await hook.close();

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(verify(request!, SECRET)).toBe(true);
    expect(verify(request!, 'another secret')).toBe(false);
    expect(request!.headers['x-bosun-signature']).toBe(signWebhookBody(request!.body, SECRET));
    expect(request!.headers['x-bosun-timestamp']).toBe(String(Date.parse('2026-01-01T00:00:05Z') / 1000));
    expect(request!.headers['content-type']).toBe('application/json');
    const payload = JSON.parse(request!.body) as AlertWebhookPayload;
    expect(payload).toMatchObject({
      event: 'alert.raised',
      sentAt: '2026-01-01T00:00:05.000Z',
      alert: { id: 'alert-1', agentId: 'run-1', level: 'CRITICAL', metric: 'CPU', at: '2026-01-01T00:00:00.000Z', resolvedAt: null },
    });
    expect(request!.headers['x-bosun-delivery']).toBe(payload.deliveryId);
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('posts the recovery too, after its alert, and ignores WARNING alerts', async () => {
    const { url, received } = await startReceiver(ok);
    const hook = webhook(url, fakeMonitorLogger());
    expect(hook.notify(alert({ level: 'WARNING', id: 'w' }))).toBe(false);
    hook.notify(alert());
    hook.notify(alert({ resolvedAt: new Date('2026-01-01T00:01:00Z') }));
    await hook.close();
    const payloads = received.map((r) => JSON.parse(r.body) as AlertWebhookPayload);
    expect(payloads.map((p) => [p.event, p.alert.id])).toEqual([
      ['alert.raised', 'alert-1'],
      ['alert.resolved', 'alert-1'],
    ]);
    expect(payloads[1]!.alert.resolvedAt).toBe('2026-01-01T00:01:00.000Z');
  });

  it('never blocks the caller', async () => {
    const { url, received } = await startReceiver(ok);
    const hook = webhook(url, fakeMonitorLogger());
    hook.notify(alert());
    expect(received).toHaveLength(0);
    expect(hook.pendingCount).toBe(1);
    await hook.close();
    expect(hook.pendingCount).toBe(0);
  });

  it('sends no signature without a secret', async () => {
    const { url, received } = await startReceiver(ok);
    const hook = webhook(url, fakeMonitorLogger(), { secret: undefined });
    hook.notify(alert());
    await hook.close();
    expect(received[0]!.headers['x-bosun-signature']).toBeUndefined();
    expect(received[0]!.headers['x-bosun-timestamp']).toMatch(/^\d+$/);
  });

  it('when the receiver answers 500 twice, the third try lands', async () => {
    const { url, received } = await startReceiver((n, res) => res.writeHead(n <= 2 ? 500 : 200).end());
    const logger = fakeMonitorLogger();
    const hook = webhook(url, logger);
    hook.notify(alert());
    await hook.close();
    expect(received).toHaveLength(3);
    // The same delivery each time: same body, same signature, same delivery id.
    expect(new Set(received.map((r) => r.body)).size).toBe(1);
    expect(received.every((r) => verify(r, SECRET))).toBe(true);
    expect(logger.warn).not.toHaveBeenCalled();
    expect(logger.info).toHaveBeenCalledWith(expect.objectContaining({ attempt: 3 }), 'alert webhook delivered after retry');
  });

  it('when the receiver always fails, makes exactly 3 tries with growing backoff and logs the failure', async () => {
    const { url, received } = await startReceiver((_n, res) => res.writeHead(503).end());
    const logger = fakeMonitorLogger();
    const hook = webhook(url, logger, { retryBaseDelayMs: 20 });
    const started = Date.now();
    hook.notify(alert());
    await hook.close();
    expect(received).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(20 + 40 - 5);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ alertId: 'alert-1', attempts: 3, error: 'HTTP 503' }),
      'alert webhook delivery failed',
    );
    // The logged webhook is the origin only: a path may carry a token.
    expect(JSON.stringify(logger.warn.mock.calls)).not.toContain('/hooks/bosun');
  });

  it('does not retry an answer that will not change (400)', async () => {
    const { url, received } = await startReceiver((_n, res) => res.writeHead(400).end());
    const logger = fakeMonitorLogger();
    const hook = webhook(url, logger);
    hook.notify(alert());
    await hook.close();
    expect(received).toHaveLength(1);
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ attempts: 1, error: 'HTTP 400' }), expect.any(String));
  });

  it('times out each try', async () => {
    const { url, received } = await startReceiver(() => {
      /* never answers */
    });
    const logger = fakeMonitorLogger();
    const hook = webhook(url, logger, { timeoutMs: 50 });
    hook.notify(alert());
    await hook.close();
    expect(received).toHaveLength(3);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ attempts: 3, error: 'no answer within 50 ms' }),
      'alert webhook delivery failed',
    );
  });

  it('close(signal) drops what is pending once the signal aborts', async () => {
    const { url, received } = await startReceiver(() => {
      /* never answers */
    });
    const logger = fakeMonitorLogger();
    const hook = webhook(url, logger, { timeoutMs: 60_000 });
    hook.notify(alert({ id: 'a' }));
    hook.notify(alert({ id: 'b' }));
    await vi.waitFor(() => expect(received).toHaveLength(1));
    const started = Date.now();
    await hook.close(AbortSignal.timeout(50));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(received).toHaveLength(1);
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ alertId: 'a', attempts: 1 }), 'alert webhook delivery failed');
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ dropped: 1 }), 'alert webhook closed: pending alerts dropped');
    expect(hook.notify(alert({ id: 'c' }))).toBe(false);
  });

  it('drops alerts beyond the backlog with a warning', async () => {
    const { url } = await startReceiver(ok);
    const logger = fakeMonitorLogger();
    const hook = webhook(url, logger, { maxPending: 1 });
    expect(hook.notify(alert({ id: 'a' }))).toBe(true);
    expect(hook.notify(alert({ id: 'b' }))).toBe(false);
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ alertId: 'b' }), 'alert webhook backlog full: alert dropped');
    await hook.close();
  });

  it('validates its options eagerly', () => {
    expect(() => webhook('ftp://example.com', fakeMonitorLogger())).toThrow('Expected an http:// or https:// webhook URL, got "ftp://example.com"');
    expect(() => webhook('http://example.com', fakeMonitorLogger(), { maxAttempts: 0 })).toThrow(
      'Expected maxAttempts to be an integer of at least 1, got 0',
    );
  });
});
