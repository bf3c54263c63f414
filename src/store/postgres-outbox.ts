/**
 * {@link WebhookOutbox} on PostgreSQL, for replicas sharing one database: a webhook's cursor is
 * advanced under `FOR UPDATE SKIP LOCKED` on its row (one replica enqueues it at a time, the
 * others skip it), and due deliveries are claimed with `FOR UPDATE SKIP LOCKED` plus a lease —
 * each delivery is sent by one replica.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { NotFoundError } from '../core/errors.js';
import type { ClaimedDelivery, DeliveryMapper, DeliveryRecord, DeliveryStatus, WebhookOutbox, WebhookRecord } from './outbox.js';
import { deliveryFromRow, webhookFromRow, type DeliveryRow, type WebhookRow } from './outbox-rows.js';
import { auditEventFromRow, type AuditRow } from './records.js';
import { PG_AUDIT_COLUMNS } from './postgres-statements.js';
import { toPgStoreError } from './postgres-errors.js';
import { describeTarget, PG_TYPES, pgSchema } from './postgres-schema.js';

/** Open the outbox of the store in `schema` (its tables are made by the store's migrations). */
export function openPostgresOutbox(url: string, options: { schema?: string; poolSize?: number } = {}): PostgresWebhookOutbox {
  return new PostgresWebhookOutbox(url, options.schema ?? 'ascend', options.poolSize ?? 3);
}

/** The PostgreSQL outbox. */
export class PostgresWebhookOutbox implements WebhookOutbox {
  private readonly pool: pg.Pool;
  private readonly s: string;
  private readonly label: string;

  constructor(url: string, schema: string, poolSize: number) {
    const names = pgSchema(schema);
    this.s = names.quoted;
    this.label = describeTarget(url, schema);
    this.pool = new pg.Pool({ connectionString: url, types: PG_TYPES, max: poolSize, allowExitOnIdle: true, application_name: `ascend-sdk ${schema} webhooks` });
    this.pool.on('error', (err) => process.emitWarning(`${this.label}: idle webhook connection lost: ${err.message}`));
  }

