/**
 * An in-process lock per key: callers holding overlapping keys take turns, in arrival order.
 * The decision point holds the budgets a call draws on from reading their use until the
 * decision is recorded, so two calls in one process never both take the last unit.
 */

/** Locks by key. Holding none costs nothing: an uncontended acquire settles at once. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Hold `keys` once every earlier holder of any of them has released; call the result to
   * release. Uncontended, the release comes back at once (no promise to wait for: this is on
   * the hot path of every call under a budget).
   */
  acquire(keys: readonly string[]): (() => void) | Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let waits: Promise<void>[] | undefined;
    for (const key of keys) {
      const tail = this.tails.get(key);
      if (tail !== undefined) (waits ??= []).push(tail);
      this.tails.set(key, held);
    }
    const done = (): void => {
      release();
      for (const key of keys) if (this.tails.get(key) === held) this.tails.delete(key);
    };
    return waits === undefined ? done : Promise.all(waits).then(() => done);
  }
}
