/**
 * `ascend agents list|block|unblock`: registered agents and the kill switch.
 */
import type { AgentRecord } from '../../types.js';
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

const listCommand: CommandSpec = {
  name: 'list',
  summary: 'list registered agents and whether they are blocked',
  options: {},
  positionals: [],
  async run(ctx) {
    const agents = await withStore(ctx, (store) => store.listAgents());
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
