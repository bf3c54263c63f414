/**
 * Log destinations that can lose lines but never hold up the process. A log sink that stops
 * draining (a stderr pipe nobody reads) or breaks (its reader is gone) must not block a request,
 * keep a stopping process alive, or spin at exit: lines it cannot take now are held up to a bound,
 * then dropped and counted.
 */
import fs from 'node:fs';
import type { DestinationStream } from 'pino';
import { stdioTarget, type StdioTarget } from './stdio-nonblocking.js';

const NEWLINE = Buffer.from('\n');

/** A pino destination that counts the lines it had to drop. */
export interface CountingDestination extends DestinationStream {
  /** Lines lost because the sink failed or could not keep up. */
  readonly droppedLines: number;
  /** Try to hand over what is held; `done` runs once it is, or after a bounded wait. */
  flush(done?: (err?: Error) => void): void;
  /** One non-blocking attempt to hand over what is held (pino calls it on `fatal`). */
  flushSync(): void;
}

/** Options of {@link FdLogSink}. */
export interface FdLogSinkOptions {
  /** 1 (stdout) or 2 (stderr, the default). */
  fd?: 1 | 2;
  /** Bytes held while the descriptor takes nothing; further lines are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** How often a descriptor that took nothing is tried again. Default 50. */
  retryIntervalMs?: number;
  /** Longest `flush` keeps the process alive waiting for the descriptor. Default 1000. */
  flushTimeoutMs?: number;
}

/** Errors after which the descriptor will never take a line again. */
const BROKEN = new Set(['EPIPE', 'EBADF', 'EINVAL', 'ECONNRESET', 'ENOTCONN', 'EDESTADDRREQ']);
/** Errors that mean "not now". */
const BUSY = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR']);

/** Sinks holding lines, for one last non-blocking attempt when the process exits. */
const holding = new Set<FdLogSink>();
let exitHookInstalled = false;

/**
 * Writes lines straight to stdout's or stderr's descriptor without ever waiting on it.
 *
 * A pipe or socket is written in non-blocking mode (see {@link stdioTarget}), so a full pipe
 * answers EAGAIN: the line is then held (up to `maxBufferedBytes`) and retried by an unref'd
 * timer, which never keeps the process alive. A broken pipe (EPIPE) drops every line from then
 * on. Files and terminals are written as Node writes them.
 */
export class FdLogSink implements CountingDestination {
  private readonly target: StdioTarget;
  private readonly maxBufferedBytes: number;
  private readonly retryIntervalMs: number;
  private readonly flushTimeoutMs: number;
  /** Held lines; the first may be partly written already (`headOffset` bytes). */
  private readonly queue: Buffer[] = [];
  private headOffset = 0;
  private queuedBytes = 0;
  private broken = false;
  private dropped = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(options: FdLogSinkOptions = {}) {
    this.target = stdioTarget(options.fd ?? 2);
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.retryIntervalMs = options.retryIntervalMs ?? 50;
    this.flushTimeoutMs = options.flushTimeoutMs ?? 1000;
  }

  get droppedLines(): number {
    return this.dropped;
  }

  write(line: string): boolean {
    if (this.broken) {
      this.dropped++;
      return true;
    }
    const bytes = Buffer.from(line);
    if (this.queue.length === 0) {
      const written = this.target.ready() ? this.writeNow(bytes) : 0;
      if (written === undefined) {
        this.dropped++;
        return true;
      }
      if (written === bytes.length) return true;
      if (bytes.length - written > this.maxBufferedBytes) {
        // Larger than the whole buffer: the part already written stays cut short, and ends with a
        // newline so the next line is not glued onto it.
        this.dropped++;
        if (written > 0) this.hold(NEWLINE, 0);
        return true;
      }
      this.hold(bytes, written);
      return true;
    }
    if (this.queuedBytes + bytes.length > this.maxBufferedBytes) {
      this.dropped++;
      return true;
    }
    this.hold(bytes, 0);
    this.drain();
    return true;
  }

  flush(done?: (err?: Error) => void): void {
    this.drain();
    if (this.queue.length === 0) {
      done?.();
      return;
    }
    // Keep the process alive a little while for a slow reader, never longer than flushTimeoutMs.
    const deadline = Date.now() + this.flushTimeoutMs;
    const poll = (): void => {
      this.drain();
      if (this.queue.length === 0 || Date.now() >= deadline) done?.();
      else setTimeout(poll, Math.min(this.retryIntervalMs, Math.max(1, deadline - Date.now())));
    };
    setTimeout(poll, this.retryIntervalMs);
  }

  flushSync(): void {
    this.drain();
  }

  private hold(bytes: Buffer, alreadyWritten: number): void {
    this.queue.push(bytes);
    if (this.queue.length === 1) this.headOffset = alreadyWritten;
    this.queuedBytes += bytes.length - alreadyWritten;
    holding.add(this);
    installExitHook();
    this.scheduleRetry();
  }

  /** Hand over held lines until the descriptor takes no more. Never waits. */
  private drain(): void {
    if (this.queue.length > 0 && !this.target.ready()) {
      this.scheduleRetry();
      return;
    }
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const chunk = this.headOffset > 0 ? head.subarray(this.headOffset) : head;
      const written = this.writeNow(chunk);
      if (written === undefined) return; // dropped with the rest (see fail)
      this.queuedBytes -= written;
      if (written < chunk.length) {
        this.headOffset += written;
        this.scheduleRetry();
        return;
      }
      this.queue.shift();
      this.headOffset = 0;
    }
    holding.delete(this);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Bytes written (0 when the descriptor is busy), or undefined when the line is lost. */
  private writeNow(bytes: Buffer): number | undefined {
    try {
      return fs.writeSync(this.target.fd, bytes);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (BUSY.has(code)) return 0;
      this.fail(BROKEN.has(code));
      return undefined;
    }
  }

  /** The descriptor failed: what is held is lost; if it can never recover, so is every later line. */
  private fail(forever: boolean): void {
    this.dropped += this.queue.length;
    this.queue.length = 0;
    this.headOffset = 0;
    this.queuedBytes = 0;
    holding.delete(this);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (forever) this.broken = true;
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.broken) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.drain();
    }, this.retryIntervalMs);
    this.retryTimer.unref();
  }

  /** @internal At exit: one last attempt, never a wait. What the descriptor does not take is counted lost. */
  lastAttempt(): void {
    this.drain();
    this.dropped += this.queue.length;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const sink of holding) sink.lastAttempt();
  });
}

/**
 * Guards a destination someone else supplied (`logDestination`): a write that throws loses that
 * line instead of failing the call that logged it, and a Node stream that has stopped draining
 * loses lines beyond `maxBufferedBytes` instead of growing without end.
 */
export class GuardedDestination implements CountingDestination {
  private dropped = 0;

  constructor(
    private readonly inner: DestinationStream & { writableLength?: number; flush?: (done: (err?: Error) => void) => void },
    private readonly maxBufferedBytes = 1024 * 1024,
  ) {}

  get droppedLines(): number {
    return this.dropped;
  }

  write(line: string): boolean {
    if (typeof this.inner.writableLength === 'number' && this.inner.writableLength > this.maxBufferedBytes) {
      this.dropped++;
      return true;
    }
    try {
      this.inner.write(line);
    } catch {
      this.dropped++;
    }
    return true;
  }

  flush(done?: (err?: Error) => void): void {
    if (typeof this.inner.flush === 'function') this.inner.flush(done ?? (() => undefined));
    else done?.();
  }

  flushSync(): void {
    // Deliberately nothing: a supplied stream's synchronous flush may wait forever on its sink.
  }
}
