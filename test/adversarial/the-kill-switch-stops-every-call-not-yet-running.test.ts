/**
 * Promise: once an operator blocks an agent, no call of that agent that has not started running
 * runs — not one already waiting for a person and approved afterwards, not one replayed under a
 * recorded action id, not one resumed after a LangGraph interrupt.
 */
import path from 'node:path';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { tool } from '@langchain/core/tools';
import { Command, MemorySaver } from '@langchain/langgraph';
import { createAgent } from 'langchain';
import { z } from 'zod';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AscendClient, AuthorizationError, type AscendClientOptions, type DecisionResult } from '../../src/index.js';
import { ascendMiddleware, type AscendInterrupt } from '../../integrations/langchain/index.js';
import { captureLogs, eventually, runCli, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

function embedded(opts: Partial<AscendClientOptions> = {}): { client: AscendClient; dataDir: string } {
  const dir = tempDir();
  const dataDir = path.join(dir, '.ascend');
  const client = new AscendClient({ agentId: 'agent-1', policy: writePolicy(dir, TEST_POLICY), dataDir, logDestination: captureLogs().destination, ...opts });
  clients.push(client);
  return { client, dataDir };
}

describe('embedded: the kill switch', () => {
  it('a call waiting for approval, then blocked (another process), then approved: the tool never runs', async () => {
    const { client, dataDir } = embedded();
    await client.register({ agentType: 'test' });
    let ran = false;
    const waiting = client
      .govern({ actionType: 'payments.transfer', parameters: { amount: 5000 } }, () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    const pending = await eventually(async () => {
      const list = await runCli(['approvals', 'list', '--json', '--data-dir', dataDir]);
      return (JSON.parse(list.stdout) as Array<{ approvalId: string }>)[0];
    }, 20_000, 50);
    expect((await runCli(['agents', 'block', 'agent-1', '--reason', 'runaway', '--data-dir', dataDir])).code).toBe(0);
    expect((await runCli(['approvals', 'approve', pending.approvalId, '--by', 'alice', '--data-dir', dataDir])).code).toBe(0);

    const err = await waiting;
    expect(err).toBeInstanceOf(AuthorizationError);
    expect((err as AuthorizationError).policyViolations.map((v) => v.code)).toContain('agent_blocked');
    expect(ran).toBe(false);
    expect((await client.checkApproval(pending.approvalId)).consumedAt).toBeUndefined();
  });

  it('a previously allowed action id, replayed after a block, is denied', async () => {
    const { client, dataDir } = embedded();
    await client.register({ agentType: 'test' });
    const actionId = 'replayed-action-000001';
    const first = await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'SELECT 1' }, actionId });
    expect(first.decision).toBe('allowed');
    expect((await runCli(['agents', 'block', 'agent-1', '--data-dir', dataDir])).code).toBe(0);

    const replay = await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'SELECT 1' }, actionId });
    expect(replay.decision).toBe('denied');
    expect(replay.policyViolations.map((v) => v.code)).toContain('agent_blocked');
    let ran = false;
    await expect(client.govern({ actionType: 'db.query', parameters: { sql: 'SELECT 1' } }, () => (ran = true))).rejects.toBeInstanceOf(AuthorizationError);
    expect(ran).toBe(false);
  });

  it('LangChain interrupt and resume: blocked while paused, approved, resumed: the tool never runs', async () => {
    const { client, dataDir } = embedded();
    await client.register({ agentType: 'test' });
    let paid = 0;
    const pay = tool(async ({ amount }: { amount: number }) => ((paid += amount), 'paid'), { name: 'pay', description: 'pay', schema: z.object({ amount: z.number() }) });
    const agent = createAgent({
      model: fakeModel().respondWithTools([{ name: 'pay', args: { amount: 5000 }, id: 'pay-1' }]).respond(new AIMessage('done')),
      tools: [pay],
      middleware: [ascendMiddleware(client, {}, { pay: { actionType: 'payments.transfer', onPending: 'interrupt' } })],
      checkpointer: new MemorySaver(),
    });
    const config = { configurable: { thread_id: 'kill-switch-thread' } };
    const paused = (await agent.invoke({ messages: [new HumanMessage('pay')] }, config)) as { __interrupt__?: Array<{ value: AscendInterrupt }> };
    const approvalId = paused.__interrupt__![0]!.value.approvalRequestId;

    expect((await runCli(['agents', 'block', 'agent-1', '--data-dir', dataDir])).code).toBe(0);
    await client.approve(approvalId, { decidedBy: 'alice' });
    const resumed = await agent.invoke(new Command({ resume: true }), config);
    expect(paid).toBe(0);
    const answer = resumed.messages.find((m: unknown) => m instanceof ToolMessage) as ToolMessage;
    expect(answer.status).toBe('error');
    expect(String(answer.content)).toMatch(/blocked/i);
  });
});

describe('a server: the kill switch', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess();
  }, 30_000);
  afterAll(async () => {
    await disposeServer(server);
  });

  it('pending, blocked, approved: a remote agent does not run the tool', async () => {
    const client = new AscendClient({
      agentId: 'remote-agent',
      apiUrl: server.url,
      apiKey: server.keys.agent.apiKey,
      dataDir: path.join(tempDir(), '.ascend'),
      logDestination: captureLogs().destination,
    });
    clients.push(client);
    await client.register({ agentType: 'test' });
    let ran = false;
    const waiting = client
      .govern({ actionType: 'payments.transfer', parameters: { amount: 7000 } }, () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    const approval = await eventually(async () => {
      const list = await api(server, 'GET', '/v1/approvals?status=pending', server.keys.approver);
      return (list.body.approvals as Array<{ approvalId: string; agentId: string }>).find((a) => a.agentId === 'remote-agent');
    }, 20_000, 50);
    expect((await api(server, 'POST', '/v1/agents/remote-agent/block', server.keys.admin, { reason: 'runaway' })).status).toBe(200);
    expect((await api(server, 'POST', `/v1/approvals/${approval.approvalId}/approve`, server.keys.approver, {})).status).toBe(200);

    const err = await waiting;
    expect(err).toBeInstanceOf(AuthorizationError);
    expect(ran).toBe(false);

    // A replayed allowed decision is refused too.
    await api(server, 'POST', '/v1/agents/remote-agent/unblock', server.keys.admin, {});
    const actionId = 'remote-replay-0000001';
    const allowed: DecisionResult = await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'SELECT 1' }, actionId });
    expect(allowed.decision).toBe('allowed');
    await api(server, 'POST', '/v1/agents/remote-agent/block', server.keys.admin, {});
    const replay = await client.evaluateAction({ actionType: 'db.query', parameters: { sql: 'SELECT 1' }, actionId });
    expect(replay.decision).toBe('denied');
  });
});
