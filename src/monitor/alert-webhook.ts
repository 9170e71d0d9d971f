/**
 * Delivers CRITICAL alerts, and their resolutions, to an HTTP endpoint as signed JSON.
 *
 * Each delivery is one POST of a JSON {@link AlertWebhookPayload}, with headers
 * - `X-Bosun-Timestamp`: Unix seconds when the delivery was made (the body's `sentAt`);
 * - `X-Bosun-Signature: sha256=<hex>`: HMAC-SHA256 of the raw body under the secret, when one is set;
 * - `X-Bosun-Delivery`: the delivery id, the same on every try, for receivers that deduplicate.
 *
 * A delivery gets `maxAttempts` tries in all (default 3), with exponential backoff between them
 * (`retryBaseDelayMs` × 2^(try − 1)) and a timeout per try. A 2xx answer delivers it; network
 * errors, timeouts, 408, 429 and 5xx are retried; other answers are final. {@link AlertWebhook.notify}
 * never waits: deliveries go out one after another from an internal queue, in the order the alerts
 * came (a resolution never overtakes its alert), and failures only reach the logger.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { InvalidValueError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { delay, withDeadline } from '../shared/deadline.js';
import { checkInteger } from '../shared/validate.js';
import type { HealthAlert } from './monitor-types.js';

export const SIGNATURE_HEADER = 'X-Bosun-Signature';
export const TIMESTAMP_HEADER = 'X-Bosun-Timestamp';
export const DELIVERY_HEADER = 'X-Bosun-Delivery';

/** Something told about every alert the monitor publishes; it decides what to pass on. */
export interface AlertNotifier {
  /** Takes an alert without waiting; returns whether it was accepted for delivery. */
  notify(alert: HealthAlert): boolean;
  /** Stops taking alerts and waits for pending deliveries; when `signal` aborts, drops them instead. */
  close(signal?: AbortSignal): Promise<void>;
}

/** The JSON body of a webhook delivery. Dates are ISO 8601 strings. */
export interface AlertWebhookPayload {
  readonly event: 'alert.raised' | 'alert.resolved';
  readonly deliveryId: string;
  readonly sentAt: string;
  readonly alert: {
    readonly id: string;
    readonly level: HealthAlert['level'];
    readonly metric: HealthAlert['metric'];
    readonly value: number;
    readonly threshold: number;
    readonly containerId: string;
    /** The run's id, named as in the GraphQL API (receivers depend on this name). */
    readonly agentId: string | null;
    readonly at: string;
    readonly message: string;
    readonly resolvedAt: string | null;
  };
}

export interface AlertWebhookOptions {
  /** An http:// or https:// URL. */
  readonly url: string;
  /** Signs each body when set. */
  readonly secret?: string | undefined;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  /** Tries in all per delivery. Default 3. */
  readonly maxAttempts?: number;
  /** Backoff before try n + 1 is `retryBaseDelayMs × 2^(n − 1)`. Default 1,000. */
  readonly retryBaseDelayMs?: number;
  /** Per try. Default 5,000. */
  readonly timeoutMs?: number;
  /** Deliveries waiting beyond the one in flight; more are dropped with a warning. Default 100. */
  readonly maxPending?: number;
  readonly now?: () => Date;
}

/** `sha256=<hex>`: the HMAC-SHA256 of `body` under `secret`, as sent in {@link SIGNATURE_HEADER}. */
export function signWebhookBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** Whether an alert goes to the webhook: CRITICAL ones, raised or resolved. */
export function isWebhookAlert(alert: HealthAlert): boolean {
  return alert.level === 'CRITICAL';
}

interface Delivery {
  readonly id: string;
  readonly alertId: string;
  readonly body: string;
  readonly timestampSeconds: string;
}

type TryOutcome = { readonly ok: true } | { readonly ok: false; readonly retry: boolean; readonly error: string };

export class AlertWebhook implements AlertNotifier {
  private readonly url: URL;
  private readonly secret: string | undefined;
  private readonly logger: Pick<Logger, 'info' | 'warn'>;
  private readonly maxAttempts: number;
  private readonly retryBaseDelayMs: number;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private readonly now: () => Date;
  private readonly pending: Delivery[] = [];
  /** Aborts the try in flight and every backoff: close() with an aborted signal. */
  private readonly dropAll = new AbortController();
  private draining: Promise<void> | null = null;
  private inFlight = false;
  private closed = false;

