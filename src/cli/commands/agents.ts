/**
 * `ascend agents list|block|unblock`: registered agents and the kill switch.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadPolicyFile } from '../../policy/file.js';
import type { Store } from '../../store/store.js';
import { DecisionPoint } from '../../decision/decision-point.js';
import type { AgentBudget, AgentRecord } from '../../core/types.js';
import { RemoteStore } from '../remote-store.js';
import { resolveActor } from '../actor.js';
import type { CommandContext, CommandGroup, CommandSpec } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { formatTime, jsonDocument, renderTable, styleStatus } from '../format.js';
import { withStore } from '../store-access.js';

/** Reason recorded when `block` is given no `--reason`. */
export const DEFAULT_BLOCK_REASON = 'blocked from the CLI';

function globsCell(globs: readonly string[]): string {
  return globs.length === 0 ? 'any' : globs.join(',');
}

/** `rule used/count per window`, one per budget. */
function budgetsCell(budgets: readonly AgentBudget[] | undefined): string {
  return (budgets ?? []).map((b) => `${b.ruleId} ${b.used}/${b.count} per ${b.per}${b.scope === 'global' ? ' (global)' : ''}`).join(', ');
}

/**
 * The agents with their budgets: from the server (whose policy decides), or read from the data
 * directory with the policy file (`--policy`, `$ASCEND_POLICY`, `./ascend.policy.yaml`; no
 * budgets are shown when there is none).
 */
async function agentsWithBudgets(ctx: CommandContext, store: Store): Promise<AgentRecord[]> {
  const agents = await store.listAgents();
  if (store instanceof RemoteStore) return agents;
  const policyPath = resolve(ctx.io.cwd, ctx.string('policy') ?? (ctx.io.env.ASCEND_POLICY || 'ascend.policy.yaml'));
  if (ctx.string('policy') === undefined && !existsSync(policyPath)) return agents;
  const decisionPoint = new DecisionPoint({ policy: loadPolicyFile(policyPath), store: () => store, now: () => ctx.now() });
  const budgets = await decisionPoint.agentBudgets(agents.map((a) => a.agentId));
  return agents.map((a) => ({ ...a, budgets: budgets.get(a.agentId) ?? [] }));
}

const listCommand: CommandSpec = {
  name: 'list',
  summary: 'list registered agents, whether they are blocked, and the use of their budgets',
  options: {
    policy: { type: 'string', valueName: 'FILE', description: 'policy file whose budgets to show (default $ASCEND_POLICY, else ./ascend.policy.yaml when present)' },
  },
  positionals: [],
  async run(ctx) {
    const agents = await withStore(ctx, (store) => agentsWithBudgets(ctx, store));
    agents.sort((a, b) => a.agentId.localeCompare(b.agentId));
    if (ctx.json) {
      await ctx.out(jsonDocument(agents));
    } else if (agents.length === 0) {
      await ctx.out('no agents\n');
    } else {
      await ctx.out(
        renderTable(
          agents,
          [
            { header: 'AGENT', cell: (a) => a.agentId, maxChars: 32 },
            { header: 'NAME', cell: (a) => a.agentName, maxChars: 32 },
            { header: 'TYPE', cell: (a) => a.agentType, maxChars: 16 },
            { header: 'STATUS', cell: (a) => styleStatus(ctx.style, a.blocked ? 'blocked' : 'active') },
            { header: 'CAPABILITIES', cell: (a) => globsCell(a.capabilities), maxChars: 32 },
            { header: 'RESOURCES', cell: (a) => globsCell(a.allowedResources), maxChars: 32 },
            { header: 'BUDGETS', cell: (a) => budgetsCell(a.budgets), maxChars: 80 },
            { header: 'UPDATED', cell: (a) => formatTime(a.updatedAt) },
            { header: 'BLOCK REASON', cell: (a) => (a.blocked ? (a.blockedReason ?? '') : ''), maxChars: 48 },
          ],
          ctx.style,
        ),
      );
    }
    return ExitCode.OK;
  },
};

async function setBlocked(ctx: CommandContext, blocked: boolean): Promise<number> {
  const agentId = ctx.arg('AGENT');
  const actor = resolveActor(ctx.string('by'), ctx.io);
  const reason = blocked ? (ctx.string('reason') ?? DEFAULT_BLOCK_REASON) : '';
  const { known, agent } = await withStore(ctx, async (store) => {
    const existing = await store.getAgent(agentId);
    const updated: AgentRecord = await store.setAgentBlocked(agentId, blocked, reason, actor, new Date(ctx.now()).toISOString());
    return { known: existing !== undefined, agent: updated };
  });
  // Blocking an agent that never registered is allowed (block before first use), but a typo
  // would otherwise go unnoticed.
  if (!known) ctx.err(`note: agent "${agentId}" has not registered yet; the ${blocked ? 'block' : 'unblock'} applies from its first call\n`);
  if (ctx.json) {
    await ctx.out(jsonDocument(agent));
  } else {
    await ctx.out(blocked ? `blocked ${agentId}: ${reason} (by ${actor})\n` : `unblocked ${agentId} (by ${actor})\n`);
  }
  return ExitCode.OK;
}

const blockCommand: CommandSpec = {
  name: 'block',
  summary: "block an agent: every call it makes is denied from its next call (kill switch)",
  options: {
    reason: { type: 'string', valueName: 'TEXT', description: `why (default "${DEFAULT_BLOCK_REASON}")` },
    by: { type: 'string', valueName: 'NAME', description: 'who blocks (default: user@hostname)' },
  },
  positionals: [{ name: 'AGENT', description: 'agent id' }],
  examples: ['ascend agents block agent-001 --reason "sending spam"'],
  async run(ctx) {
    return setBlocked(ctx, true);
  },
};

const unblockCommand: CommandSpec = {
  name: 'unblock',
  summary: 'unblock an agent',
  options: {
    by: { type: 'string', valueName: 'NAME', description: 'who unblocks (default: user@hostname)' },
  },
  positionals: [{ name: 'AGENT', description: 'agent id' }],
  async run(ctx) {
    return setBlocked(ctx, false);
  },
};

/** `ascend agents …`. */
export const agentsGroup: CommandGroup = {
  name: 'agents',
  summary: 'list agents; block and unblock them',
  commands: [listCommand, blockCommand, unblockCommand],
};