  private async run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toPgStoreError(err, this.label, operation, 0);
    }
  }

  /** One transaction on one connection. */
  private async tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const onError = (): void => undefined; // surfaced by the failing query instead
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.off('error', onError);
      client.release();
    }
  }

  async createWebhook(webhook: Omit<WebhookRecord, 'disabledAt'>): Promise<WebhookRecord> {
    return this.run('createWebhook', async () => {
      const { rows } = await this.pool.query<WebhookRow>(
        `INSERT INTO ${this.s}.webhooks (webhook_id, org, url, events, secret, link_secret, format, slack_interactive, created_at, created_by, cursor_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, (SELECT coalesce(MAX(seq), 0) FROM ${this.s}.audit_events)) RETURNING *`,
        [webhook.webhookId, webhook.org, webhook.url, JSON.stringify(webhook.events), webhook.secret, webhook.linkSecret ?? null, webhook.format ?? 'json', webhook.slackInteractive === true, webhook.createdAt, webhook.createdBy],
      );
      return webhookFromRow(rows[0]!);
    });
  }

  async listWebhooks(org?: string): Promise<WebhookRecord[]> {
    return this.run('listWebhooks', async () => {
      const { rows } =
        org === undefined
          ? await this.pool.query<WebhookRow>(`SELECT * FROM ${this.s}.webhooks ORDER BY ord`)
          : await this.pool.query<WebhookRow>(`SELECT * FROM ${this.s}.webhooks WHERE org = $1 ORDER BY ord`, [org]);
      return rows.map(webhookFromRow);
    });
  }

  async getWebhook(webhookId: string): Promise<WebhookRecord | undefined> {
    return this.run('getWebhook', async () => {
      const { rows } = await this.pool.query<WebhookRow>(`SELECT * FROM ${this.s}.webhooks WHERE webhook_id = $1`, [webhookId]);
      return rows[0] ? webhookFromRow(rows[0]) : undefined;
    });
  }

  async disableWebhook(webhookId: string, now: string): Promise<WebhookRecord> {
    return this.run('disableWebhook', async () => {
      const { rows } = await this.pool.query<WebhookRow>(
        `UPDATE ${this.s}.webhooks SET disabled_at = coalesce(disabled_at, $1) WHERE webhook_id = $2 RETURNING *`,
        [now, webhookId],
      );
      if (!rows[0]) throw new NotFoundError('webhook', webhookId);
      return webhookFromRow(rows[0]);
    });
  }

  async enqueueDeliveries(map: DeliveryMapper, now: string, limit: number): Promise<number> {
    return this.run('enqueueDeliveries', () =>
      this.tx(async (client) => {
        // Rows another replica is enqueueing are skipped, not waited for: it moves their cursor.
        const { rows: webhooks } = await client.query<WebhookRow>(
          `SELECT * FROM ${this.s}.webhooks
           WHERE disabled_at IS NULL AND cursor_seq < (SELECT coalesce(MAX(seq), 0) FROM ${this.s}.audit_events)
           FOR UPDATE SKIP LOCKED`,
        );
        let created = 0;
        for (const row of webhooks) {
          const record = webhookFromRow(row);
          const { rows: events } = await client.query<AuditRow>(`SELECT ${PG_AUDIT_COLUMNS} FROM ${this.s}.audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, [row.cursor_seq, limit]);
          for (const audit of events) {
            for (const delivery of map(auditEventFromRow(audit), record)) {
              const inserted = await client.query(
                `INSERT INTO ${this.s}.webhook_deliveries (delivery_id, webhook_id, event, audit_seq, payload, status, next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) ON CONFLICT (webhook_id, audit_seq, event) DO NOTHING`,
                [randomUUID(), row.webhook_id, delivery.event, audit.seq, delivery.payload, now],
              );
              created += inserted.rowCount ?? 0;
            }
          }
          if (events.length > 0) await client.query(`UPDATE ${this.s}.webhooks SET cursor_seq = $1 WHERE webhook_id = $2`, [events[events.length - 1]!.seq, row.webhook_id]);
        }
        return created;
      }),
    );
  }

  async claimDeliveries(now: string, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const leaseUntil = new Date(Date.parse(now) + leaseMs).toISOString();
    return this.run('claimDeliveries', async () => {
      const { rows } = await this.pool.query<DeliveryRow & { url: string; secret: string }>(
        `WITH due AS (
           SELECT d.delivery_id FROM ${this.s}.webhook_deliveries d JOIN ${this.s}.webhooks w ON w.webhook_id = d.webhook_id
           WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.locked_until IS NULL OR d.locked_until <= $1) AND w.disabled_at IS NULL
           ORDER BY d.next_attempt_at, d.audit_seq LIMIT $2
           FOR UPDATE OF d SKIP LOCKED
         )
         UPDATE ${this.s}.webhook_deliveries d SET locked_until = $3
         FROM due, ${this.s}.webhooks w
         WHERE d.delivery_id = due.delivery_id AND w.webhook_id = d.webhook_id
         RETURNING d.*, w.url AS url, w.secret AS secret`,
        [now, limit, leaseUntil],
      );
      return rows.map((row) => ({ ...deliveryFromRow(row), url: row.url, secret: row.secret }));
    });
  }

  async markDelivered(deliveryId: string, now: string, httpStatus: number): Promise<void> {
    await this.run('markDelivered', () =>
      this.pool.query(
        `UPDATE ${this.s}.webhook_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = $1, last_status = $2, last_error = NULL, locked_until = NULL
         WHERE delivery_id = $3`,
        [now, httpStatus, deliveryId],
      ),
    );
  }

  async markFailed(deliveryId: string, _now: string, error: string, httpStatus: number | undefined, nextAttemptAt: string | undefined): Promise<void> {
    await this.run('markFailed', () =>
      this.pool.query(
        `UPDATE ${this.s}.webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = coalesce($2, next_attempt_at), last_error = $3, last_status = $4, locked_until = NULL
         WHERE delivery_id = $5`,
        [nextAttemptAt === undefined ? 'dead' : 'pending', nextAttemptAt ?? null, error.slice(0, 1000), httpStatus ?? null, deliveryId],
      ),
    );
  }

  async listDeliveries(filter: { webhookId?: string; status?: DeliveryStatus; limit?: number } = {}): Promise<DeliveryRecord[]> {
    return this.run('listDeliveries', async () => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.webhookId !== undefined) {
        params.push(filter.webhookId);
        where.push(`webhook_id = $${params.length}`);
      }
      if (filter.status !== undefined) {
        params.push(filter.status);
        where.push(`status = $${params.length}`);
      }
      params.push(filter.limit ?? 100);
      const { rows } = await this.pool.query<DeliveryRow>(
        `SELECT * FROM ${this.s}.webhook_deliveries${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY audit_seq DESC, ord DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(deliveryFromRow);
    });
  }

  async countDeliveries(): Promise<Record<DeliveryStatus, number>> {
    return this.run('countDeliveries', async () => {
      const counts: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, dead: 0 };
      const { rows } = await this.pool.query<{ status: DeliveryStatus; n: number }>(`SELECT status, COUNT(*)::int AS n FROM ${this.s}.webhook_deliveries GROUP BY status`);
      for (const row of rows) counts[row.status] = row.n;
      return counts;
    });
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
