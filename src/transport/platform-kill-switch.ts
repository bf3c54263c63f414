/**
 * The platform's kill switch, read every few seconds (`GET /api/sdk/kill-switch/status`). On:
 * every call is denied before it is submitted. Read wrong several times in a row: unknown, and a
 * call fails as if the platform were unreachable — the client's fail mode then decides, so in
 * fail-closed mode nothing runs while nobody can say the switch is off.
 */
import type { Logger } from 'pino';
import { ConnectionError } from '../core/errors.js';

/** The switch as last read. */
export interface KillSwitchState {
  active: boolean;
  reason?: string;
}

/** Options of {@link KillSwitchWatch}. */
export interface KillSwitchWatchOptions {
  /** One read of the status (the platform's answer body). */
  read: () => Promise<Record<string, unknown>>;
  pollMs: number;
  /** Failed reads in a row after which the state is unknown. */
  maxFailures: number;
  logger?: Logger;
}

/** Polls the kill switch while the client lives. */
export class KillSwitchWatch {
  private last: KillSwitchState | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private first: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: KillSwitchWatchOptions) {}

  /**
   * The switch now: read at once the first time (later reads run in the background). Throws
   * ConnectionError when it is unknown (`maxFailures` failed reads in a row, or the first read failed).
   */
  async state(): Promise<KillSwitchState> {
    if (this.first === undefined) {
      this.first = this.poll();
      this.schedule();
    }
    await this.first;
    if (this.failures >= this.options.maxFailures || this.last === undefined) {
      throw new ConnectionError(`The platform's kill switch could not be read (${this.failures} failed reads in a row); a call cannot be known to be allowed to run`);
    }
    return this.last;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedule());
    }, this.options.pollMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    try {
      const body = await this.options.read();
      const active = body.active ?? body.is_active;
      if (typeof active !== 'boolean') throw new Error(`the answer has no active flag: ${JSON.stringify(body).slice(0, 200)}`);
      const was = this.last?.active;
      this.last = { active, ...(typeof body.reason === 'string' ? { reason: body.reason } : {}) };
      this.failures = 0;
      if (was !== active && active) this.options.logger?.error({ reason: this.last.reason }, "the platform's kill switch is on: every call is denied");
      if (was === true && !active) this.options.logger?.warn("the platform's kill switch is off again");
    } catch (err) {
      this.failures++;
      this.options.logger?.warn({ failures: this.failures, err: { message: err instanceof Error ? err.message : String(err) } }, "could not read the platform's kill switch");
    }
  }
}
