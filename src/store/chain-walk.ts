/**
 * One verification of a stored chain, fed row by row by the store that reads them: the hash
 * links (audit-chain.ts), the counts by type, and at the end the cross-check of the tables
 * (audit-cross-check.ts). It may start at a verified point — a checkpoint — instead of seq 1:
 * the event the start names must be in the chain with the hash it names.
 */
import type { AuditVerification, ChainStart } from '../core/types.js';
import { AuditChainVerifier, GENESIS_HASH, type StoredAuditRow } from './audit-chain.js';
import { type ArchivedPart, type ChainFault, ChainTally, crossCheckTables, type TableFigures } from './audit-cross-check.js';
import type { AuditBase } from './store.js';

/** The whole chain: start before seq 1. */
export const CHAIN_BEGINNING: ChainStart = { seq: 0, hash: GENESIS_HASH, counts: {} };

/** The base of a store nothing was archived from. */
export const NOTHING_ARCHIVED: AuditBase = { ...CHAIN_BEGINNING, retained: {} };

/**
 * Where a walk asked to start at `from` starts in a store whose events through `base.seq` were
 * archived: at `from` when it is past the base, else at the base (what is before it is in the
 * archives: audit-archives.ts).
 */
export function effectiveStart(from: ChainStart, base: AuditBase): ChainStart {
  return from.seq > base.seq ? from : from.seq === base.seq ? { ...from, counts: base.counts } : base;
}

/** A walk over the rows after a start; feed {@link add} in seq order, then {@link finish}. */
export class ChainWalk {
  private readonly verifier: AuditChainVerifier;
  private readonly tally: ChainTally;
  private fault: ChainFault | undefined;

  /**
   * @param start where to begin: rows with `seq > start.seq` are walked (see {@link effectiveStart}).
   * @param figures the tables, read in the same snapshot as the rows.
   * @param base where the live chain starts (the last archived event), from the same snapshot.
   */
  constructor(
    private readonly start: ChainStart,
    private readonly figures: TableFigures,
    private readonly base: AuditBase = NOTHING_ARCHIVED,
  ) {
    this.verifier = new AuditChainVerifier(start.seq, start.hash);
    this.tally = new ChainTally(figures.actionIndex?.indexedThrough, start.counts);
  }

  /** Whether the walk still wants rows (it stops at the first bad one). */
  get going(): boolean {
    return this.fault === undefined;
  }

  /**
   * Check the event the start names (`row`: the stored row with `seq === start.seq`, or
   * undefined when there is none) against the chain's head. Call once, before the rows.
   */
  checkStart(row: StoredAuditRow | undefined, headSeq: number): void {
    const { seq, hash } = this.start;
    if (seq === 0) return;
    if (seq === this.base.seq) {
      // The start's event was archived: the base recorded its hash when it was removed.
      if (hash !== this.base.hash) {
        this.fault = { seq, reason: `forked: the archived part of the chain ends at seq ${seq} with hash ${this.base.hash} but a checkpoint names ${hash}` };
      }
      return;
    }
    if (headSeq < seq) {
      this.fault = { seq: headSeq + 1, reason: `truncated: the chain ends at seq ${headSeq} but a checkpoint names seq ${seq} (hash ${hash})` };
    } else if (row === undefined) {
      this.fault = { seq, reason: `event ${seq}, named by a checkpoint, is missing` };
    } else if (row.hash !== hash) {
      this.fault = {
        seq,
        reason: `forked: event ${seq} has hash ${row.hash} but a checkpoint names ${hash} (the chain was rewritten, reordered or replaced at or before seq ${seq})`,
      };
    } else {
      const changed = new AuditChainVerifier(seq - 1, row.prevHash).check(row);
      if (changed !== undefined) this.fault = { seq, reason: changed };
    }
  }

  /** Check the next row; returns whether the walk goes on. */
  add(row: StoredAuditRow): boolean {
    if (this.fault !== undefined) return false;
    const reason = this.verifier.check(row);
    if (reason !== undefined) {
      this.fault = { seq: row.seq, reason };
      return false;
    }
    this.tally.add(row.seq, row.type);
    return true;
  }

  /** The result, once every row up to the head was fed (or the walk stopped). */
  finish(head: readonly [seq: number, hash: string] | undefined): AuditVerification {
    const headSeq = head ? head[0] : 0;
    const archived: ArchivedPart = { counts: this.base.counts, retained: this.base.retained };
    const fault = this.fault ?? crossCheckTables(headSeq, this.tally, this.figures, archived);
    const result: AuditVerification = {
      ok: fault === undefined,
      checked: this.verifier.checked,
      headSeq,
      headHash: head ? head[1] : GENESIS_HASH,
      fromSeq: this.start.seq,
      counts: this.tally.counts(),
    };
    if (fault !== undefined) result.firstBad = fault;
    return result;
  }
}
