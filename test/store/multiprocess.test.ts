/**
 * Several real processes on one SQLite file: concurrent first opens (migrations), and two
 * approvers racing for the same approvals (the CLI in one terminal, the dashboard in another).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { ROOT, TSX_IMPORT, runNode, tempDir } from '../helpers.js';
import { expectConsistent } from './integrity.js';
import { makePending } from './records.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Start a fixture; resolves with a handle once it printed `ready`. */
function startChild(script: string, args: string[]): Promise<{ done: Promise<{ code: number | null; stdout: string; stderr: string }> }> {
  return new Promise((resolveReady, rejectReady) => {
    const child = spawn(process.execPath, ['--import', TSX_IMPORT, path.join(ROOT, script), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let ready = false;
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      child.on('close', (code) => {
        if (!ready) rejectReady(new Error(`child exited before ready: ${stderr}`));
        resolve({ code, stdout, stderr });
      });
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!ready && stdout.includes('ready\n')) {
        ready = true;
        resolveReady({ done });
      }
    });
  });
}

describe('several processes on one file', () => {
  it('opens a new file from four processes at once (migrations run once) and keeps one chain', async () => {
    const dir = tempDir('ascend-mp-');
    dirs.push(dir);
    const file = path.join(dir, 'ascend.db');
    const runs = await Promise.all(Array.from({ length: 4 }, () => runNode('test/store/fixtures/writer.ts', [file, 'sync', '60'])));
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const contents = await expectConsistent(file);
    expect(contents.actionIds.size).toBe(240);
  });

  it('lets exactly one of two approver processes decide each approval', async () => {
    const dir = tempDir('ascend-mp-');
    dirs.push(dir);
    const file = path.join(dir, 'ascend.db');
    const store = openSqliteStore(file);
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const { action, approval } = makePending({ createdAt: new Date().toISOString() });
      await store.recordDecision(action, approval);
      ids.push(approval.approvalId);
    }
    const idsFile = path.join(dir, 'ids.txt');
    fs.writeFileSync(idsFile, ids.join('\n'));
    const approver = await startChild('test/store/fixtures/approver.ts', [file, idsFile, 'approved', 'alice']);
    const rejecter = await startChild('test/store/fixtures/approver.ts', [file, idsFile, 'rejected', 'bob']);
    fs.writeFileSync(`${idsFile}.go`, '');
    const [a, b] = await Promise.all([approver.done, rejecter.done]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const outcome = new Map<string, string[]>();
    for (const [who, out] of [['alice', a.stdout], ['bob', b.stdout]] as const) {
      for (const line of out.split('\n')) {
        const [verdict, id, code] = line.split(' ');
        if (verdict === 'won' && id) outcome.set(id, [...(outcome.get(id) ?? []), who]);
        if (verdict === 'lost') expect(code).toBe('conflict');
      }
    }
    for (const id of ids) {
      const winners = outcome.get(id) ?? [];
      expect(winners, id).toHaveLength(1);
      const stored = await store.getApproval(id);
      expect(stored?.decidedBy).toBe(winners[0]);
      expect(stored?.status).toBe(winners[0] === 'alice' ? 'approved' : 'rejected');
    }
    const decisions = await store.readAudit({ types: ['approval.approved', 'approval.rejected'] });
    expect(decisions).toHaveLength(ids.length);
    await store.close();
    await expectConsistent(file);
  });
});
