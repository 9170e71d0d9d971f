/**
 * Several holders pausing one node's share of the line, each for its own reason: the engine
 * guard (its Docker engine does not answer), the cluster node's fence (it is unsure of its lease,
 * or its store is DEGRADED) and shutdown. The share is paused while any holder holds it, and
 * resumed only once none does: a holder lifting its own hold never lifts another's (the engine
 * coming back while the node is fenced must not let it take runs).
 *
 * Each holder sees the share as it always did, a `pause()` / `resume()` of its own
 * ({@link PauseHolds.holder}): the guard and shutdown need not know of the others.
 *
 * Changes are made one at a time, in call order. When nothing is under way the share's own
 * pause or resume is called inside the call, as before: the in-process queue pauses before the
 * call returns, which the engine guard relies on when a run that lost the engine is ending. A
 * change whose pause or resume fails is undone (the holder's hold is as before the call) and the
 * call rejects with the share's error: the holder tries again as it would have without holds.
 */
import type { ExecutionQueue } from './execution-queue.js';

/** What a holder is given: the share's pause and resume, for its own reason only. */
export type PauseHolder = Pick<ExecutionQueue, 'pause' | 'resume'>;

export class PauseHolds {
  readonly #reasons = new Set<string>();
  /** Whether the share is paused, as this last made it (it starts running). */
  #paused = false;
  /** The change under way, if any: later ones run after it. */
  #tail: Promise<void> | undefined;

  /** @param share the node's share of the line (`backends.nodeQueue`): its pause and resume are idempotent. */
  constructor(private readonly share: PauseHolder) {}

  /** True while any holder holds the share paused. */
  get paused(): boolean {
    return this.#reasons.size > 0;
  }

  /** The reasons held now, in the order they were taken. */
  get reasons(): readonly string[] {
    return [...this.#reasons];
  }

  /** Holds the share paused for `reason` (again: no change). Resolves once it is paused. */
  pause(reason: string): Promise<void> {
    return this.#change(reason, true);
  }

  /** Lifts `reason`'s hold; the share resumes only if no other reason holds it. */
  resume(reason: string): Promise<void> {
    return this.#change(reason, false);
  }

  /** `reason`'s view of the share: pause and resume holding and lifting only its own hold. */
  holder(reason: string): PauseHolder {
    return { pause: () => this.pause(reason), resume: () => this.resume(reason) };
  }

  #change(reason: string, hold: boolean): Promise<void> {
    const apply = (): Promise<void> => this.#apply(reason, hold);
    const run = this.#tail === undefined ? apply() : this.#tail.then(apply);
    // The next change waits for this one, whether it failed or not.
    const tail = run.catch(() => undefined);
    this.#tail = tail;
    void tail.then(() => {
      if (this.#tail === tail) this.#tail = undefined;
    });
    return run;
  }

  /** Called when no other change is under way; its share call is made before its first await. */
  async #apply(reason: string, hold: boolean): Promise<void> {
    const held = this.#reasons.has(reason);
    if (hold) this.#reasons.add(reason);
    else this.#reasons.delete(reason);
    const paused = this.#reasons.size > 0;
    if (paused === this.#paused) return;
    try {
      await (paused ? this.share.pause() : this.share.resume());
    } catch (error) {
      if (held) this.#reasons.add(reason);
      else this.#reasons.delete(reason);
      throw error;
    }
    this.#paused = paused;
  }
}
