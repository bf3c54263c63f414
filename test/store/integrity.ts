/**
 * Structural checks of a SQLite store file, for crash and multi-process tests: the chain verifies
 * and state, index and audit agree row for row (nothing half-written).
 */
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.js';

/** What is in the file. */
export interface FileContents {
  actionIds: Set<string>;
  outcomeIds: Set<string>;
  approvalActionIds: Set<string>;
  events: number;
}

/** Assert the chain verifies and state, index and events agree; return the contents. */
export async function expectConsistent(file: string): Promise<FileContents> {
  const store = openSqliteStore(file);
  try {
    const verification = await store.verifyAudit();
    expect(verification, JSON.stringify(verification)).toMatchObject({ ok: true });
  } finally {
    await store.close();
  }
  const db = new Database(file, { readonly: true });
  try {
    const scalar = (sql: string): number => db.prepare(sql).pluck().get() as number;
    // Each action has one decision event, at most one outcome event, and the outcome comes after.
    expect(scalar(`SELECT COUNT(*) FROM (SELECT action_id FROM audit_events WHERE type = 'action.evaluated'
                   GROUP BY action_id HAVING COUNT(*) > 1)`)).toBe(0);
    expect(scalar(`SELECT COUNT(*) FROM (SELECT action_id FROM audit_events WHERE type IN ('action.completed', 'action.failed')
                   GROUP BY action_id HAVING COUNT(*) > 1)`)).toBe(0);
    expect(scalar(`SELECT COUNT(*) FROM audit_events o WHERE o.type IN ('action.completed', 'action.failed')
                   AND NOT EXISTS (SELECT 1 FROM audit_events d WHERE d.type = 'action.evaluated' AND d.action_id = o.action_id AND d.seq < o.seq)`)).toBe(0);
    // The action index agrees with the chain up to the point it claims to cover...
    const indexedThrough = scalar(`SELECT value FROM store_meta WHERE key = 'indexed_through'`);
    expect(scalar(`SELECT COUNT(*) FROM action_index i LEFT JOIN audit_events e ON e.seq = i.decision_seq
                   WHERE e.seq IS NULL OR e.type <> 'action.evaluated' OR e.action_id <> i.action_id OR e.agent_id <> i.agent_id`)).toBe(0);
    expect(scalar(`SELECT COUNT(*) FROM action_index i LEFT JOIN audit_events e ON e.seq = i.outcome_seq
                   WHERE i.outcome_seq IS NOT NULL AND (e.seq IS NULL OR e.type NOT IN ('action.completed', 'action.failed') OR e.action_id <> i.action_id)`)).toBe(0);
    // ...and covers every hot event up to there.
    expect(scalar(`SELECT COUNT(*) FROM audit_events e WHERE e.seq <= ${indexedThrough} AND e.type = 'action.evaluated'
                   AND NOT EXISTS (SELECT 1 FROM action_index i WHERE i.decision_seq = e.seq)`)).toBe(0);
    expect(scalar(`SELECT COUNT(*) FROM audit_events e WHERE e.seq <= ${indexedThrough} AND e.type IN ('action.completed', 'action.failed')
                   AND NOT EXISTS (SELECT 1 FROM action_index i WHERE i.outcome_seq = e.seq)`)).toBe(0);
    // Approval rows and their request events match one for one.
    expect(scalar(`SELECT COUNT(*) FROM audit_events e WHERE e.type = 'approval.requested'
                   AND NOT EXISTS (SELECT 1 FROM approvals p WHERE p.approval_id = e.approval_id)`)).toBe(0);
    expect(scalar(`SELECT COUNT(*) FROM approvals p
                   WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.type = 'approval.requested' AND e.approval_id = p.approval_id)`)).toBe(0);
    const ids = (sql: string): Set<string> => new Set(db.prepare(sql).pluck().all() as string[]);
    return {
      actionIds: ids(`SELECT action_id FROM audit_events WHERE type = 'action.evaluated'`),
      outcomeIds: ids(`SELECT action_id FROM audit_events WHERE type IN ('action.completed', 'action.failed')`),
      approvalActionIds: ids('SELECT action_id FROM approvals'),
      events: scalar('SELECT COUNT(*) FROM audit_events'),
    };
  } finally {
    db.close();
  }
}
