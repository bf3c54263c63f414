/**
 * {@link WebhookOutbox} on the SQLite file of the store, through its own connection (webhook
 * traffic never waits behind, or delays, a governed call's commit queue). `BEGIN IMMEDIATE`
 * serialises enqueue and claim between processes sharing the file.
 */
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { NotFoundError } from '../core/errors.js';
import { BACKGROUND_WAL_PAGES } from './sqlite-checkpointer.js';
import { openDatabase } from './sqlite-driver.js';
import { migrate } from './migrations.js';
import type { ClaimedDelivery, DeliveryMapper, DeliveryRecord, DeliveryStatus, WebhookOutbox, WebhookRecord } from './outbox.js';
import { deliveryFromRow, webhookFromRow, type DeliveryRow, type WebhookRow } from './outbox-rows.js';
import { auditEventFromRow, type AuditRow } from './records.js';
import { AUDIT_COLUMNS } from './sqlite-statements.js';
import { toStoreError } from './sqlite-errors.js';

/** Open the outbox on the SQLite database at `path` (migrating it if needed). */
export function openSqliteOutbox(path: string, busyTimeoutMs = 5000, options: { backgroundCheckpoints?: boolean } = {}): SqliteWebhookOutbox {
  return new SqliteWebhookOutbox(path, busyTimeoutMs, options.backgroundCheckpoints ?? false);
}

