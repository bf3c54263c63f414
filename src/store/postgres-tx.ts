/**
 * One write transaction of the PostgreSQL store, and how it keeps round trips few.
 *
 * A write transaction first takes the schema's advisory lock and only then reads the chain head
 * (in a later statement, so under READ COMMITTED it sees every chain row committed before the lock
 * was granted). Every writer of the schema, in any process, does the same, so the audit trail
 * stays one gapless chain.
 *
 * Audit rows are hashed in memory as they are appended and sent later: row changes that need no
 * answer are deferred too, and everything pending travels as data-modifying CTEs in front of the
 * next statement that writes (or on its own before COMMIT). A decision is then three round trips:
 * begin + lock + head, one statement, commit.
 */
import type pg from 'pg';
import { StoreError } from '../core/errors.js';
import { AuditAppender, GENESIS_HASH, type NewAuditEvent } from './audit-chain.js';
import type { PgSchema } from './postgres-schema.js';

/** A statement and its parameters (`$1…` numbered from 1). */
export interface PgStatement {
  sql: string;
  params: unknown[];
}

/** A row as pg returns it. */
export type PgRow = pg.QueryResultRow;

/** The audit columns, one array per column (sent through `unnest`). */
interface AuditColumns {
  seq: number[];
  ts: string[];
  type: string[];
  agentId: (string | null)[];
  actionId: (string | null)[];
  approvalId: (string | null)[];
  actor: string[];
  data: string[];
  prevHash: string[];
  hash: string[];
}

function emptyColumns(): AuditColumns {
  return { seq: [], ts: [], type: [], agentId: [], actionId: [], approvalId: [], actor: [], data: [], prevHash: [], hash: [] };
}

/** Shift `$n` placeholders by `offset` (our statements hold no other `$`). */
function renumber(sql: string, offset: number): string {
  return offset === 0 ? sql : sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
}

/** An open write transaction holding the schema's chain lock. Create with {@link PgWriteTx.begin}. */
export class PgWriteTx {
  private readonly chain: AuditAppender;
  private columns = emptyColumns();
  private deferred: PgStatement[] = [];
  /** `seq` of each event appended in this transaction, in order. */
  readonly seqs: number[] = [];

  private constructor(
    readonly client: pg.PoolClient,
    private readonly schema: PgSchema,
    headSeq: number,
    headHash: string,
  ) {
    this.chain = new AuditAppender(
      (seq, e, data, prevHash, hash) => {
        const c = this.columns;
        c.seq.push(seq);
        c.ts.push(e.ts);
        c.type.push(e.type);
        c.agentId.push(e.agentId);
        c.actionId.push(e.actionId);
        c.approvalId.push(e.approvalId);
        c.actor.push(e.actor);
        c.data.push(data);
        c.prevHash.push(prevHash);
        c.hash.push(hash);
      },
      (seq) => this.seqs.push(seq),
    );
    this.chain.start(headSeq, headHash);
  }

  /**
   * BEGIN, take the chain lock (waiting at most `lockTimeoutMs`, 0: forever), read the head: one
   * round trip. Separate statements, so the head is read with a snapshot taken after the lock.
   */
  static async begin(client: pg.PoolClient, schema: PgSchema, lockTimeoutMs: number): Promise<PgWriteTx> {
    const results = (await client.query(
      `BEGIN; SET LOCAL lock_timeout = ${Math.round(lockTimeoutMs)}; SELECT pg_advisory_xact_lock(${schema.lockKey});` +
        ` SELECT seq, hash FROM ${schema.quoted}.audit_events ORDER BY seq DESC LIMIT 1`,
    )) as unknown as pg.QueryResult<{ seq: number; hash: string }>[];
    const head = results[results.length - 1]?.rows[0];
    return new PgWriteTx(client, schema, head?.seq ?? 0, head?.hash ?? GENESIS_HASH);
  }

  /** Events appended so far. */
  get appended(): number {
    return this.seqs.length;
  }

  /** Append one chained event (sent with the next write); returns its `seq`. */
  append(event: NewAuditEvent, dataJson: string): number {
    return this.chain.append(event, dataJson);
  }

  /** A row change whose answer is not needed: sent with the next write, as a CTE. */
  defer(sql: string, params: unknown[]): void {
    this.deferred.push({ sql, params });
  }

  /** A plain statement (pending rows stay pending): use it for reads. */
  async read<R extends PgRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.client.query<R>(sql, params)).rows;
  }

  /**
   * A statement sent together with everything pending (audit rows, deferred changes) in one
   * round trip. It runs on the same snapshot as those CTEs, so it must not read what they write,
   * and it must not start with WITH itself (the pending part is prepended as the WITH list).
   */
  async write<R extends PgRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const statement = this.takePending({ sql, params }) as PgStatement;
    return (await this.client.query<R>(statement.sql, statement.params)).rows;
  }

  /** {@link write} of a statement that returns exactly one row (`RETURNING` of a matched row). */
  async writeOne<R extends PgRow>(sql: string, params: unknown[] = []): Promise<R> {
    const [row] = await this.write<R>(sql, params);
    if (row === undefined) throw new StoreError('a write that returns its row returned none');
    return row;
  }

  /** Send what is pending now (its errors surface here rather than at COMMIT). */
  async flush(): Promise<void> {
    const pending = this.takePending(undefined);
    if (pending) await this.client.query(pending.sql, pending.params);
  }

  /** Send what is pending, then COMMIT, signalling watchers (in every process) when it wrote events. */
  async commit(): Promise<void> {
    await this.flush();
    // pg_notify inside the transaction: delivered to listeners on commit, never on rollback.
    await this.client.query(this.appended > 0 ? `SELECT pg_notify(${this.schema.channelLiteral}, ''); COMMIT` : 'COMMIT');
  }

  /** `main` preceded by everything pending as data-modifying CTEs (or the pending alone). */
  private takePending(main: PgStatement | undefined): PgStatement | undefined {
    const parts = this.deferred;
    this.deferred = [];
    if (this.columns.seq.length > 0) {
      const c = this.columns;
      this.columns = emptyColumns();
      parts.push({
        sql:
          `INSERT INTO ${this.schema.quoted}.audit_events (seq, ts, type, agent_id, action_id, approval_id, actor, data, prev_hash, hash) ` +
          'SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])',
        params: [c.seq, c.ts, c.type, c.agentId, c.actionId, c.approvalId, c.actor, c.data, c.prevHash, c.hash],
      });
    }
    const last = main ?? parts.pop();
    if (last === undefined) return undefined;
    if (parts.length === 0) return last;
    const params: unknown[] = [];
    const ctes = parts.map((part, i) => {
      const sql = `w${i} AS (${renumber(part.sql, params.length)})`;
      params.push(...part.params);
      return sql;
    });
    return { sql: `WITH ${ctes.join(', ')} ${renumber(last.sql, params.length)}`, params: [...params, ...last.params] };
  }
}

/** A pooled connection checked out for a transaction; give it back with `release`. */
export interface CheckedOut {
  client: pg.PoolClient;
  /** Return the connection; with an error (or when it was lost meanwhile) it is closed, not reused. */
  release(error?: Error): void;
}

/**
 * Check a connection out of `pool`, listening for its 'error' while we hold it: pg emits 'error'
 * on a checked-out client whose connection dies, and unheard that would crash the process (the
 * query in flight rejects anyway, so here it only marks the connection as not reusable).
 */
export async function checkout(pool: pg.Pool): Promise<CheckedOut> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost = err;
  };
  client.on('error', onError);
  return {
    client,
    release: (error) => {
      client.off('error', onError);
      client.release(error ?? lost);
    },
  };
}
