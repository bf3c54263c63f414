/**
 * Archiving loses nothing, and what it moves out can still be proven. The oldest events go to a
 * compressed file and leave the live store, which verifies from where it now starts; the
 * archives and the live chain verify as one chain from seq 1. Nothing still in use is archived
 * (an action or approval with later events, a pending approval, a webhook behind), a chain that
 * changed under the plan is not cut, and a missing, cut-short or altered archive, or a live store
 * whose start was moved, is reported — on a real SQLite file and the real PostgreSQL, through the
 * store and through the `ascend` command.
 */
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/core/errors.js';
import { archiveAudit } from '../../src/store/audit-archives.js';
import { createCheckpointKey, loadCheckpointKey, takeCheckpoint, verifyAuditTrail } from '../../src/store/audit-checkpoints.js';
import type { Store } from '../../src/store/store.js';
import { spawn } from 'node:child_process';
import { defaultDbPath, openSqliteStore } from '../../src/store/sqlite.js';
import { eventually, ROOT, runCli, tempDir, TEST_POLICY, TSX_IMPORT, writePolicy } from '../helpers.js';
import { at, makeAction, makeOutcome, makePending } from '../store/records.js';
import { fill, mountSmallDisk, unmountDisk } from './full-disk.js';
import { HEAD, type Target, useTamperBackends, writeTrail } from './tamper-targets.js';

const { backends, cleanups } = useTamperBackends();

function scratch(): string {
  const dir = tempDir('ascend-archive-');
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `n` decisions with outcomes, a second apart from `second`. */
async function calls(store: Store, n: number, second: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const action = makeAction({ createdAt: at(second + i) });
    await store.recordDecision(action);
    await store.recordOutcome(makeOutcome(action.actionId, { recordedAt: at(second + i) }));
    ids.push(action.actionId);
  }
  return ids;
}

/** The standard trail (seq 1–11, times 0–5 s), then 4 calls at 100–103 s (seq 12–19). */
async function history(store: Store): Promise<void> {
  await writeTrail(store);
  await calls(store, 4, 100);
}

const archive = (store: Store, file: string, beforeSecond: number) => archiveAudit(store, { before: at(beforeSecond), file, actor: 'ops', at: at(200) });

/** Rewrite a gzip JSON-lines archive's lines. */
function rewriteArchive(file: string, change: (lines: string[]) => string[]): void {
  const lines = gunzipSync(fs.readFileSync(file)).toString().trimEnd().split('\n');
  fs.writeFileSync(file, gzipSync(change(lines).join('\n') + '\n'));
}

