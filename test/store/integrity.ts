/**
 * Structural checks of a SQLite store file, for crash and multi-process tests: the chain verifies
 * and state and audit agree row for row (nothing half-written).
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

/** Assert the chain verifies and every state row has its event and vice versa; return the contents. */
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
    // Every state row points at its own event...
    expect(scalar(`SELECT COUNT(*) FROM actions a LEFT JOIN audit_events e ON e.seq = a.seq
                   WHERE e.seq IS NULL OR e.type <> 'action.evaluated' OR e.action_id <> a.action_id`)).toBe(0);
    expect(scalar(`SELECT COUNT(*) FROM outcomes o LEFT JOIN audit_events e ON e.seq = o.seq
                   WHERE e.seq IS NULL OR e.type NOT IN ('action.completed', 'action.failed') OR e.action_id <> o.action_id`)).toBe(0);
    // ...every hot event has its state row...
    expect(scalar(`SELECT COUNT(*) FROM audit_events e WHERE e.type = 'action.evaluated'
                   AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.seq = e.seq)`)).toBe(0);
    expect(scalar(`SELECT COUNT(*) FROM audit_events e WHERE e.type IN ('action.completed', 'action.failed')
                   AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.seq = e.seq)`)).toBe(0);
    expect(scalar(`SELECT COUNT(*) FROM audit_events e WHERE e.type = 'approval.requested'
                   AND NOT EXISTS (SELECT 1 FROM approvals p WHERE p.approval_id = e.approval_id)`)).toBe(0);
    expect(scalar(`SELECT COUNT(*) FROM approvals p
                   WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.type = 'approval.requested' AND e.approval_id = p.approval_id)`)).toBe(0);
    // ...and an outcome always comes after its decision.
    expect(scalar(`SELECT COUNT(*) FROM outcomes o JOIN actions a ON a.action_id = o.action_id WHERE o.seq <= a.seq`)).toBe(0);
    const ids = (sql: string): Set<string> => new Set(db.prepare(sql).pluck().all() as string[]);
    return {
      actionIds: ids('SELECT action_id FROM actions'),
      outcomeIds: ids('SELECT action_id FROM outcomes'),
      approvalActionIds: ids('SELECT action_id FROM approvals'),
      events: scalar('SELECT COUNT(*) FROM audit_events'),
    };
  } finally {
    db.close();
  }
}
