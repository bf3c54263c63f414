/**
 * Promise: the compiled-policy cache (src/policy/cache.ts) never decides a call its file would
 * not. An entry serves only the exact text it was made from: a policy file edited between two
 * starts, or while a client runs, decides with the edit. And an entry that no longer compiles (a
 * condition changed in the data dir) denies the call that reaches it, never allows it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { POLICY_CACHE_FILE } from '../../src/policy/cache.js';
import { captureLogs, eventually, tempDir, writePolicy } from '../helpers.js';

const ALLOW_SELECTS = `version: 1
default: deny
rules:
  - id: selects
    actions: ["database.query"]
    when: 'parameters.query.matches(r"(?i)^select\\b")'
    effect: allow
`;
const NOTHING_ON_DATABASES = `version: 1
default: deny
rules:
  - id: selects
    actions: ["database.query"]
    when: 'parameters.query.matches(r"(?i)^select\\b") && false'
    effect: allow
`;

const dirs: string[] = [];
const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function client(dir: string): AscendClient {
  const c = new AscendClient({ agentId: 'analyst', policy: path.join(dir, 'ascend.policy.yaml'), dataDir: path.join(dir, '.ascend'), logDestination: captureLogs().destination });
  clients.push(c);
  return c;
}

const SELECT = { actionType: 'database.query', resource: 'crm', parameters: { query: 'SELECT 1' } };

describe('the compiled-policy cache', () => {
  it('an edit between two starts decides the second: the first text’s entry is not used', async () => {
    const dir = tempDir();
    dirs.push(dir);
    writePolicy(dir, ALLOW_SELECTS);
    const first = client(dir);
    expect((await first.evaluateAction(SELECT)).decision).toBe('allowed');
    await first.close();
    expect(fs.existsSync(path.join(dir, '.ascend', POLICY_CACHE_FILE))).toBe(true);

    writePolicy(dir, NOTHING_ON_DATABASES);
    const second = client(dir);
    const decision = await second.evaluateAction(SELECT);
    expect(decision.decision).toBe('denied');
    expect(second.policyVersion).not.toBe(first.policyVersion);
  });

  it('an edit while a client runs switches it, and the next start takes the edit from the cache', async () => {
    const dir = tempDir();
    dirs.push(dir);
    writePolicy(dir, ALLOW_SELECTS);
    const running = client(dir);
    expect((await running.evaluateAction(SELECT)).decision).toBe('allowed');
    writePolicy(dir, NOTHING_ON_DATABASES);
    await eventually(async () => (await running.evaluateAction(SELECT)).decision === 'denied');
    const entry = JSON.parse(fs.readFileSync(path.join(dir, '.ascend', POLICY_CACHE_FILE), 'utf8')) as { form: { policyVersion: string } };
    expect(entry.form.policyVersion).toBe(running.policyVersion);
    const next = client(dir);
    expect((await next.evaluateAction(SELECT)).decision).toBe('denied');
  });

  it('an entry whose condition no longer compiles denies the call, naming the rule', async () => {
    const dir = tempDir();
    dirs.push(dir);
    writePolicy(dir, ALLOW_SELECTS);
    await client(dir).close();
    const file = path.join(dir, '.ascend', POLICY_CACHE_FILE);
    const entry = JSON.parse(fs.readFileSync(file, 'utf8')) as { form: { document: { rules: Array<{ when?: string }> } } };
    entry.form.document.rules[0]!.when = 'parameters.query.matches(r"(?=lookahead)")';
    fs.writeFileSync(file, JSON.stringify(entry));

    const decision = await client(dir).evaluateAction(SELECT);
    expect(decision.decision).toBe('denied');
    expect(decision.reason).toContain('"selects"');
  });
});
