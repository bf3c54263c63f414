/**
 * Keeping a server's policy in step with its database: a policy pushed there (`ascend policy
 * push`) is in force on every server using the database, ahead of their files. A server looks
 * for a newer one whenever the store reports a change (PostgreSQL: LISTEN/NOTIFY from any
 * replica; SQLite: within its poll interval), at most every {@link FOLLOW_INTERVAL_MS}, and only
 * ever moves forward: after it has seen a push it never decides with an older one.
 */
import type { Logger } from 'pino';
import { parsePolicy } from '../engine/index.js';
import type { LivePolicy } from '../policy/live.js';
import type { Store } from '../store/store.js';
import type { StoredPolicy } from '../core/types.js';

/** Least time between two looks at the database for a newer push. */
export const FOLLOW_INTERVAL_MS = 200;

/** The name a pushed policy's errors and decisions are reported under. */
export function pushedPolicyName(policy: Pick<StoredPolicy, 'id'>): string {
  return `<pushed policy #${policy.id}>`;
}

/** Follows the pushed policies of one store into one LivePolicy. */
export class PushedPolicyFollower {
  private unwatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private again = false;
  private lastCheckMs = 0;

  constructor(
    private readonly store: Store,
    private readonly live: LivePolicy,
    private readonly logger: Logger,
  ) {}

  /** Adopt the latest push (if any), then follow later ones. */
  async start(): Promise<void> {
    await this.check();
    this.unwatch = this.store.watch(() => this.schedule());
  }

  /** Look now (and after a push made here, to adopt what was stored). */
  check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.lastCheckMs = Date.now();
    this.checking = this.look().finally(() => {
      this.checking = undefined;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    });
    return this.checking;
  }

  stop(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || !this.unwatch) return;
    const waitMs = Math.max(0, FOLLOW_INTERVAL_MS - (Date.now() - this.lastCheckMs));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check();
    }, waitMs);
    this.timer.unref();
  }

  private async look(): Promise<void> {
    let latest: StoredPolicy | undefined;
    try {
      latest = await this.store.latestPolicy();
    } catch (err) {
      this.logger.warn({ err }, 'could not read the pushed policy; the policy in force stays');
      return;
    }
    if (latest === undefined || latest.id <= this.live.pushed) return;
    try {
      const policy = parsePolicy(latest.text, pushedPolicyName(latest));
      if (this.live.adopt(policy, latest.id)) {
        this.logger.info({ to: policy.policyVersion, id: latest.id, pushedBy: latest.pushedBy }, 'policy pushed to the database is now in force');
      }
    } catch (err) {
      // Checked when pushed; a policy this version cannot load (pushed by a newer one) is not adopted.
      this.logger.error({ err, id: latest.id }, 'the pushed policy does not load here; the policy in force stays');
    }
  }
}
