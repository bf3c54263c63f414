/**
 * Delivers webhooks from the outbox: turns new audit events into deliveries, claims due ones
 * (leased, so replicas never send the same one at the same time), POSTs them signed, and on a
 * failure retries with exponential back-off until `maxAttempts`, then dead-letters (kept,
 * listed, counted, logged).
 */
import type { Logger } from 'pino';
import type { ClaimedDelivery, DeliveryMapper, WebhookOutbox } from '../../store/outbox.js';
import { WEBHOOK_HEADERS, webhookSignature } from '../../core/signing.js';
import { deliveryMapper, type DeliveryMapperOptions } from './events.js';
import type { HostResolver } from './address-guard.js';
import { postToTarget, RefusedTarget } from './post.js';
import { mailtoRecipients, type EmailMessage, type SmtpMailer } from './mailer.js';

/** Options of {@link WebhookDispatcher}. */
export interface WebhookDispatcherOptions {
  outbox: WebhookOutbox;
  logger: Logger;
  /** Attempts before a delivery is dead-lettered. Default 8. */
  maxAttempts?: number;
  /** First retry delay; doubles each attempt. Default 1000. */
  retryBaseDelayMs?: number;
  /** Longest retry delay. Default 300 000. */
  retryMaxDelayMs?: number;
  /** Look for work at least this often. Default 500. */
  pollIntervalMs?: number;
  /** One delivery's deadline. Default 10 000. */
  timeoutMs?: number;
  /** Deliveries sent at once. Default 8. */
  concurrency?: number;
  /** Kicks within this window share one round. Default 10. */
  debounceMs?: number;
  /** Deliver to private, loopback and link-local addresses too (default false). */
  allowPrivateTargets?: boolean;
  /** Resolves target host names (default: the system resolver). */
  resolveHost?: HostResolver;
  /** Called after each attempt (metrics). */
  onAttempt?: (outcome: 'delivered' | 'failed' | 'dead') => void;
  /** The server's public address, for one-click approval links in payloads. */
  publicUrl?: DeliveryMapperOptions['publicUrl'];
  /** Sends the deliveries of `mailto:` webhooks; without it they fail (and are retried). */
  mailer?: SmtpMailer;
}

/** The dispatcher loop. */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private pendingKick: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly inFlight = new Set<AbortController>();

  private readonly mapper: DeliveryMapper;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.mapper = deliveryMapper(options.publicUrl ? { publicUrl: options.publicUrl } : {});
  }

  /** Start polling. */
  start(): void {
    this.schedule();
  }

  /**
   * Look for work soon (after a commit). Kicks within `debounceMs` share one round, so a busy
   * server does not run a round per commit.
   */
  kick(): void {
    if (this.stopped || this.pendingKick) return;
    this.pendingKick = setTimeout(() => {
      this.pendingKick = undefined;
      this.runNow();
    }, this.options.debounceMs ?? 10);
  }

  private runNow(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.tick()
      .catch((err: unknown) => this.options.logger.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'webhook dispatch failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.runNow();
        }
      });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runNow();
      this.schedule();
    }, this.options.pollIntervalMs ?? 500);
    this.timer.unref();
  }

  /** Stop: no new work; deliveries in flight are abandoned (their lease expires; they are retried). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.pendingKick);
    for (const controller of this.inFlight) controller.abort();
    await this.running;
  }

  /** One round: enqueue from the audit trail, then send what is due. */
  async tick(): Promise<void> {
    const { outbox } = this.options;
    const now = new Date().toISOString();
    await outbox.enqueueDeliveries(this.mapper, now, 500);
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    for (;;) {
      if (this.stopped) return;
      const due = await outbox.claimDeliveries(new Date().toISOString(), this.options.concurrency ?? 8, timeoutMs * 2);
      if (due.length === 0) return;
      await Promise.all(due.map((delivery) => this.deliver(delivery, timeoutMs)));
    }
  }

  private async deliver(delivery: ClaimedDelivery, timeoutMs: number): Promise<void> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let status: number | undefined;
    let error: string | undefined;
    const email = delivery.url.startsWith('mailto:');
    try {
      if (email) {
        status = await this.mail(delivery, controller.signal);
      } else {
        status = await this.post(delivery, timestamp, controller.signal);
        if (status < 200 || status > 299) error = `HTTP ${status}`;
      }
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      error =
        err instanceof RefusedTarget
          ? `refused: ${err.message}`
          : controller.signal.aborted
            ? `no answer within ${timeoutMs} ms`
            : email
              ? `email not sent: ${reason}`
              : `cannot reach ${new URL(delivery.url).host}: ${reason}`;
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
    await this.settle(delivery, status, error);
  }

  /** POST a delivery, signed; resolves with the HTTP status. */
  private async post(delivery: ClaimedDelivery, timestamp: string, signal: AbortSignal): Promise<number> {
    // Checked again at delivery: a name may resolve elsewhere than at registration.
    const guard = { allowPrivateTargets: this.options.allowPrivateTargets ?? false, ...(this.options.resolveHost ? { resolveHost: this.options.resolveHost } : {}) };
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'ascend-webhooks/1',
      [WEBHOOK_HEADERS.event]: delivery.event,
      [WEBHOOK_HEADERS.delivery]: delivery.deliveryId,
      [WEBHOOK_HEADERS.timestamp]: timestamp,
      [WEBHOOK_HEADERS.signature]: webhookSignature(delivery.secret, timestamp, delivery.payload),
    };
    return postToTarget(delivery.url, { headers, body: delivery.payload, signal }, guard);
  }

  /** Email a delivery of a `mailto:` webhook; resolves with SMTP's 250 (accepted). */
  private async mail(delivery: ClaimedDelivery, signal: AbortSignal): Promise<number> {
    const mailer = this.options.mailer;
    if (mailer === undefined) throw new Error('this server has no SMTP server (--smtp-url)');
    const sent = mailer.send(mailtoRecipients(delivery.url), JSON.parse(delivery.payload) as EmailMessage);
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      sent.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
    return 250;
  }

  /** Record how an attempt went: delivered, retried later, or dead-lettered. */
  private async settle(delivery: ClaimedDelivery, status: number | undefined, error: string | undefined): Promise<void> {
    const { outbox, logger } = this.options;
    const now = new Date().toISOString();
    if (error === undefined) {
      await outbox.markDelivered(delivery.deliveryId, now, status!);
      this.options.onAttempt?.('delivered');
      return;
    }
    const attempt = delivery.attempts + 1;
    const maxAttempts = this.options.maxAttempts ?? 8;
    if (attempt >= maxAttempts) {
      await outbox.markFailed(delivery.deliveryId, now, error, status, undefined);
      this.options.onAttempt?.('dead');
      logger.warn({ webhookId: delivery.webhookId, deliveryId: delivery.deliveryId, event: delivery.event, attempts: attempt, error }, 'webhook delivery dead-lettered');
      return;
    }
    const base = this.options.retryBaseDelayMs ?? 1000;
    const delay = Math.min(this.options.retryMaxDelayMs ?? 300_000, base * 2 ** (attempt - 1));
    const jittered = delay / 2 + Math.random() * (delay / 2);
    await outbox.markFailed(delivery.deliveryId, now, error, status, new Date(Date.now() + jittered).toISOString());
    this.options.onAttempt?.('failed');
    logger.info({ webhookId: delivery.webhookId, deliveryId: delivery.deliveryId, attempts: attempt, error }, 'webhook delivery failed; will retry');
  }
}
