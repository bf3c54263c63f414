/**
 * `ascend serve --checkpoint-every 1h`: checkpoint the audit chain on a schedule
 * (audit-checkpoints.ts). Replicas on one database share the schedule through the chain itself:
 * each looks at the newest checkpoint and signs only when it is at least an interval old, so a
 * cluster takes about one per interval, not one per replica.
 */
import type { Logger } from 'pino';
import { type CheckpointKey, latestTrustedCheckpoint, takeCheckpoint } from '../store/audit-checkpoints.js';
import type { Store } from '../store/store.js';

/** Options of {@link CheckpointSchedule}. */
export interface CheckpointScheduleOptions {
  key: CheckpointKey;
  everyMs: number;
  /** Recorded as the checkpoint event's actor. */
  actor: string;
  logger: Logger;
}

/** Takes a checkpoint whenever the newest one is `everyMs` old. */
export class CheckpointSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly options: CheckpointScheduleOptions,
  ) {}

  /** Check now, then keep checking. */
  start(): void {
    this.tick();
  }

  /** Stop; resolves once a checkpoint being taken is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private tick(): void {
    if (this.stopped) return;
    this.running = this.checkpointIfDue()
      .then((dueInMs) => this.schedule(dueInMs))
      .catch((err: unknown) => {
        this.options.logger.error({ err }, 'could not checkpoint the audit trail; trying again in one interval');
        this.schedule(this.options.everyMs);
      });
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.options.logger.info({ nextInMs: Math.round(delayMs) }, 'next audit checkpoint check scheduled');
    // Never longer than one interval (a checkpoint dated in the future must not stall or spin it).
    this.timer = setTimeout(() => this.tick(), Math.min(this.options.everyMs, Math.max(1000, delayMs)));
    this.timer.unref();
  }

  /** Take a checkpoint if the newest is due; returns how long until the next is. */
  private async checkpointIfDue(): Promise<number> {
    const { key, everyMs, actor, logger } = this.options;
    const { checkpoint } = await latestTrustedCheckpoint(this.store, new Set([key.publicKey]));
    const ageMs = checkpoint === undefined ? Number.POSITIVE_INFINITY : Date.now() - Date.parse(checkpoint.checkpointedAt);
    if (ageMs >= 0 && ageMs < everyMs) return everyMs - ageMs;
    const [head] = await this.store.readAudit({ newestFirst: true, limit: 1 });
    if (head === undefined || (checkpoint !== undefined && head.seq <= checkpoint.seq + 1 && head.type === 'audit.checkpoint')) return everyMs; // nothing new
    const taken = await takeCheckpoint(this.store, key, actor, new Date().toISOString());
    logger.info({ seq: taken.seq, hash: taken.hash, keyId: taken.keyId }, 'audit trail checkpointed');
    return everyMs;
  }
}
