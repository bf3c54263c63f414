/**
 * Promise: a policy file caught half-written never decides a call. Written in pieces, a file is
 * for a moment a shorter policy that still loads — the first rules without the deny rule after
 * them. The client reads a changed file only once it has stopped changing, so no prefix is ever in
 * force: every call is decided by the old policy or by the whole new one, and the switch is
 * recorded once.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, openSqliteStore } from '../../src/index.js';
import { captureLogs, eventually, sleep, tempDir, writePolicy } from '../helpers.js';

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/** In force at the start: drops are refused, and so is everything else. */
const STRICT = 'version: 1\ndefault: deny\nrules:\n  - id: no-drops\n    actions: ["db.drop"]\n    effect: deny\n';
/** The new policy: everything is allowed but drops — whose rule comes last. Every prefix cut at a
 * rule loads, and allows drops. */
const RULES = Array.from({ length: 200 }, (_, i) => `  - id: allow-${i}\n    actions: ["tool.${i}"]\n    effect: allow\n`);
const NEXT = `version: 1\ndefault: allow\nrules:\n${RULES.join('')}  - id: no-drops\n    actions: ["db.drop"]\n    effect: deny\n`;

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** Write `text` to `file` in pieces (one rule at a time, 2 ms apart) from another process. */
function writeInPieces(file: string, pieces: string[]): Promise<void> {
  const script = `
    const fs = require('node:fs');
    const pieces = JSON.parse(process.argv[2]);
    const fd = fs.openSync(process.argv[1], 'w');
    let i = 0;
    const next = () => {
      if (i === pieces.length) { fs.closeSync(fd); return; }
      fs.writeSync(fd, pieces[i++]);
      setTimeout(next, 2);
    };
    next();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, file, JSON.stringify(pieces)], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited with ${code}`))));
  });
}

describe('a policy file written in pieces', () => {
  it('never puts a prefix in force: no drop runs while it is written, and one switch is recorded', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, '.ascend');
    const file = writePolicy(dir, STRICT);
    const client = new AscendClient({ agentId: 'dba', policy: file, dataDir, logDestination: captureLogs().destination });
    clients.push(client);
    const drop = { actionType: 'db.drop', resource: 'prod', parameters: { table: 'users' } };
    expect((await client.evaluateAction(drop)).decision).toBe('denied');

    const pieces = ['version: 1\ndefault: allow\nrules:\n', ...RULES, '  - id: no-drops\n    actions: ["db.drop"]\n    effect: deny\n'];
    expect(pieces.join('')).toBe(NEXT);
    let writing = true;
    const written = writeInPieces(file, pieces).finally(() => {
      writing = false;
    });
    const allowed: string[] = [];
    let asked = 0;
    while (writing || client.policyVersion !== sha256(NEXT)) {
      const d = await client.evaluateAction(drop);
      asked++;
      if (d.decision !== 'denied') allowed.push(`${d.decision} under ${d.policyVersion}`);
      await sleep(1);
      if (!writing) await eventually(() => client.policyVersion === sha256(NEXT));
    }
    await written;
    expect(asked).toBeGreaterThan(10);
    expect(allowed).toEqual([]);
    expect((await client.evaluateAction({ actionType: 'tool.7', resource: 'r', parameters: {} })).decision).toBe('allowed');

    const store = openSqliteStore(path.join(dataDir, 'ascend.db'));
    try {
      const changes = await eventually(async () => {
        const events = await store.readAudit({ types: ['policy.changed'] });
        return events.length > 0 ? events : undefined;
      });
      expect(changes.map((e) => (e.data as { to: string }).to)).toEqual([sha256(NEXT)]);
    } finally {
      await store.close();
    }
  }, 30_000);
});
