/**
 * Signed checkpoints catch what a database can hide from its own chain. The tamperer has the
 * database (triggers dropped) but not the checkpoint key: they cut the chain below a checkpoint,
 * rewrite it from some event on and re-hash every later row so it still links (which a full walk
 * cannot see), reorder events, delete table rows, or plant checkpoints signed by a key of their
 * own. A verification from the newest checkpoint, or against a copy kept outside the database,
 * reports each — on a real SQLite file and on the real PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical.js';
import { AuditChainError, ValidationError } from '../../src/core/errors.js';
import { auditEventBody, auditHash } from '../../src/store/audit-chain.js';
import {
  createCheckpointKey,
  loadCheckpointKey,
  signCheckpoint,
  takeCheckpoint,
  verifyAuditTrail,
  type CheckpointKey,
} from '../../src/store/audit-checkpoints.js';
import type { Store } from '../../src/store/store.js';
import type { AuditCheckpoint } from '../../src/core/types.js';
import { at, makeAction, makeOutcome } from '../store/records.js';
import { HEAD, type Target, useTamperBackends, writeTrail } from './tamper-targets.js';

const { backends } = useTamperBackends();

/** A registered key, as `ascend keys checkpoint-key create` leaves it. */
async function registeredKey(store: Store): Promise<CheckpointKey> {
  const made = createCheckpointKey();
  await store.registerCheckpointKey(made, 'ops', at(20));
  return loadCheckpointKey(made.privateKeyPem, 'test key');
}

/** More hot events after the standard trail: `n` decisions with outcomes. */
async function moreCalls(store: Store, n: number, minute: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const action = makeAction({ createdAt: at(minute + i) });
    await store.recordDecision(action);
    await store.recordOutcome(makeOutcome(action.actionId, { recordedAt: at(minute + i) }));
  }
}

/**
 * The standard trail (11 events), a key (12), a checkpoint of seq 12 (its event: 13), then three
 * more calls (14–19).
 */
async function checkpointedTrail(store: Store): Promise<{ key: CheckpointKey; checkpoint: AuditCheckpoint }> {
  const key = await registeredKey(store);
  const checkpoint = await takeCheckpoint(store, key, 'ops', at(21));
  await moreCalls(store, 3, 22);
  return { key, checkpoint };
}

const sqlString = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/**
 * Change event `fromSeq`'s data and re-hash it and every later row so the chain still links:
 * what a tamperer with the database (but not the key) can always do.
 */
async function rewriteFrom(target: Target, fromSeq: number, change: (data: Record<string, unknown>) => void): Promise<void> {
  const events = await target.store.readAudit();
  let prevHash = events.find((e) => e.seq === fromSeq - 1)?.hash;
  const statements: string[] = [];
  for (const event of events.filter((e) => e.seq >= fromSeq)) {
    const data = structuredClone(event.data);
    if (event.seq === fromSeq) change(data);
    const dataJson = canonicalJson(data);
    const hash = auditHash(prevHash!, auditEventBody(event.seq, event, dataJson, prevHash!));
    statements.push(`UPDATE $S.audit_events SET data = ${sqlString(dataJson)}, prev_hash = '${prevHash}', hash = '${hash}' WHERE seq = ${event.seq};`);
    prevHash = hash;
  }
  await target.tamper(statements.join('\n'));
}