describe.each(backends)('archives lose nothing ($name)', (backend) => {
  it('moves the oldest events out; the live chain verifies from its start, and with the archive as one chain from seq 1', async () => {
    const target = await backend.open(true, history);
    const before = await target.store.verifyAudit();
    const approvedActionId = (await target.store.listApprovals({ status: 'approved' }))[0]!.actionId;
    const approvedAction = await target.store.getAction(approvedActionId);
    expect(approvedAction).toBeDefined();
    const file = path.join(scratch(), 'a1.jsonl.gz');
    const summary = await archive(target.store, file, 50);
    expect(summary).toMatchObject({ afterSeq: 0, throughSeq: HEAD, events: HEAD, base: { seq: HEAD } });
    expect(await target.store.readAudit({ beforeSeq: HEAD + 1 })).toEqual([]);
    expect((await target.store.readAudit({ newestFirst: true, limit: 1 }))[0]).toMatchObject({ seq: 20, type: 'audit.archived', data: { afterSeq: 0, throughSeq: HEAD, events: HEAD } });

    const live = await verifyAuditTrail(target.store);
    expect(live).toMatchObject({ ok: true, fromSeq: HEAD, checked: 9, headSeq: 20, archivedThrough: HEAD });
    const whole = await verifyAuditTrail(target.store, { archives: [file] });
    expect(whole).toMatchObject({ ok: true, fromSeq: 0, checked: 20, archives: [{ file, afterSeq: 0, throughSeq: HEAD, events: HEAD, ok: true }] });
    expect(whole.counts).toEqual({ ...before.counts, 'audit.archived': 1 });
    // The approval and its grant stay in their tables; the agent is still registered.
    expect(await target.store.listApprovals({ status: 'approved' })).toHaveLength(1);
    expect(await target.store.listGrants()).toHaveLength(1);
    expect(await target.store.getAgent('agent-a')).toBeDefined();
    // PostgreSQL keeps the action an approval refers to (a foreign key), so it keeps its record
    // once the event holding it is archived; SQLite's action index lets it go with its events.
    expect(await target.store.getAction(approvedActionId)).toEqual(backend.name === 'postgres' ? approvedAction : undefined);
  });

  it('holds the cut before what is still in use: a pending approval, an action with a later outcome, a webhook behind', async () => {
    const target = await backend.open(true, async (store) => {
      await calls(store, 2, 0); // seq 1–4
      const { action, approval } = makePending({ createdAt: at(10) }, 10 * 365 * 86_400); // seq 5–6, pending for years
      await store.recordDecision(action, approval);
      await calls(store, 2, 20); // seq 7–10
    });
    const dir = scratch();
    expect(await archive(target.store, path.join(dir, 'a.jsonl.gz'), 50)).toMatchObject({ throughSeq: 4 });

    const lapsed = await backend.open(true, async (store) => {
      await calls(store, 2, 0); // seq 1–4
      const { action, approval } = makePending({ createdAt: at(10) }); // seq 5–6, expired long ago: nobody can answer or use it
      await store.recordDecision(action, approval);
      await calls(store, 2, 20); // seq 7–10
    });
    expect(await archive(lapsed.store, path.join(dir, 'a2.jsonl.gz'), 50)).toMatchObject({ throughSeq: 10 });

    const open = await backend.open(true, async (store) => {
      await calls(store, 1, 0); // seq 1–2
      const late = makeAction({ createdAt: at(5) }); // seq 3, its outcome at 60 s: seq 6
      await store.recordDecision(late);
      await calls(store, 1, 10); // seq 4–5
      await store.recordOutcome(makeOutcome(late.actionId, { recordedAt: at(60) }));
    });
    expect(await archive(open.store, path.join(dir, 'b.jsonl.gz'), 50)).toMatchObject({ throughSeq: 2 });

    const hooked = await backend.open(true, history);
    const outbox = hooked.outbox();
    await outbox.createWebhook({ webhookId: 'wh-1', org: 'default', url: 'https://example.test/hook', events: ['action.evaluated'], secret: 's'.repeat(16), createdAt: at(0), createdBy: 'test' });
    await hooked.tamper('UPDATE $S.webhooks SET cursor_seq = 7');
    expect(await archive(hooked.store, path.join(dir, 'c.jsonl.gz'), 50)).toMatchObject({ throughSeq: 7 });
    expect(await archive(hooked.store, path.join(dir, 'd.jsonl.gz'), 50)).toBeUndefined(); // nothing more until it catches up
  });

  it('does not cut a chain that changed under the plan: an outcome appended for an action the plan archives', async () => {
    let openAction = '';
    const target = await backend.open(true, async (store) => {
      await calls(store, 2, 0);
      const action = makeAction({ createdAt: at(5) }); // allowed, no outcome yet
      await store.recordDecision(action);
      openAction = action.actionId;
      await calls(store, 1, 100);
    });
    const plan = await target.store.planArchive(at(50));
    expect(plan).toMatchObject({ throughSeq: 5 });
    await target.store.recordOutcome(makeOutcome(openAction, { recordedAt: at(110) }));
    const err = await target.store.removeArchived(plan!, {}, 'ops', at(200)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toMatch(/belongs to the same action or approval as event 5/);
    expect((await target.store.auditBase()).seq).toBe(0);
    expect(await target.store.verifyAudit()).toMatchObject({ ok: true, headSeq: 8 });
  });

  it('reports a missing archive, an archive cut short, and an archived event changed', async () => {
    const target = await backend.open(true, history);
    const dir = scratch();
    const first = path.join(dir, 'first.jsonl.gz');
    const second = path.join(dir, 'second.jsonl.gz');
    await archive(target.store, first, 3); // seq 1–3
    await calls(target.store, 1, 300);
    expect(await archive(target.store, second, 150)).toMatchObject({ afterSeq: 3 });
    expect(await verifyAuditTrail(target.store, { archives: [second, first] })).toMatchObject({ ok: true });

    const missing = await verifyAuditTrail(target.store, { archives: [second] });
    expect(missing.firstBad).toEqual({ seq: 1, reason: 'missing archive: second.jsonl.gz starts after seq 3, but the archives before it end at seq 0 (events 1–3 are in none of them)' });
    const tail = await verifyAuditTrail(target.store, { archives: [first] });
    expect(tail.firstBad?.reason).toMatch(/^missing archive: the archives end at seq 3, the live chain starts after seq \d+/);

    rewriteArchive(second, (lines) => lines.slice(0, -2));
    const short = await verifyAuditTrail(target.store, { archives: [first, second] });
    expect(short.firstBad?.reason).toMatch(/^second\.jsonl\.gz ends at seq \d+, but its header says it holds the events through seq \d+ \(cut short\)$/);

    rewriteArchive(first, (lines) => lines.map((line, i) => (i === 2 ? line.replace('"agent-a"', '"agent-z"') : line)));
    const changed = await verifyAuditTrail(target.store, { archives: [first, second] });
    expect(changed.firstBad).toEqual({ seq: 2, reason: expect.stringMatching(/^first\.jsonl\.gz: hash mismatch/) });

    fs.writeFileSync(first, fs.readFileSync(first).subarray(0, 40)); // a damaged gzip
    const damaged = await verifyAuditTrail(target.store, { archives: [first, second] });
    expect(damaged.firstBad?.reason).toMatch(/^first\.jsonl\.gz cannot be read: .* \(cut short or damaged\)$/);
  });

  it("reports a live store whose start was moved past its archives (events deleted under cover of the base)", async () => {
    const target = await backend.open(true, history);
    const file = path.join(scratch(), 'a.jsonl.gz');
    await archive(target.store, file, 3); // seq 1–3
    const events = await target.store.readAudit();
    const hidden = events.find((e) => e.seq === 6)!;
    await target.tamper(`UPDATE $S.audit_base SET seq = 6, hash = '${hidden.hash}'; DELETE FROM $S.audit_events WHERE seq <= 6;`);
    const result = await verifyAuditTrail(target.store, { archives: [file] });
    expect(result.firstBad).toEqual({ seq: 4, reason: 'missing archive: the archives end at seq 3, the live chain starts after seq 6 (events 4–6 are in none of them)' });
  });

  it('after an archive the database still refuses to delete any live event', async () => {
    const target = await backend.open(true, history);
    const summary = await archive(target.store, path.join(scratch(), 'a.jsonl.gz'), 50);
    const firstLive = summary!.throughSeq + 1;
    await expect(target.write(`DELETE FROM $S.audit_events WHERE seq = ${firstLive}`)).rejects.toThrow(/append-only/);
    await expect(target.write('DELETE FROM $S.audit_events')).rejects.toThrow(/append-only/);
    expect(await verifyAuditTrail(target.store)).toMatchObject({ ok: true, headSeq: firstLive + 8 });
  });

  it('an archive that does not fit on its disk removes nothing and leaves no file', async () => {
    const target = await backend.open(true, history);
    const disk = mountSmallDisk(256 * 1024);
    cleanups.push(() => unmountDisk(disk));
    fill(disk);
    const file = path.join(disk, 'a.jsonl.gz');
    const err = await archive(target.store, file, 50).catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(fs.readdirSync(disk).filter((f) => !f.startsWith('filler'))).toEqual([]);
    expect((await target.store.auditBase()).seq).toBe(0);
    expect(await target.store.verifyAudit()).toMatchObject({ ok: true, checked: 19, headSeq: 19 });
  });

  it('events deleted under cover of a base moved by hand, with no archive taken, are reported', async () => {
    const target = await backend.open(true, history);
    const events = await target.store.readAudit();
    const hidden = events.find((e) => e.seq === 6)!;
    // The tamperer sets the counts and kept rows right, so every table still adds up.
    const counts = '{"action.completed":1,"action.evaluated":2,"agent.registered":1,"approval.approved":1,"approval.requested":1}';
    await target.tamper(`UPDATE $S.audit_base SET seq = 6, hash = '${hidden.hash}', counts = '${counts}', retained = '{"actions":2,"outcomes":1}'; DELETE FROM $S.audit_events WHERE seq <= 6;`);
    const result = await verifyAuditTrail(target.store);
    expect(result.firstBad).toEqual({ seq: 7, reason: 'the live chain starts after seq 6, but no audit.archived event records an archive: events were removed without an archive' });
  });

  it('a checkpoint in the archived part is matched in the archives, and named when they are not given', async () => {
    const target = await backend.open(true, history);
    const made = createCheckpointKey();
    await target.store.registerCheckpointKey(made, 'ops', at(150)); // seq 20
    const checkpoint = await takeCheckpoint(target.store, loadCheckpointKey(made.privateKeyPem, 'key'), 'ops', at(151)); // of seq 20
    await calls(target.store, 1, 300);
    const file = path.join(scratch(), 'a.jsonl.gz');
    expect(await archive(target.store, file, 250)).toMatchObject({ throughSeq: 21 });
    const given = [{ checkpoint, source: 'cp.json' }];
    const without = await verifyAuditTrail(target.store, { against: given, publicKeys: [made.publicKey] });
    expect(without.firstBad?.reason).toBe('event 20, named by cp.json, is archived (the live chain starts after seq 21): give its archives with --archive');
    const withArchive = await verifyAuditTrail(target.store, { against: given, publicKeys: [made.publicKey], archives: [file] });
    expect(withArchive).toMatchObject({ ok: true, against: [{ source: 'cp.json', seq: 20, ok: true }] });
  });

  it('through the ascend command: archive, then verify the archive and the live chain', async () => {
    const target: Target = await backend.open(true, history);
    const dir = scratch();
    const cli = (...args: string[]) => runCli([...args, '--db', target.db], { cwd: dir, env: { ...process.env, ASCEND_DB: '' } });
    const archived = await cli('audit', 'archive', '--before', at(50), '--out', 'audit-1.jsonl.gz');
    expect(archived.code, archived.stderr).toBe(0);
    expect(archived.stdout).toBe(`archived ${HEAD} events (seq 1–${HEAD}) to audit-1.jsonl.gz; the live chain now starts after seq ${HEAD}\n`);
    const again = await cli('audit', 'archive', '--before', at(50), '--out', 'audit-1.jsonl.gz');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already exists: an archive is never overwritten');
    const verified = await cli('audit', 'verify', '--archive', 'audit-1.jsonl.gz');
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`ok: ${HEAD} archived events (seq 1–${HEAD}) in ${path.join(dir, 'audit-1.jsonl.gz')}\n`);
    expect(verified.stdout).toContain('ok: 20 events (the archives and the live chain, from seq 1), head 20 ');
    const live = await cli('audit', 'verify');
    expect(live.stdout).toContain(`(the live chain, after seq ${HEAD})`);
    expect(live.stdout).toContain(`note: events 1–${HEAD} are archived; verify them with --archive FILE…`);
    fs.rmSync(path.join(dir, 'audit-1.jsonl.gz'));
    const gone = await cli('audit', 'verify', '--archive', 'audit-1.jsonl.gz');
    expect(gone.code).toBe(2);
  });
});

