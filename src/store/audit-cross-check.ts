/**
 * Cross-checking the store's tables against a verified audit chain.
 *
 * The hash chain shows that no row was changed and none removed from the middle, but not that
 * rows were removed from its end: what is left is still a valid chain. The tables are written in
 * the same transactions as the events, so each is evidence of how far the chain reached:
 * - seqs they name: an agent's `version` (its latest `agent.*` event), a webhook's cursor, a
 *   delivery's event, and on SQLite `store_meta.indexed_through` and `action_index`;
 * - rows that each came with one event of a known type: approvals (and their decisions and
 *   consumption), grants, API keys, and on PostgreSQL actions and outcomes.
 *
 * Verification counts events by type while it walks the chain (constant memory), reads these
 * figures from the same snapshot (one aggregate query and one join over the agents), and reports
 * a table that names a seq past the chain's end or holds rows the chain has no events for
 * (truncation), holds fewer rows than the chain has events for (rows deleted), or an action
 * index that disagrees with the chain.
 *
 * Not caught: newest events nothing else names. On SQLite, decisions and outcomes appended since
 * `action_index` was last written (a writer writes it every 512 actions and when it closes).
 */
import type { AuditEventType } from '../core/types.js';

/** Seq sums are compared modulo this prime, so they stay exact integers however long the chain. */
const SUM_MODULUS = 1_000_000_007;

/** Why a store's tables and its chain disagree, as `AuditVerification.firstBad` reports it. */
export interface ChainFault {
  seq: number;
  reason: string;
}

/** A seq a table refers to. */
export interface SeqReference {
  /** Where, for the message (`webhooks.cursor_seq`). */
  where: string;
  seq: number;
}

/** Rows of a table that each came with one event of `types`. */
export interface RowsWithEvents {
  table: string;
  /** Which rows, for the message (`approved`); empty for all of them. */
  which: string;
  rows: number;
  types: readonly AuditEventType[];
  /**
   * Archiving removes this table's rows with their events (PostgreSQL's actions and outcomes),
   * but for those it keeps: the key of that count in the base's `retained`.
   */
  archivedWith?: string;
}

/** What archiving left behind (the store's `audit_base`), for counting rows against events. */
export interface ArchivedPart {
  /** Events by type through the last archived event. */
  counts: Readonly<Record<string, number>>;
  /** Rows kept of archived events, by {@link RowsWithEvents.archivedWith} key. */
  retained: Readonly<Record<string, number>>;
}

/** SQLite's `action_index` and `store_meta.indexed_through`, aggregated. */
export interface ActionIndexFigures {
  indexedThrough: number;
  decisions: number;
  outcomes: number;
  /** Sums of `decision_seq` / `outcome_seq` modulo {@link SUM_MODULUS}. */
  decisionSeqSum: number;
  outcomeSeqSum: number;
  /** The highest seq the index names. */
  maxSeq: number;
}

/** What one verification reads from the store's tables, in the chain's snapshot. */
export interface TableFigures {
  references: SeqReference[];
  rowCounts: RowsWithEvents[];
  /** SQLite only. */
  actionIndex?: ActionIndexFigures;
  /** An agent whose `version` is not one of its own `agent.*` events. */
  strayAgent?: { agentId: string; version: number };
}

/** Counts of a verified chain's events, fed row by row in seq order. */
export class ChainTally {
  private readonly perType = new Map<string, { count: number; lastSeq: number }>();
  /** Decisions and outcomes at or below `indexedThrough`: what SQLite's action index must hold. */
  readonly indexed = { decisions: 0, outcomes: 0, decisionSeqSum: 0, outcomeSeqSum: 0 };

  /**
   * @param indexedThrough SQLite's `store_meta.indexed_through` (0 elsewhere).
   * @param before events by type up to where the walk starts (a checkpoint's counts).
   */
  constructor(
    private readonly indexedThrough = 0,
    before: Readonly<Record<string, number>> = {},
  ) {
    for (const [type, count] of Object.entries(before)) this.perType.set(type, { count, lastSeq: 0 });
  }

