/**
 * Promise: an allowed decision lets its call run once. Asking again under the same action id (a
 * retry, a LangGraph node re-run after an interrupt) answers the recorded decision while the call
 * has not run, and a denial once it has: replaying a decision never runs a tool twice.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { captureLogs, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

describe('a decision runs its call once', () => {
  for (const durability of ['sync', 'batched'] as const) {
    it(`${durability}: a replay before the call ran answers the same decision; after it ran, a denial`, async () => {
      const dir = tempDir();
      const client = new AscendClient({ agentId: 'once', policy: writePolicy(dir, TEST_POLICY), dataDir: path.join(dir, '.ascend'), audit: { durability }, logDestination: captureLogs().destination });
      clients.push(client);
      const call = { actionType: 'db.query', parameters: { sql: 'SELECT 1' }, actionId: `run-once-${durability}-00001` };
      const first = await client.evaluateAction(call);
      expect(first.decision).toBe('allowed');
      const retry = await client.evaluateAction(call); // a retry: the tool has not run yet
      expect(retry).toMatchObject({ decision: 'allowed', actionId: first.actionId });

      await client.logActionCompleted({ actionId: first.actionId, result: { rows: 1 }, durationMs: 3 });
      const replay = await client.evaluateAction(call);
      expect(replay.decision).toBe('denied');
      expect(replay.policyViolations.map((v) => v.code)).toContain('already_ran');
    });
  }
});