  /** @throws InvalidValueError for a URL that is not http(s) or bad counts. */
  constructor(options: AlertWebhookOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new InvalidValueError('an http:// or https:// webhook URL', options.url);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new InvalidValueError('an http:// or https:// webhook URL', options.url);
    }
    if (options.secret !== undefined && options.secret === '') {
      throw new InvalidValueError('a non-empty webhook secret or none', options.secret);
    }
    this.url = url;
    this.secret = options.secret;
    this.logger = options.logger;
    this.maxAttempts = checkInteger('maxAttempts', options.maxAttempts ?? 3, { min: 1 });
    this.retryBaseDelayMs = checkInteger('retryBaseDelayMs', options.retryBaseDelayMs ?? 1_000, { min: 0 });
    this.timeoutMs = checkInteger('timeoutMs', options.timeoutMs ?? 5_000, { min: 1 });
    this.maxPending = checkInteger('maxPending', options.maxPending ?? 100, { min: 1 });
    this.now = options.now ?? (() => new Date());
  }

  /** Deliveries accepted and not yet settled (including the one in flight). */
  get pendingCount(): number {
    return this.pending.length + (this.inFlight ? 1 : 0);
  }

  /** Queues a CRITICAL alert (raised or resolved) for delivery; ignores the others. Never waits. */
  notify(alert: HealthAlert): boolean {
    if (!isWebhookAlert(alert)) return false;
    if (this.closed) {
      this.logger.warn({ alertId: alert.id, webhook: this.url.origin }, 'alert webhook closed: alert not delivered');
      return false;
    }
    if (this.pending.length >= this.maxPending) {
      this.logger.warn({ alertId: alert.id, webhook: this.url.origin, pending: this.pending.length }, 'alert webhook backlog full: alert dropped');
      return false;
    }
    const sentAt = this.now();
    const id = randomUUID();
    const payload: AlertWebhookPayload = {
      event: alert.resolvedAt === null ? 'alert.raised' : 'alert.resolved',
      deliveryId: id,
      sentAt: sentAt.toISOString(),
      alert: {
        id: alert.id,
        level: alert.level,
        metric: alert.metric,
        value: alert.value,
        threshold: alert.threshold,
        containerId: alert.containerId,
        agentId: alert.runId,
        at: alert.at.toISOString(),
        message: alert.message,
        resolvedAt: alert.resolvedAt?.toISOString() ?? null,
      },
    };
    this.pending.push({
      id,
      alertId: alert.id,
      body: JSON.stringify(payload),
      timestampSeconds: String(Math.floor(sentAt.getTime() / 1000)),
    });
    this.draining ??= this.drain();
    return true;
  }

  /**
   * Takes no more alerts and resolves once every pending delivery has settled. When `signal`
   * aborts first, the try in flight is aborted and the rest are dropped (with a warning).
   */
  async close(signal?: AbortSignal): Promise<void> {
    this.closed = true;
    const drop = (): void => this.dropAll.abort(new Error('alert webhook closed'));
    if (signal?.aborted) drop();
    signal?.addEventListener('abort', drop, { once: true });
    try {
      await this.draining;
    } finally {
      signal?.removeEventListener('abort', drop);
    }
  }

  private async drain(): Promise<void> {
    // Start on a later tick: notify() returns first, and `draining` is set before this can end.
    await Promise.resolve();
    try {
      for (let next = this.pending.shift(); next !== undefined; next = this.pending.shift()) {
        if (this.dropAll.signal.aborted) {
          this.logger.warn({ webhook: this.url.origin, dropped: this.pending.length + 1 }, 'alert webhook closed: pending alerts dropped');
          this.pending.length = 0;
          break;
        }
        this.inFlight = true;
        try {
          await this.deliver(next);
        } finally {
          this.inFlight = false;
        }
      }
    } finally {
      // No await between the last shift() and this line, so notify() never sees a stale `draining`.
      this.draining = null;
    }
  }

  private async deliver(delivery: Delivery): Promise<void> {
    const context = { alertId: delivery.alertId, deliveryId: delivery.id, webhook: this.url.origin };
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.tryOnce(delivery);
      if (outcome.ok) {
        if (attempt > 1) this.logger.info({ ...context, attempt }, 'alert webhook delivered after retry');
        return;
      }
      if (this.dropAll.signal.aborted || !outcome.retry || attempt >= this.maxAttempts) {
        this.logger.warn({ ...context, attempts: attempt, error: outcome.error }, 'alert webhook delivery failed');
        return;
      }
      const backoffMs = this.retryBaseDelayMs * 2 ** (attempt - 1);
      this.logger.info({ ...context, attempt, error: outcome.error, backoffMs }, 'alert webhook try failed: retrying');
      await delay(backoffMs, [this.dropAll.signal]);
    }
  }

  private async tryOnce(delivery: Delivery): Promise<TryOutcome> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'bosun-alert-webhook',
      [TIMESTAMP_HEADER]: delivery.timestampSeconds,
      [DELIVERY_HEADER]: delivery.id,
    };
    if (this.secret !== undefined) headers[SIGNATURE_HEADER] = signWebhookBody(delivery.body, this.secret);
    try {
      const status = await withDeadline(
        async (signal) => {
          const response = await fetch(this.url, { method: 'POST', headers, body: delivery.body, signal, redirect: 'error' });
          // The answer's body is of no interest; discarding it frees the connection.
          await response.body?.cancel().catch(() => undefined);
          return response.status;
        },
        {
          timeoutMs: this.timeoutMs,
          signal: this.dropAll.signal,
          onTimeout: () => new Error(`no answer within ${this.timeoutMs} ms`),
        },
      );
      if (status >= 200 && status < 300) return { ok: true };
      return { ok: false, retry: status >= 500 || status === 408 || status === 429, error: `HTTP ${status}` };
    } catch (error) {
      return { ok: false, retry: true, error: errorMessage(error) };
    }
  }
}
