/**
 * Change notification for the PostgreSQL store's {@link Store.watch}: this store's own commits
 * notify at once; every writer's commits (any process) arrive through LISTEN on the schema's
 * channel, on one dedicated connection opened at the first `watch` and kept until `close`
 * (watchers come and go, e.g. one per long poll: a connection each would cost far more).
 */
import type pg from 'pg';

/** How long to wait before reconnecting a lost LISTEN connection. */
const RECONNECT_MS = 1000;

/** Listeners, plus the LISTEN connection that feeds them. */
export class PgChangeListener {
  private readonly listeners = new Set<() => void>();
  private client: pg.Client | undefined;
  private starting: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  /**
   * @param connect makes (does not connect) a new client for the LISTEN connection.
   * @param channel the channel, quoted for LISTEN.
   * @param warn told when the connection fails or is lost (it is re-made while anyone listens).
   */
  constructor(
    private readonly connect: () => pg.Client,
    private readonly channel: string,
    private readonly warn: (err: unknown) => void,
  ) {}

  /** Add a listener, opening the LISTEN connection if needed; returns its unsubscribe. */
  add(listener: () => void): () => void {
    // Wrap so the same function can be subscribed twice and each unsubscribe removes one.
    const entry = (): void => listener();
    this.listeners.add(entry);
    this.listening().catch(() => undefined); // failures are warned about and retried
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Resolves once the LISTEN connection is up (opening it if needed); rejects if that fails. */
  listening(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    this.starting ??= this.start().catch((err: unknown) => {
      this.starting = undefined;
      this.lost(err);
      throw err;
    });
    return this.starting;
  }

  /** Tell every listener that state may have changed. A throwing listener does not stop the rest. */
  notify(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (err) {
        // A listener's bug must not fail the write that already committed; make it visible.
        process.emitWarning(`ascend store watch listener threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Drop every listener and end the LISTEN connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    if (this.retry !== undefined) clearTimeout(this.retry);
    await this.starting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined; // before end(): its 'end' event is then not taken for a loss
    if (!client) return;
    // The socket was unref'd so listening never keeps a process alive; ending it must: otherwise
    // a process with nothing else to do exits before the goodbye is answered, and the awaited
    // close() never settles (`ascend serve` on PostgreSQL then exited 13 after SIGTERM).
    setSocketRef(client, true);
    await client.end().catch(() => undefined);
  }

  private async start(): Promise<void> {
    const client = this.connect();
    client.on('notification', () => this.notify());
    client.on('error', (err) => this.dropped(client, err));
    client.on('end', () => this.dropped(client, new Error('the LISTEN connection ended')));
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (err) {
      if (this.client === client) this.client = undefined; // before end(): not a second loss
      client.end().catch(() => undefined);
      throw err;
    }
    unrefSocket(client);
    // Whatever was committed before LISTEN took effect went unheard: say state may have changed.
    this.notify();
  }

  private dropped(client: pg.Client, err: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.starting = undefined;
    client.end().catch(() => undefined);
    this.lost(err);
  }

  /** Warn and, while anyone listens, reconnect after a pause. */
  private lost(err: unknown): void {
    if (this.closed) return;
    this.warn(err);
    if (this.retry !== undefined || this.listeners.size === 0) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.closed && this.listeners.size > 0) this.listening().catch(() => undefined);
    }, RECONNECT_MS);
    this.retry.unref();
  }
}

/**
 * Let the process exit while only this connection is open (as SQLite's unref'd poll timer
 * does): pg keeps its socket on the (untyped) `connection.stream`.
 */
function unrefSocket(client: pg.Client): void {
  setSocketRef(client, false);
}

/** Whether the client's socket keeps the process alive (pg gives no public way to say so). */
function setSocketRef(client: pg.Client, ref: boolean): void {
  const stream = (client as unknown as { connection?: { stream?: { ref?: () => void; unref?: () => void } } }).connection?.stream;
  if (ref) stream?.ref?.();
  else stream?.unref?.();
}