describe.each(backends)('checkpoints catch what the database hides ($name)', (backend) => {
  it('a verification starts at the newest checkpoint and counts what it walked on top of the checkpoint’s counts', async () => {
    const target = await backend.open(true, writeTrail);
    const { key, checkpoint } = await checkpointedTrail(target.store);
    expect(checkpoint.seq).toBe(HEAD + 1);
    const fromCheckpoint = await verifyAuditTrail(target.store, { publicKeys: [key.publicKey] });
    const full = await verifyAuditTrail(target.store, { full: true });
    expect(fromCheckpoint).toMatchObject({ ok: true, headSeq: 19, fromSeq: 12, checked: 7, startedFrom: { seq: 12, keyId: checkpoint.keyId, source: 'the chain' } });
    expect(full).toMatchObject({ ok: true, headSeq: 19, fromSeq: 0, checked: 19 });
    expect(full.startedFrom).toBeUndefined();
    expect(fromCheckpoint.counts).toEqual(full.counts);
    expect(full.counts).toMatchObject({ 'action.evaluated': 7, 'audit.checkpoint': 1, 'audit.checkpoint_key': 1 });
  });

  it('a chain that does not verify is never signed', async () => {
    const target = await backend.open(true, writeTrail);
    const key = await registeredKey(target.store);
    await target.tamper('DELETE FROM $S.audit_events WHERE seq = 5');
    const err = await takeCheckpoint(target.store, key, 'ops', at(21)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditChainError);
    expect((err as AuditChainError).firstBad).toEqual({ seq: 6, reason: expect.stringMatching(/seq gap/) });
    expect(await target.store.readAudit({ types: ['audit.checkpoint'] })).toEqual([]);
  });

  it('without a key held outside the database, verification walks the whole chain: a registered key is not trusted for being there', async () => {
    const target = await backend.open(true, writeTrail);
    const { key } = await checkpointedTrail(target.store);
    expect(await verifyAuditTrail(target.store)).toMatchObject({ ok: true, fromSeq: 0, checked: 19 });
    expect((await verifyAuditTrail(target.store)).startedFrom).toBeUndefined();
    expect(await verifyAuditTrail(target.store, { publicKeys: [key.publicKey] })).toMatchObject({ ok: true, fromSeq: 12 });
  });

  it('a chain rewritten and re-hashed below the checkpoint is forked from it (a full walk alone cannot see it)', async () => {
    const target = await backend.open(true, writeTrail);
    const { key, checkpoint } = await checkpointedTrail(target.store);
    await rewriteFrom(target, 8, (data) => (data.resource = 'innocent_table'));
    expect(await verifyAuditTrail(target.store, { full: true })).toMatchObject({ ok: true }); // links, end to end
    const result = await verifyAuditTrail(target.store, { publicKeys: [key.publicKey] });
    expect(result.ok).toBe(false);
    expect(result.firstBad).toEqual({ seq: 12, reason: expect.stringMatching(/^forked: event 12 has hash [0-9a-f]{64} but a checkpoint names /) });
    // The tamperer also rewrites the checkpoint event itself: the copy kept outside still holds.
    await rewriteFrom(target, 13, (data) => (data.hash = '0'.repeat(64)));
    const against = await verifyAuditTrail(target.store, { against: [{ checkpoint, source: 'checkpoint.json' }], publicKeys: [key.publicKey] });
    expect(against.ok).toBe(false);
    expect(against.firstBad?.reason).toMatch(/^forked: event 12 has hash [0-9a-f]{64} but checkpoint\.json names [0-9a-f]{64}/);
    expect(against.skippedCheckpoints).toEqual([{ eventSeq: 13, reason: 'its signature does not verify' }]);
    expect(against.against).toEqual([{ source: 'checkpoint.json', seq: 12, ok: false }]);
  });

  it('a chain cut below a checkpoint kept outside is reported as truncated', async () => {
    const target = await backend.open(true, writeTrail);
    const { key, checkpoint } = await checkpointedTrail(target.store);
    await target.tamper(
      'DELETE FROM $S.audit_events WHERE seq > 9;' +
        (backend.name === 'sqlite' ? "UPDATE store_meta SET value = 9 WHERE key = 'indexed_through'; DELETE FROM action_index WHERE decision_seq > 9;" : 'DELETE FROM $S.outcomes WHERE action_id NOT IN (SELECT action_id FROM $S.audit_events WHERE type = \'action.completed\');' +
            'DELETE FROM $S.actions WHERE action_id NOT IN (SELECT action_id FROM $S.audit_events WHERE type = \'action.evaluated\');'),
    );
    // Without the public key kept with the copy, the copy vouches for nothing.
    const untrusted = await verifyAuditTrail(target.store, { against: [{ checkpoint, source: 'backup/checkpoint.json' }] }).catch((e: unknown) => e);
    expect((untrusted as Error).message).toMatch(/^backup\/checkpoint\.json cannot be trusted: it is signed by key ck_[0-9a-f]{16}, which is not a trusted checkpoint key/);
    const result = await verifyAuditTrail(target.store, { against: [{ checkpoint, source: 'backup/checkpoint.json' }], publicKeys: [key.publicKey] });
    expect(result).toMatchObject({ ok: false, headSeq: 9 });
    expect(result.firstBad).toEqual({ seq: 10, reason: 'truncated: the chain ends at seq 9 but backup/checkpoint.json names seq 12' });
    expect(result.against).toEqual([{ source: 'backup/checkpoint.json', seq: 12, ok: false }]);
  });

  it('events reordered after the newest checkpoint are caught by the default verification; before it, by --full', async () => {
    const target = await backend.open(true, writeTrail);
    const { key } = await checkpointedTrail(target.store);
    const trusted = { publicKeys: [key.publicKey] };
    const swap = (a: number, b: number): string =>
      `UPDATE $S.audit_events SET seq = -1 WHERE seq = ${a}; UPDATE $S.audit_events SET seq = ${a} WHERE seq = ${b}; UPDATE $S.audit_events SET seq = ${b} WHERE seq = -1;`;
    await target.tamper(swap(16, 17));
    expect((await verifyAuditTrail(target.store, trusted)).firstBad?.seq).toBe(16);
    await target.tamper(swap(16, 17) + swap(9, 10)); // put the first back; now below the checkpoint
    expect((await verifyAuditTrail(target.store, trusted)).ok).toBe(true);
    expect((await verifyAuditTrail(target.store, { ...trusted, full: true })).firstBad?.seq).toBe(9);
  });

  it('rows deleted from a table after the checkpoint are still counted against the chain', async () => {
    const target = await backend.open(true, writeTrail);
    const { key } = await checkpointedTrail(target.store);
    await target.tamper('DELETE FROM $S.grants; DELETE FROM $S.approvals;');
    const result = await verifyAuditTrail(target.store, { publicKeys: [key.publicKey] });
    expect(result).toMatchObject({ ok: false, fromSeq: 12 });
    expect(result.firstBad?.reason).toMatch(/the chain has 1 approval\.requested event .* but approvals holds only 0 rows: rows were deleted from approvals/);
  });

  it('a checkpoint planted with a key of the tamperer’s own, registered in the chain too, is passed over', async () => {
    const target = await backend.open(true, writeTrail);
    const { key } = await checkpointedTrail(target.store);
    const plantedKey = createCheckpointKey();
    const planted = loadCheckpointKey(plantedKey.privateKeyPem, 'planted');
    await target.store.registerCheckpointKey(plantedKey, 'intruder', at(39)); // seq 20: registered, as a real key would be
    const head = (await target.store.verifyAudit()) as { headSeq: number; headHash: string; counts: Record<string, number> };
    await target.store.recordCheckpoint(signCheckpoint(head, planted, at(40)), 'intruder', at(40)); // seq 21
    const result = await verifyAuditTrail(target.store, { publicKeys: [key.publicKey] });
    expect(result).toMatchObject({ ok: true, fromSeq: 12, skippedCheckpoints: [{ eventSeq: 21, reason: expect.stringMatching(/not a trusted checkpoint key/) }] });
    const trusting = await verifyAuditTrail(target.store, { publicKeys: [planted.publicKey] });
    expect(trusting).toMatchObject({ ok: true, fromSeq: 20, checked: 1, skippedCheckpoints: [] });
  });

  it('a checkpoint file changed after signing is refused, naming it', async () => {
    const target = await backend.open(true, writeTrail);
    const { key, checkpoint } = await checkpointedTrail(target.store);
    const forged = { ...checkpoint, seq: 11 };
    const err = await verifyAuditTrail(target.store, { against: [{ checkpoint: forged, source: 'forged.json' }], publicKeys: [key.publicKey] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe('forged.json cannot be trusted: its signature does not verify');
  });
});

describe('checkpoints on SQLite', () => {
  it("the action index past the checkpoint is checked against the walk; below it, by --full", async () => {
    let publicKey = '';
    const target = await backends[0].open(true, async (store) => {
      await writeTrail(store);
      publicKey = (await checkpointedTrail(store)).key.publicKey; // the store closes cleanly: every decision is indexed
    });
    const trusted = { publicKeys: [publicKey] };
    expect(await verifyAuditTrail(target.store, trusted)).toMatchObject({ ok: true, fromSeq: 12 });
    await target.tamper('DELETE FROM action_index WHERE decision_seq = 16');
    expect((await verifyAuditTrail(target.store, trusted)).firstBad?.reason).toMatch(/^action_index does not match the chain/);
    await target.tamper("INSERT INTO action_index (action_id, agent_id, decision_seq, outcome_seq) SELECT action_id, agent_id, seq, seq + 1 FROM audit_events WHERE seq = 16; DELETE FROM action_index WHERE decision_seq = 2");
    expect((await verifyAuditTrail(target.store, trusted)).ok).toBe(true);
    expect((await verifyAuditTrail(target.store, { ...trusted, full: true })).firstBad?.reason).toMatch(/^action_index does not match the chain/);
  });
});
