/**
 * Change notification for {@link Store.watch}: this process's commits notify at once; other
 * processes' commits are noticed by polling a cheap "has the file changed" probe (SQLite's
 * `PRAGMA data_version`), on an unref'd timer that runs only while someone is listening.
 */

/** Notifies listeners of own commits at once and of foreign commits by polling. */
export class ChangeNotifier {
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private lastVersion: number | undefined;

  /**
   * @param pollIntervalMs how often to probe for other connections' commits.
   * @param probe returns a number that changes when another connection commits
   *   (`PRAGMA data_version`); may throw, in which case the poll is skipped.
   */
  constructor(
    private readonly pollIntervalMs: number,
    private readonly probe: () => number,
  ) {}

  /** Number of listeners. */
  get size(): number {
    return this.listeners.size;
  }

  /** Add a listener; returns its unsubscribe function. */
  add(listener: () => void): () => void {
    // Wrap so the same function can be subscribed twice and each unsubscribe removes one.
    const entry = (): void => listener();
    this.listeners.add(entry);
    if (this.timer === undefined) this.start();
    return () => {
      this.listeners.delete(entry);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Tell every listener that state may have changed. A throwing listener does not stop the rest. */
  notify(): void {
    if (this.listeners.size === 0) return;
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (err) {
        // A listener's bug must not fail the write that already committed; make it visible.
        process.emitWarning(`ascend store watch listener threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Stop polling and drop all listeners. */
  close(): void {
    this.listeners.clear();
    this.stop();
  }

  private start(): void {
    this.lastVersion = this.safeProbe();
    this.timer = setInterval(() => this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private poll(): void {
    const version = this.safeProbe();
    if (version === undefined || version === this.lastVersion) return;
    this.lastVersion = version;
    this.notify();
  }

  private safeProbe(): number | undefined {
    try {
      return this.probe();
    } catch {
      return undefined; // the store may be closing; the next tick (or close) settles it
    }
  }
}
