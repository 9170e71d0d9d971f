/**
 * The live external sessions, by run id: where the external agent puts its run's session while
 * it runs, and where the API finds it ({@link ExternalRunService}). One instance, owned by the
 * composition root and shared by the two; no module-level state.
 *
 * A run goes through three entries here: `setting-up` from the moment its agent starts (its
 * set-up steps run), `open` with its {@link ExternalSession} once they succeeded, and `ended`
 * once the agent returns, kept until the run has its final status (so that a late call is told
 * why at once). Anyone may wait for the next change of a run's entry, e.g. a call that came
 * during the set-up.
 */
import type { ExternalSession } from './external-session.js';

export type SessionEntry =
  | { readonly state: 'setting-up' }
  | { readonly state: 'open'; readonly session: ExternalSession }
  | { readonly state: 'ended'; readonly session: ExternalSession | null };

/** The agent's hold on its run's entry. */
export interface SessionRegistration extends Disposable {
  /** The set-up is over: calls reach `session` from now on. */
  open(session: ExternalSession): void;
}

export class ExternalSessions {
  private readonly entries = new Map<string, SessionEntry>();
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Registers a run whose external agent has started (its set-up runs). Disposing it marks the entry `ended`. */
  begin(runId: string): SessionRegistration {
    this.set(runId, { state: 'setting-up' });
    let session: ExternalSession | null = null;
    return {
      open: (opened) => {
        session = opened;
        this.set(runId, { state: 'open', session: opened });
      },
      [Symbol.dispose]: () => {
        session?.close();
        if (this.entries.has(runId)) this.set(runId, { state: 'ended', session });
      },
    };
  }

  get(runId: string): SessionEntry | undefined {
    return this.entries.get(runId);
  }

  /** The open session of a run, if it has one. */
  openSession(runId: string): ExternalSession | undefined {
    const entry = this.entries.get(runId);
    return entry?.state === 'open' && entry.session.isOpen ? entry.session : undefined;
  }

  /** The run has its final status: its entry goes, and whoever waits on it wakes. */
  runEnded(runId: string): void {
    const entry = this.entries.get(runId);
    if (entry?.state === 'open') entry.session.close();
    this.entries.delete(runId);
    this.wake(runId);
  }

  /**
   * Resolves at the next change of the run's entry (or at its final status).
   * @throws the signal's reason when it aborts first.
   */
  nextChange(runId: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const waiters = this.waiters.get(runId) ?? new Set<() => void>();
      this.waiters.set(runId, waiters);
      const onAbort = (): void => {
        remove();
        reject(signal!.reason as Error);
      };
      const wake = (): void => {
        remove();
        resolve();
      };
      const remove = (): void => {
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(wake);
        if (waiters.size === 0 && this.waiters.get(runId) === waiters) this.waiters.delete(runId);
      };
      waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs with an entry. */
  get size(): number {
    return this.entries.size;
  }

  /** Calls waiting for a change, all runs together (for tests: none may be left behind). */
  get waiting(): number {
    let total = 0;
    for (const waiters of this.waiters.values()) total += waiters.size;
    return total;
  }

  private set(runId: string, entry: SessionEntry): void {
    this.entries.set(runId, entry);
    this.wake(runId);
  }

  private wake(runId: string): void {
    const waiters = this.waiters.get(runId);
    if (!waiters) return;
    for (const wake of [...waiters]) wake();
  }
}