/** The SQLite outbox. */
export class SqliteWebhookOutbox implements WebhookOutbox {
  private readonly db: Database.Database;
  /**
   * The checks a round makes before taking the write lock, prepared once: a busy server runs a
   * round about every 10 ms, and preparing them each time was about 1.5% of its CPU.
   */
  private behindCheck: Database.Statement | undefined;
  private dueCheck: Database.Statement | undefined;

  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs: number,
    backgroundCheckpoints: boolean,
  ) {
    try {
      this.db = openDatabase(path, { timeout: busyTimeoutMs });
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // Beside a store that checkpoints from a worker: this connection must not do it in its commits either.
      if (backgroundCheckpoints) this.db.pragma(`wal_autocheckpoint = ${BACKGROUND_WAL_PAGES}`);
      migrate(this.db, path);
    } catch (err) {
      throw toStoreError(err, path, 'opening the webhook outbox', busyTimeoutMs);
    }
  }

  private run<T>(operation: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw toStoreError(err, this.path, operation, this.busyTimeoutMs);
    }
  }

  async createWebhook(webhook: Omit<WebhookRecord, 'disabledAt'>): Promise<WebhookRecord> {
    return this.run('createWebhook', () =>
      this.db
        .transaction(() => {
          const head = (this.db.prepare('SELECT MAX(seq) FROM audit_events').pluck().get() as number | null) ?? 0;
          this.db
            .prepare('INSERT INTO webhooks (webhook_id, org, url, events, secret, link_secret, format, slack_interactive, created_at, created_by, cursor_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
            .run(webhook.webhookId, webhook.org, webhook.url, JSON.stringify(webhook.events), webhook.secret, webhook.linkSecret ?? null, webhook.format ?? 'json', webhook.slackInteractive === true ? 1 : 0, webhook.createdAt, webhook.createdBy, head);
          return webhookFromRow(this.db.prepare('SELECT * FROM webhooks WHERE webhook_id = ?').get(webhook.webhookId) as WebhookRow);
        })
        .immediate(),
    );
  }

  async listWebhooks(org?: string): Promise<WebhookRecord[]> {
    return this.run('listWebhooks', () => {
      const rows = (org === undefined
        ? this.db.prepare('SELECT * FROM webhooks ORDER BY created_at, rowid').all()
        : this.db.prepare('SELECT * FROM webhooks WHERE org = ? ORDER BY created_at, rowid').all(org)) as WebhookRow[];
      return rows.map(webhookFromRow);
    });
  }

  async getWebhook(webhookId: string): Promise<WebhookRecord | undefined> {
    return this.run('getWebhook', () => {
      const row = this.db.prepare('SELECT * FROM webhooks WHERE webhook_id = ?').get(webhookId) as WebhookRow | undefined;
      return row ? webhookFromRow(row) : undefined;
    });
  }

  async disableWebhook(webhookId: string, now: string): Promise<WebhookRecord> {
    return this.run('disableWebhook', () => {
      this.db.prepare('UPDATE webhooks SET disabled_at = coalesce(disabled_at, ?) WHERE webhook_id = ?').run(now, webhookId);
      const row = this.db.prepare('SELECT * FROM webhooks WHERE webhook_id = ?').get(webhookId) as WebhookRow | undefined;
      if (!row) throw new NotFoundError('webhook', webhookId);
      return webhookFromRow(row);
    });
  }

  async enqueueDeliveries(map: DeliveryMapper, now: string, limit: number): Promise<number> {
    // A read first: the write lock is taken only when a webhook is behind the chain's head, so
    // an idle outbox never contends with the store's commits.
    const behind = this.run('enqueueDeliveries', () => {
      this.behindCheck ??= this.db.prepare('SELECT 1 FROM webhooks WHERE disabled_at IS NULL AND cursor_seq < (SELECT coalesce(MAX(seq), 0) FROM audit_events) LIMIT 1');
      return this.behindCheck.get();
    });
    if (behind === undefined) return 0;
    return this.run('enqueueDeliveries', () =>
      this.db
        .transaction((): number => {
          const webhooks = (this.db.prepare('SELECT * FROM webhooks WHERE disabled_at IS NULL').all() as WebhookRow[]).map((r) => ({ row: r, record: webhookFromRow(r) }));
          const events = this.db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`);
          const insert = this.db.prepare(
            `INSERT OR IGNORE INTO webhook_deliveries (delivery_id, webhook_id, event, audit_seq, payload, status, next_attempt_at, created_at)
             VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
          );
          const advance = this.db.prepare('UPDATE webhooks SET cursor_seq = ? WHERE webhook_id = ?');
          let created = 0;
          for (const { row, record } of webhooks) {
            const rows = events.all(row.cursor_seq, limit) as AuditRow[];
            for (const audit of rows) {
              for (const delivery of map(auditEventFromRow(audit), record)) {
                created += insert.run(randomUUID(), row.webhook_id, delivery.event, audit.seq, delivery.payload, now, now).changes;
              }
            }
            if (rows.length > 0) advance.run(rows[rows.length - 1]!.seq, row.webhook_id);
          }
          return created;
        })
        .immediate(),
    );
  }

  async claimDeliveries(now: string, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const leaseUntil = new Date(Date.parse(now) + leaseMs).toISOString();
    const due = this.run('claimDeliveries', () => {
      this.dueCheck ??= this.db.prepare("SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1");
      return this.dueCheck.get(now);
    });
    if (due === undefined) return [];
    return this.run('claimDeliveries', () =>
      this.db
        .transaction((): ClaimedDelivery[] => {
          const rows = this.db
            .prepare(
              `SELECT d.*, w.url AS url, w.secret AS secret FROM webhook_deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id
               WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.locked_until IS NULL OR d.locked_until <= ?) AND w.disabled_at IS NULL
               ORDER BY d.next_attempt_at, d.audit_seq LIMIT ?`,
            )
            .all(now, now, limit) as Array<DeliveryRow & { url: string; secret: string }>;
          const lease = this.db.prepare('UPDATE webhook_deliveries SET locked_until = ? WHERE delivery_id = ?');
          for (const row of rows) lease.run(leaseUntil, row.delivery_id);
          return rows.map((row) => ({ ...deliveryFromRow(row), url: row.url, secret: row.secret }));
        })
        .immediate(),
    );
  }

  async markDelivered(deliveryId: string, now: string, httpStatus: number): Promise<void> {
    this.run('markDelivered', () =>
      this.db
        .prepare(
          `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, last_status = ?, last_error = NULL, locked_until = NULL
           WHERE delivery_id = ?`,
        )
        .run(now, httpStatus, deliveryId),
    );
  }

  async markFailed(deliveryId: string, _now: string, error: string, httpStatus: number | undefined, nextAttemptAt: string | undefined): Promise<void> {
    this.run('markFailed', () =>
      this.db
        .prepare(
          `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = coalesce(?, next_attempt_at), last_error = ?, last_status = ?, locked_until = NULL
           WHERE delivery_id = ?`,
        )
        .run(nextAttemptAt === undefined ? 'dead' : 'pending', nextAttemptAt ?? null, error.slice(0, 1000), httpStatus ?? null, deliveryId),
    );
  }

  async listDeliveries(filter: { webhookId?: string; status?: DeliveryStatus; limit?: number } = {}): Promise<DeliveryRecord[]> {
    return this.run('listDeliveries', () => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.webhookId !== undefined) {
        where.push('webhook_id = ?');
        params.push(filter.webhookId);
      }
      if (filter.status !== undefined) {
        where.push('status = ?');
        params.push(filter.status);
      }
      params.push(filter.limit ?? 100);
      const sql = `SELECT * FROM webhook_deliveries${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY audit_seq DESC, rowid DESC LIMIT ?`;
      return (this.db.prepare(sql).all(...params) as DeliveryRow[]).map(deliveryFromRow);
    });
  }

  async countDeliveries(): Promise<Record<DeliveryStatus, number>> {
    return this.run('countDeliveries', () => {
      const counts: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, dead: 0 };
      for (const row of this.db.prepare('SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status').all() as Array<{ status: DeliveryStatus; n: number }>) {
        counts[row.status] = row.n;
      }
      return counts;
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