  /** Events by type, the starting counts included. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const type of [...this.perType.keys()].sort()) counts[type] = this.perType.get(type)!.count;
    return counts;
  }

  /** Count one event that verified. */
  add(seq: number, type: string): void {
    let entry = this.perType.get(type);
    if (entry === undefined) {
      entry = { count: 0, lastSeq: 0 };
      this.perType.set(type, entry);
    }
    entry.count++;
    entry.lastSeq = seq;
    if (seq > this.indexedThrough) return;
    if (type === 'action.evaluated') {
      this.indexed.decisions++;
      this.indexed.decisionSeqSum = (this.indexed.decisionSeqSum + seq) % SUM_MODULUS;
    } else if (type === 'action.completed' || type === 'action.failed') {
      this.indexed.outcomes++;
      this.indexed.outcomeSeqSum = (this.indexed.outcomeSeqSum + seq) % SUM_MODULUS;
    }
  }

  /** Events of these types. */
  count(types: readonly string[]): number {
    return types.reduce((sum, type) => sum + (this.perType.get(type)?.count ?? 0), 0);
  }

  /** The newest event of these types (0: none). */
  lastSeq(types: readonly string[]): number {
    return types.reduce((max, type) => Math.max(max, this.perType.get(type)?.lastSeq ?? 0), 0);
  }
}

/**
 * Compare the tables with a chain that verified to `headSeq` (from seq 1, or from a verified
 * start whose counts seed the tally). Since no row is missing up to the head, an event a table
 * proves existed past it was deleted from the end.
 */
