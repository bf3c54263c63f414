/**
 * Real crashes: a child process writes in a loop, printing each record it has been told is
 * durable; we SIGKILL it mid-stream, reopen the file and check that every acknowledged record is
 * there and that nothing is half-written.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, TSX_IMPORT, runNode, tempDir } from '../helpers.js';
import { expectConsistent } from './integrity.js';

const WRITER = path.join(ROOT, 'test/store/fixtures/writer.ts');
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Acks {
  decisions: string[];
  outcomes: string[];
  pending: string[];
}

/** Run the writer until `minAcked` decisions are acknowledged, then SIGKILL it. */
function runAndKill(file: string, mode: 'sync' | 'batched', minAcked: number): Promise<Acks> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX_IMPORT, WRITER, file, mode], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const acks: Acks = { decisions: [], outcomes: [], pending: [] };
    let buffered = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer did not acknowledge ${minAcked} records in time; stderr: ${stderr}`));
    }, 25_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [kind, id] = line.split(' ');
        if (kind === 'D' && id) acks.decisions.push(id);
        else if (kind === 'O' && id) acks.outcomes.push(id);
        else if (kind === 'P' && id) acks.pending.push(id);
      }
      if (!killed && acks.decisions.length >= minAcked) {
        killed = true;
        child.kill('SIGKILL'); // mid-stream: the writer is still looping
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited on its own (code ${code}); stderr: ${stderr}`));
      // Lines already in the pipe when it died were acknowledged before it died.
      for (const line of buffered.split('\n')) {
        const [kind, id] = line.split(' ');
        if (kind === 'D' && id) acks.decisions.push(id);
        else if (kind === 'O' && id) acks.outcomes.push(id);
        else if (kind === 'P' && id) acks.pending.push(id);
      }
      resolve(acks);
    });
  });
}

function missing(expected: string[], present: Set<string>): string[] {
  return expected.filter((id) => !present.has(id));
}

describe('crash safety (kill -9 of a real writer process)', () => {
  for (const mode of ['sync', 'batched'] as const) {
    it(`${mode}: every acknowledged record survives and nothing is half-written`, async () => {
      const dir = tempDir('ascend-crash-');
      dirs.push(dir);
      const file = path.join(dir, 'ascend.db');
      const acks = await runAndKill(file, mode, 400);
      expect(acks.decisions.length).toBeGreaterThanOrEqual(400);
      expect(acks.pending.length).toBeGreaterThan(0);
      const contents = await expectConsistent(file);
      expect(missing(acks.decisions, contents.actionIds)).toEqual([]);
      expect(missing(acks.outcomes, contents.outcomeIds)).toEqual([]);
      expect(missing(acks.pending, contents.approvalActionIds)).toEqual([]);
      expect(missing(acks.pending, contents.actionIds)).toEqual([]);
    });
  }

  it("batched: a normal process.exit() commits the queue through the 'exit' hook", async () => {
    const dir = tempDir('ascend-crash-');
    dirs.push(dir);
    const file = path.join(dir, 'ascend.db');
    // 200 actions with a 60 s interval and a huge batch limit: only pending ones and the exit hook commit.
    const run = await runNode('test/store/fixtures/writer.ts', [file, 'batched', '200', 'exit']);
    expect(run.code, run.stderr).toBe(0);
    const contents = await expectConsistent(file);
    expect(contents.actionIds.size).toBe(200);
    expect(contents.outcomeIds.size).toBe(190); // every 20th is pending, without an outcome
  });
});
