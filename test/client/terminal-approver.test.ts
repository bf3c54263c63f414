import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AscendClient, terminalApprover } from '../../src/index.js';
import { tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

function setup(answer: string) {
  const dir = tempDir();
  const input = new PassThrough();
  const output = new PassThrough();
  let prompt = '';
  output.on('data', (d: Buffer) => (prompt += d.toString()));
  const client = new AscendClient({
    agentId: 'cli-agent',
    policy: writePolicy(dir, TEST_POLICY),
    dataDir: path.join(dir, '.ascend'),
    logLevel: 'silent',
    onApprovalRequired: terminalApprover({ input, output, decidedBy: 'terminal:tester' }),
  });
  input.write(`${answer}\n`);
  return { client, prompt: () => prompt };
}

describe('terminalApprover', () => {
  it('shows the call and its risk, and "y" lets it run', async () => {
    const { client, prompt } = setup('y');
    const out = await client.govern({ actionType: 'payments.transfer', parameters: { amount: 5000 } }, () => 'paid');
    expect(out).toBe('paid');
    expect(prompt()).toContain('Approval needed: payments.transfer');
    expect(prompt()).toMatch(/risk: +\d+\/100/);
    await client.close();
  });

  it('"n" (or anything else) rejects', async () => {
    const { client } = setup('n');
    let ran = false;
    await expect(client.govern({ actionType: 'payments.transfer', parameters: { amount: 5000 } }, () => (ran = true))).rejects.toThrow(/Rejected by terminal:tester/);
    expect(ran).toBe(false);
    await client.close();
  });

  it('"g" approves and grants: the next transfer needs no prompt', async () => {
    const { client } = setup('g');
    await client.govern({ actionType: 'payments.transfer', parameters: { amount: 5000 } }, () => 1);
    const next = await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 6000 } });
    expect(next.decision).toBe('allowed');
    expect(next.conditions).toContain('grant');
    await client.close();
  });
});