export function crossCheckTables(headSeq: number, tally: ChainTally, figures: TableFigures, archived: ArchivedPart = { counts: {}, retained: {} }): ChainFault | undefined {
  /** The events whose rows a table should hold: all of them, or for a table archiving empties, the live ones and those it kept. */
  const eventsFor = (c: RowsWithEvents): number =>
    c.archivedWith === undefined
      ? tally.count(c.types)
      : tally.count(c.types) - c.types.reduce((sum, t) => sum + (archived.counts[t] ?? 0), 0) + (archived.retained[c.archivedWith] ?? 0);
  const ends = headSeq === 0 ? 'the chain is empty' : `the chain ends at seq ${headSeq}`;
  let furthest: SeqReference | undefined;
  for (const ref of figures.references) {
    if (ref.seq > headSeq && (furthest === undefined || ref.seq > furthest.seq)) furthest = ref;
  }
  if (furthest !== undefined) {
    const missing = furthest.seq === headSeq + 1 ? `event ${furthest.seq} is missing, and any after it` : `events ${headSeq + 1}–${furthest.seq} are missing, and any after them`;
    return { seq: headSeq + 1, reason: `truncated: ${ends} but ${furthest.where} refers to seq ${furthest.seq} (${missing})` };
  }
  for (const c of figures.rowCounts) {
    const events = eventsFor(c);
    if (c.rows > events) {
      return {
        seq: headSeq + 1,
        reason:
          `truncated: ${ends} but ${c.table} holds ${rowsOf(c)} and the chain only ${plural(events, `${c.types.join(' / ')} event`)} ` +
          `(the events after seq ${headSeq} are missing, or rows were added outside Ascend)`,
      };
    }
  }
  for (const c of figures.rowCounts) {
    const events = eventsFor(c);
    if (c.rows < events) {
      const last = tally.lastSeq(c.types);
      return {
        seq: last,
        reason: `the chain has ${plural(events, `${c.types.join(' / ')} event`)} (the latest at seq ${last}) but ${c.table} holds only ${rowsOf(c)}: rows were deleted from ${c.table}`,
      };
    }
  }
  const index = figures.actionIndex;
  if (index !== undefined) {
    if (index.maxSeq > index.indexedThrough) {
      return {
        seq: index.maxSeq,
        reason: `action_index refers to seq ${index.maxSeq}, past store_meta's indexed_through (seq ${index.indexedThrough}): store_meta was rewound`,
      };
    }
    const chain = tally.indexed;
    if (index.decisions !== chain.decisions || index.outcomes !== chain.outcomes || index.decisionSeqSum !== chain.decisionSeqSum || index.outcomeSeqSum !== chain.outcomeSeqSum) {
      const counts = index.decisions === chain.decisions && index.outcomes === chain.outcomes;
      return {
        seq: Math.max(1, index.indexedThrough),
        reason:
          `action_index does not match the chain through seq ${index.indexedThrough}: it holds ${plural(index.decisions, 'decision')} and ` +
          `${plural(index.outcomes, 'outcome')} where the chain has ${chain.decisions} and ${chain.outcomes}` +
          (counts ? ', but some point at other events' : ''),
      };
    }
  }
  const stray = figures.strayAgent;
  if (stray !== undefined) {
    return { seq: stray.version, reason: `agents row "${stray.agentId}" has version ${stray.version}, which is not an agent.* event of that agent` };
  }
  return undefined;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function rowsOf(c: RowsWithEvents): string {
  return plural(c.rows, c.which === '' ? 'row' : `${c.which} row`);
}

/** `sqlite` or `postgres`: which tables there are and how to name them. */
export interface FiguresDialect {
  kind: 'sqlite' | 'postgres';
  /** A table's name as SQL (schema-qualified on PostgreSQL). */
  table(name: string): string;
}

/**
 * The one-row query of every figure but the stray agent. Each table is scanned once (aggregates
 * without GROUP BY always yield one row, so the cross join does too). On SQLite it takes the
 * parameter `@from`: the seq the walk starts after.
 */
export function tableFiguresSql(d: FiguresDialect): string {
  const t = d.table;
  const parts = [
    `(SELECT COUNT(*) AS approvals, COUNT(CASE WHEN status = 'approved' THEN 1 END) AS approvals_approved,
             COUNT(CASE WHEN status = 'rejected' THEN 1 END) AS approvals_rejected,
             COUNT(CASE WHEN status = 'expired' THEN 1 END) AS approvals_expired, COUNT(consumed_at) AS approvals_consumed
      FROM ${t('approvals')}) p`,
    `(SELECT COUNT(*) AS grants, COUNT(revoked_at) AS grants_revoked FROM ${t('grants')}) g`,
    `(SELECT COUNT(*) AS api_keys, COUNT(revoked_at) AS api_keys_revoked FROM ${t('api_keys')}) k`,
    `(SELECT coalesce(MAX(version), 0) AS agents_version,
             (SELECT agent_id FROM ${t('agents')} ORDER BY version DESC LIMIT 1) AS agents_top
      FROM ${t('agents')}) a`,
    `(SELECT coalesce(MAX(cursor_seq), 0) AS webhooks_cursor FROM ${t('webhooks')}) w`,
    `(SELECT coalesce(MAX(audit_seq), 0) AS deliveries_seq FROM ${t('webhook_deliveries')}) d`,
  ];
  if (d.kind === 'sqlite') {
    parts.push(
      `(SELECT coalesce((SELECT value FROM ${t('store_meta')} WHERE key = 'indexed_through'), 0) AS indexed_through) m`,
      // Only the part of the index past the walk's start (@from) is compared with the walk: a
      // range of each seq index (migration 11), so a walk from a checkpoint reads no more of it.
      `(SELECT COUNT(*) AS index_decisions, coalesce(SUM(decision_seq), 0) % ${SUM_MODULUS} AS index_decision_sum
        FROM ${t('action_index')} WHERE decision_seq > @from) i`,
      `(SELECT COUNT(*) AS index_outcomes, coalesce(SUM(outcome_seq), 0) % ${SUM_MODULUS} AS index_outcome_sum
        FROM ${t('action_index')} WHERE outcome_seq > @from) o`,
      `(SELECT max(coalesce((SELECT MAX(decision_seq) FROM ${t('action_index')}), 0),
                   coalesce((SELECT MAX(outcome_seq) FROM ${t('action_index')} WHERE outcome_seq IS NOT NULL), 0)) AS index_max_seq) im`,
    );
  } else {
    parts.push(
      `(SELECT COUNT(*) AS actions FROM ${t('actions')}) x`,
      `(SELECT COUNT(*) AS outcomes, COUNT(CASE WHEN status = 'failed' THEN 1 END) AS outcomes_failed FROM ${t('outcomes')}) o`,
    );
  }
  return `SELECT * FROM ${parts.join('\n CROSS JOIN ')}`;
}

/**
 * The first agent whose `version` does not name one of its own `agent.*` events (a probe per
 * agent); an agent whose latest change was archived is not probed.
 */
export function strayAgentSql(d: FiguresDialect): string {
  return `SELECT a.agent_id AS agent_id, a.version AS version FROM ${d.table('agents')} a
    LEFT JOIN ${d.table('audit_events')} e ON e.seq = a.version
    WHERE a.version > (SELECT seq FROM ${d.table('audit_base')} WHERE id = 1)
      AND (e.seq IS NULL OR coalesce(e.agent_id, '') <> a.agent_id OR e.type NOT IN ('agent.registered', 'agent.blocked', 'agent.unblocked'))
    ORDER BY a.version LIMIT 1`;
}

/** A row of {@link tableFiguresSql}. */
export type FiguresRow = Record<string, string | number | bigint | null | undefined>;

/** The figures of a {@link tableFiguresSql} row and a {@link strayAgentSql} row (if any). */
export function tableFigures(d: FiguresDialect, row: FiguresRow, stray: FiguresRow | undefined): TableFigures {
  const n = (column: string): number => Number(row[column] ?? 0);
  const references: SeqReference[] = [];
  const rowCounts: RowsWithEvents[] = [];
  const figures: TableFigures = { references, rowCounts };
  if (d.kind === 'sqlite') {
    references.push({ where: "store_meta's indexed_through", seq: n('indexed_through') }, { where: 'action_index', seq: n('index_max_seq') });
    figures.actionIndex = {
      indexedThrough: n('indexed_through'),
      decisions: n('index_decisions'),
      outcomes: n('index_outcomes'),
      decisionSeqSum: n('index_decision_sum'),
      outcomeSeqSum: n('index_outcome_sum'),
      maxSeq: n('index_max_seq'),
    };
  } else {
    rowCounts.push(
      { table: 'actions', which: '', rows: n('actions'), types: ['action.evaluated'], archivedWith: 'actions' },
      { table: 'outcomes', which: '', rows: n('outcomes'), types: ['action.completed', 'action.failed'], archivedWith: 'outcomes' },
      { table: 'outcomes', which: 'failed', rows: n('outcomes_failed'), types: ['action.failed'], archivedWith: 'outcomes:failed' },
    );
  }
  references.push(
    { where: `agents.version (agent ${JSON.stringify(String(row.agents_top ?? ''))})`, seq: n('agents_version') },
    { where: 'webhooks.cursor_seq', seq: n('webhooks_cursor') },
    { where: 'webhook_deliveries.audit_seq', seq: n('deliveries_seq') },
  );
  rowCounts.push(
    { table: 'approvals', which: '', rows: n('approvals'), types: ['approval.requested'] },
    { table: 'approvals', which: 'approved', rows: n('approvals_approved'), types: ['approval.approved'] },
    { table: 'approvals', which: 'rejected', rows: n('approvals_rejected'), types: ['approval.rejected'] },
    { table: 'approvals', which: 'expired', rows: n('approvals_expired'), types: ['approval.expired'] },
    { table: 'approvals', which: 'consumed', rows: n('approvals_consumed'), types: ['approval.consumed'] },
    { table: 'grants', which: '', rows: n('grants'), types: ['grant.created'] },
    { table: 'grants', which: 'revoked', rows: n('grants_revoked'), types: ['grant.revoked'] },
    { table: 'api_keys', which: '', rows: n('api_keys'), types: ['key.created'] },
    { table: 'api_keys', which: 'revoked', rows: n('api_keys_revoked'), types: ['key.revoked'] },
  );
  if (stray !== undefined) figures.strayAgent = { agentId: String(stray.agent_id), version: Number(stray.version) };
  return figures;
}
