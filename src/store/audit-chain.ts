/**
 * The audit hash chain: how an event is serialised and hashed, how events are appended inside a
 * write transaction, and how a stored chain is checked row by row.
 *
 * `hash = sha256hex(prevHash + canonicalJson(event))`, where `event` is exactly
 * `{ seq, ts, type, agentId, actionId, approvalId, actor, data, prevHash }` and the first event's
 * `prevHash` is {@link GENESIS_HASH}.
 */
import { canonicalJson, sha256Hex } from '../core/canonical.js';
import type { AuditEventType } from '../core/types.js';
import { canonicalJsonFast, jsonStringOrNull } from '../core/canonical-fast.js';

/** `prevHash` of the first event: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** An audit event about to be appended (the chain fills in `seq`, `prevHash` and `hash`). */
export interface NewAuditEvent {
  /** ISO time. */
  ts: string;
  type: AuditEventType;
  agentId: string | null;
  actionId: string | null;
  approvalId: string | null;
  actor: string;
}

function jsonStr(value: string): string {
  return typeof value === 'string' ? JSON.stringify(value) : canonicalJsonFast(value);
}

/**
 * The canonical JSON of an event without its hash, built directly from its parts so the
 * (already canonical) `dataJson` is not serialised a second time. Keys are in sorted order:
 * equal to `canonicalJson({ seq, ts, type, agentId, actionId, approvalId, actor, data, prevHash })`.
 */
export function auditEventBody(seq: number, event: NewAuditEvent, dataJson: string, prevHash: string): string {
  return (
    '{"actionId":' +
    jsonStringOrNull(event.actionId) +
    ',"actor":' +
    jsonStr(event.actor) +
    ',"agentId":' +
    jsonStringOrNull(event.agentId) +
    ',"approvalId":' +
    jsonStringOrNull(event.approvalId) +
    ',"data":' +
    dataJson +
    ',"prevHash":' +
    jsonStr(prevHash) +
    ',"seq":' +
    String(seq) +
    ',"ts":' +
    jsonStr(event.ts) +
    ',"type":' +
    jsonStr(event.type) +
    '}'
  );
}

/** The hash of an event given its predecessor's hash and its canonical body. */
export function auditHash(prevHash: string, body: string): string {
  return sha256Hex(prevHash + body);
}

/** Writes one chained row (inside the caller's transaction). */
export type AuditRowInsert = (seq: number, event: NewAuditEvent, dataJson: string, prevHash: string, hash: string) => void;

/**
 * Appends chained events inside one write transaction, continuing from the head it is started
 * from — which the caller has just read inside that same transaction, so several processes
 * writing one file keep one chain.
 */
export class AuditAppender {
  private seq = 0;
  private hash = GENESIS_HASH;
  /** Events appended since {@link start}. */
  count = 0;

  /**
   * @param insert writes the row.
   * @param appended told of each row once written (still inside the transaction).
   */
  constructor(
    private readonly insert: AuditRowInsert,
    private readonly appended: (seq: number, hash: string, event: NewAuditEvent) => void,
  ) {}

  /** Begin a transaction's appends after the event `headSeq` / `headHash`. */
  start(headSeq: number, headHash: string): void {
    this.seq = headSeq;
    this.hash = headHash;
    this.count = 0;
  }

  /** Append one event; returns its `seq`. */
  append(event: NewAuditEvent, dataJson: string): number {
    const seq = this.seq + 1;
    const prevHash = this.hash;
    const hash = auditHash(prevHash, auditEventBody(seq, event, dataJson, prevHash));
    this.insert(seq, event, dataJson, prevHash, hash);
    this.seq = seq;
    this.hash = hash;
    this.count++;
    this.appended(seq, hash, event);
    return seq;
  }
}

/** One stored row, as the verifier reads it. */
export interface StoredAuditRow {
  seq: number;
  ts: string;
  type: string;
  agentId: string | null;
  actionId: string | null;
  approvalId: string | null;
  actor: string;
  data: string;
  prevHash: string;
  hash: string;
}

/**
 * Checks a chain fed to it row by row in `seq` order, keeping only the previous row's hash, so
 * a chain of any length is verified in constant memory.
 */
export class AuditChainVerifier {
  private expectedSeq: number;
  private prevHash: string;
  /** Rows accepted so far. */
  checked = 0;

  /** Start after event `afterSeq` whose hash is `afterHash` (default: the chain's beginning). */
  constructor(afterSeq = 0, afterHash = GENESIS_HASH) {
    this.expectedSeq = afterSeq + 1;
    this.prevHash = afterHash;
  }

  /** Check the next row; returns why it is bad, or undefined when it verifies. */
  check(row: StoredAuditRow): string | undefined {
    if (row.seq !== this.expectedSeq) {
      return row.seq > this.expectedSeq
        ? `seq gap: expected ${this.expectedSeq}, found ${row.seq} (rows ${this.expectedSeq}..${row.seq - 1} are missing)`
        : `seq out of order: expected ${this.expectedSeq}, found ${row.seq}`;
    }
    if (row.prevHash !== this.prevHash) {
      return `prevHash mismatch: row has ${row.prevHash}, previous row's hash is ${this.prevHash}`;
    }
    const event: NewAuditEvent = {
      ts: row.ts,
      type: row.type as AuditEventType,
      agentId: row.agentId,
      actionId: row.actionId,
      approvalId: row.approvalId,
      actor: row.actor,
    };
    // Fast path: stored data is the canonical text that was hashed.
    if (auditHash(row.prevHash, auditEventBody(row.seq, event, row.data, row.prevHash)) !== row.hash) {
      // By definition the hash covers the canonical JSON of the data, not its stored spelling.
      let data: unknown;
      try {
        data = JSON.parse(row.data);
      } catch {
        return 'hash mismatch: data is not valid JSON';
      }
      if (auditHash(row.prevHash, auditEventBody(row.seq, event, canonicalJson(data), row.prevHash)) !== row.hash) {
        return 'hash mismatch: the row was changed after it was written';
      }
    }
    this.expectedSeq = row.seq + 1;
    this.prevHash = row.hash;
    this.checked++;
    return undefined;
  }
}