describe('archives lose nothing while an agent writes (SQLite, real processes)', () => {
  it("an agent process's calls during `ascend audit archive` are all kept, and the archive and the live chain verify as one", async () => {
    const dir = scratch();
    const dataDir = path.join(dir, '.ascend');
    fs.mkdirSync(dataDir);
    const seed = openSqliteStore(defaultDbPath(dataDir));
    await calls(seed, 300, 0); // 600 old events, 2026-03-01
    await seed.close();
    const policy = writePolicy(dir, TEST_POLICY);
    const agent = spawn(process.execPath, ['--import', TSX_IMPORT, path.join(ROOT, 'test/adversarial/fixtures/steady-agent.ts'), dataDir, policy, 'batched'], {
      env: { ...process.env, STOP_FILE: path.join(dir, 'stop') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    agent.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => agent.once('exit', resolve));
    cleanups.push(() => {
      if (agent.exitCode === null) agent.kill('SIGKILL');
    });
    await eventually(() => out.includes('started'), 30_000);
    const archived = await runCli(['audit', 'archive', '--before', '2026-06-01', '--out', 'old.jsonl.gz', '--data-dir', dataDir], { cwd: dir });
    expect(archived.code, archived.stderr).toBe(0);
    expect(archived.stdout).toMatch(/^archived 600 events \(seq 1–600\) to old\.jsonl\.gz/);
    fs.writeFileSync(path.join(dir, 'stop'), '');
    expect(await exited, err).toBe(0);
    const { allowed } = JSON.parse(out.trim().split('\n').pop()!) as { allowed: number };

    const store = openSqliteStore(defaultDbPath(dataDir));
    try {
      const trail = await verifyAuditTrail(store, { archives: [path.join(dir, 'old.jsonl.gz')] });
      expect(trail).toMatchObject({ ok: true, archivedThrough: 600 });
      // Every call the agent made has its decision and its outcome in the live chain.
      expect(trail.counts['action.evaluated']).toBe(300 + allowed);
      expect(trail.counts['action.completed']).toBe(300 + allowed);
      const live = await store.readAudit({ agentId: 'steady', types: ['action.evaluated'] });
      expect(live).toHaveLength(allowed);
      // The archive ran while the agent was writing: its calls are on both sides of it.
      const archivedAt = (await store.readAudit({ types: ['audit.archived'] }))[0]!.seq;
      expect(live.some((e) => e.seq > archivedAt)).toBe(true);
      expect(live.some((e) => e.seq < archivedAt)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
