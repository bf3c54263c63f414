/**
 * `ascend grants list|revoke`: standing "this agent may do this action for a while" permissions.
 */
import type { GrantRecord } from '../../core/types.js';
import { resolveActor } from '../actor.js';
import type { CommandContext, CommandGroup, CommandSpec } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { formatTime, formatTimeLeft, jsonDocument, renderTable, styleStatus, type Column } from '../format.js';
import { withStore } from '../store-access.js';

/** `active`, `revoked` or `expired` at `nowMs`. */
export function grantState(grant: GrantRecord, nowMs: number): 'active' | 'revoked' | 'expired' {
  if (grant.revokedAt !== undefined) return 'revoked';
  return Date.parse(grant.expiresAt) > nowMs ? 'active' : 'expired';
}

function grantColumns(ctx: CommandContext, all: boolean): Array<Column<GrantRecord>> {
  const nowMs = ctx.now();
  const columns: Array<Column<GrantRecord>> = [
    { header: 'ID', cell: (g) => g.grantId },
    { header: 'AGENT', cell: (g) => g.agentId, maxChars: 24 },
    { header: 'ACTION', cell: (g) => g.actionType, maxChars: 32 },
    { header: 'CREATED BY', cell: (g) => `${g.createdBy} (${g.channel})`, maxChars: 40 },
    { header: 'CREATED', cell: (g) => formatTime(g.createdAt) },
    { header: 'EXPIRES IN', cell: (g) => (grantState(g, nowMs) === 'active' ? formatTimeLeft(g.expiresAt, nowMs) : '-') },
  ];
  if (all) {
    columns.push({ header: 'STATUS', cell: (g) => styleStatus(ctx.style, grantState(g, nowMs)) });
    columns.push({ header: 'REVOKED BY', cell: (g) => g.revokedBy ?? '', maxChars: 32 });
  }
  return columns;
}

const listCommand: CommandSpec = {
  name: 'list',
  summary: 'list active grants (--all: also expired and revoked)',
  options: {
    all: { type: 'boolean', description: 'include expired and revoked grants' },
    agent: { type: 'string', valueName: 'ID', description: 'only this agent' },
  },
  positionals: [],
  async run(ctx) {
    const all = ctx.flag('all');
    const agentId = ctx.string('agent');
    const grants = await withStore(ctx, (store) =>
      store.listGrants({
        ...(all ? {} : { activeAt: new Date(ctx.now()).toISOString() }),
        ...(agentId === undefined ? {} : { agentId }),
      }),
    );
    // Oldest first; the store lists newest first, so reverse before a stable sort keeps ties in order.
    grants.reverse().sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    if (ctx.json) {
      await ctx.out(jsonDocument(grants));
    } else if (grants.length === 0) {
      await ctx.out(all ? 'no grants\n' : 'no active grants\n');
    } else {
      await ctx.out(renderTable(grants, grantColumns(ctx, all), ctx.style));
    }
    return ExitCode.OK;
  },
};

const revokeCommand: CommandSpec = {
  name: 'revoke',
  summary: 'revoke a grant now (exit 3 unknown id, 4 already revoked)',
  options: {
    by: { type: 'string', valueName: 'NAME', description: 'who revokes (default: user@hostname)' },
  },
  positionals: [{ name: 'ID', description: 'grant id' }],
  async run(ctx) {
    const grantId = ctx.arg('ID');
    const actor = resolveActor(ctx.string('by'), ctx.io);
    const grant = await withStore(ctx, (store) => store.revokeGrant(grantId, actor, new Date(ctx.now()).toISOString()));
    await ctx.out(ctx.json ? jsonDocument(grant) : `revoked ${grant.grantId} (${grant.agentId} ${grant.actionType}) as ${grant.revokedBy ?? actor}\n`);
    return ExitCode.OK;
  },
};

/** `ascend grants …`. */
export const grantsGroup: CommandGroup = {
  name: 'grants',
  summary: 'list and revoke standing grants given with approvals',
  commands: [listCommand, revokeCommand],
};
