/**
 * `ascend approvals list|show|approve|reject|watch`: the human side of a pending call.
 */
import { applyEdits, argumentEdits, parseSetEdit, type ArgumentEdit } from '../../core/argument-edits.js';
import { NotFoundError } from '../../core/errors.js';
import type { ApprovalDecision, Store } from '../../store/store.js';
import type { ApprovalRecord, ApprovalStatus } from '../../core/types.js';
import { resolveActor } from '../actor.js';
import { parseEnumOption, parseIntegerOption } from '../args.js';
import type { CommandContext, CommandGroup, CommandSpec } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { followChanges } from '../follow.js';
import {
  formatDuration,
  formatTime,
  formatTimeLeft,
  jsonDocument,
  jsonLine,
  renderFields,
  renderRiskFactors,
  renderTable,
  styleStatus,
  truncate,
  type Column,
} from '../format.js';
import { withStore } from '../store-access.js';
import { UsageError } from '../errors.js';

const STATUS_FILTERS = ['pending', 'approved', 'rejected', 'expired', 'all'] as const;
/** Longest grant an approver can give from the CLI: one week, as the API allows. */
const MAX_GRANT_MINUTES = 7 * 24 * 60;
const DEFAULT_LIST_LIMIT = 100;

/**
 * Oldest request first. The store lists newest first (ties by insertion order), so reverse, then
 * sort stably by time: ties keep insertion order whatever the store's tie-break.
 */
function oldestFirst(approvals: ApprovalRecord[]): void {
  approvals.reverse().sort((a, b) => a.requestedAt.localeCompare(b.requestedAt));
}

function riskCell(a: ApprovalRecord): string {
  return `${a.riskScore} ${a.riskLevel}`;
}

function approvalColumns(ctx: CommandContext, withStatus: boolean): Array<Column<ApprovalRecord>> {
  const nowMs = ctx.now();
  const columns: Array<Column<ApprovalRecord>> = [
    { header: 'ID', cell: (a) => a.approvalId },
    { header: 'AGENT', cell: (a) => a.agentId, maxChars: 24 },
    { header: 'ACTION', cell: (a) => a.actionType, maxChars: 32 },
    { header: 'RESOURCE', cell: (a) => a.resource, maxChars: 32 },
    { header: 'RISK', cell: riskCell },
  ];
  if (withStatus) columns.push({ header: 'STATUS', cell: (a) => styleStatus(ctx.style, a.status) });
  columns.push(
    // A decided request waited until its decision; a pending one is still waiting.
    { header: 'WAITING', cell: (a) => formatDuration((a.decidedAt === undefined ? nowMs : Date.parse(a.decidedAt)) - Date.parse(a.requestedAt)) },
    { header: 'EXPIRES IN', cell: (a) => (a.status === 'pending' ? formatTimeLeft(a.expiresAt, nowMs) : '-') },
  );
  return columns;
}

const listCommand: CommandSpec = {
  name: 'list',
  summary: 'list approval requests (pending by default)',
  options: {
    status: { type: 'string', valueName: 'STATUS', description: 'pending|approved|rejected|expired|all (default pending)' },
    agent: { type: 'string', valueName: 'ID', description: 'only this agent' },
    limit: { type: 'string', valueName: 'N', description: `at most N requests (default ${DEFAULT_LIST_LIMIT})` },
  },
  positionals: [],
  examples: ['ascend approvals list', 'ascend approvals list --status all --agent agent-001 --json'],
  async run(ctx) {
    const status = parseEnumOption(ctx.string('status') ?? 'pending', 'status', STATUS_FILTERS, ctx.commandPath);
    const limitText = ctx.string('limit');
    const limit = limitText === undefined ? DEFAULT_LIST_LIMIT : parseIntegerOption(limitText, 'limit', { min: 1, max: 100_000 }, ctx.commandPath);
    const agentId = ctx.string('agent');
    const approvals = await withStore(ctx, (store) =>
      store.listApprovals({
        ...(status === 'all' ? {} : { status: status as ApprovalStatus }),
        ...(agentId === undefined ? {} : { agentId }),
        limit,
      }),
    );
    oldestFirst(approvals);
    if (ctx.json) {
      await ctx.out(jsonDocument(approvals));
      return ExitCode.OK;
    }
    if (approvals.length === 0) {
      await ctx.out(`no ${status === 'all' ? '' : `${status} `}approvals${agentId === undefined ? '' : ` for agent ${agentId}`}\n`);
      return ExitCode.OK;
    }
    await ctx.out(renderTable(approvals, approvalColumns(ctx, status !== 'pending'), ctx.style));
    if (approvals.length === limit) ctx.err(`showing the first ${limit}; use --limit for more\n`);
    return ExitCode.OK;
  },
};

/** `in 4m 10s`, or `expired`. */
function expiryPhrase(isoTime: string, nowMs: number): string {
  const left = formatTimeLeft(isoTime, nowMs);
  return left === 'expired' ? left : `in ${left}`;
}

/** Every field of one approval, for `show`. */
function renderApproval(ctx: CommandContext, a: ApprovalRecord): string {
  const nowMs = ctx.now();
  const fields: Array<[string, string]> = [
    ['id', a.approvalId],
    ['status', styleStatus(ctx.style, a.status)],
    ['agent', a.agentId],
    ['action', a.actionType],
    ['resource', a.resource === '' ? '(none)' : a.resource],
    ['action id', a.actionId],
    ['reason', a.reason],
    ['risk', `${a.riskScore} (${a.riskLevel})`],
    ['matched rules', a.matchedRules.length === 0 ? 'none' : a.matchedRules.join(', ')],
    ['required approvers', a.requiredApprovers.length === 0 ? 'none' : a.requiredApprovers.join(', ')],
    ['requested', `${a.requestedAt} (${formatDuration(nowMs - Date.parse(a.requestedAt))} ago)`],
    ['expires', a.status === 'pending' ? `${a.expiresAt} (${expiryPhrase(a.expiresAt, nowMs)})` : a.expiresAt],
  ];
  if (a.decidedAt !== undefined) fields.push(['decided', `${a.decidedAt} by ${a.decidedBy ?? '?'} via ${a.channel ?? '?'}`]);
  if (a.comment !== undefined) fields.push(['comment', a.comment]);
  if (a.edits !== undefined) fields.push(['edits', a.edits.map((e) => (e.remove ? `remove ${e.path.join('.')}` : `${e.path.join('.')} = ${JSON.stringify(e.value)}`)).join('; ')]);
  if (a.grantId !== undefined) fields.push(['grant', a.grantId]);
  if (a.consumedAt !== undefined) fields.push(['consumed', a.consumedAt]);
  fields.push(['digest', a.digest]);
  let text = renderFields(fields);
  text += renderRiskFactors(a.riskFactors);
  const parameters = JSON.stringify(a.parameters, null, 2).split('\n').map((line) => `  ${line}`).join('\n');
  text += `parameters (as stored, redacted):\n${parameters}\n`;
  return text;
}

const showCommand: CommandSpec = {
  name: 'show',
  summary: 'show one approval request in full (parameters, risk factors, rules)',
  options: {},
  positionals: [{ name: 'ID', description: 'approval id' }],
  async run(ctx) {
    const approvalId = ctx.arg('ID');
    const approval = await withStore(ctx, (store) => store.getApproval(approvalId));
    if (approval === undefined) throw new NotFoundError('approval', approvalId);
    await ctx.out(ctx.json ? jsonDocument(approval) : renderApproval(ctx, approval));
    return ExitCode.OK;
  },
};

/** Options shared by approve and reject. */
const DECIDE_OPTIONS = {
  comment: { type: 'string', valueName: 'TEXT', description: 'why; stored with the decision and in the audit trail' },
  by: { type: 'string', valueName: 'NAME', description: 'who decides (default: user@hostname)' },
} as const;

/**
 * The edits of `--set path=value` (repeatable) or `--args JSON` (the arguments wanted, turned into
 * edits against the recorded ones); undefined when neither is given.
 */
async function editsOf(ctx: CommandContext): Promise<ArgumentEdit[] | undefined> {
  const sets = ctx.strings('set');
  const wanted = ctx.string('args');
  if (sets.length > 0 && wanted !== undefined) throw new UsageError('give --set or --args, not both', ctx.commandPath);
  if (sets.length > 0) return sets.map(parseSetEdit);
  if (wanted === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(wanted);
  } catch (err) {
    throw new UsageError(`--args is not JSON (${(err as Error).message}): give the arguments the call should run with, e.g. --args '{"amount":100}'`, ctx.commandPath);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('--args must be a JSON object: the arguments the call should run with', ctx.commandPath);
  const approvalId = ctx.arg('ID');
  const approval = await withStore(ctx, (store) => store.getApproval(approvalId));
  if (approval === undefined) throw new NotFoundError('approval', approvalId);
  const edits = argumentEdits(approval.parameters, parsed as Record<string, unknown>);
  if (edits.length === 0) throw new UsageError('--args are the arguments as they are: approve without --args instead', ctx.commandPath);
  return edits;
}

async function decide(ctx: CommandContext, status: 'approved' | 'rejected', grantMinutes: number | undefined, edits?: ArgumentEdit[]): Promise<number> {
  const comment = ctx.string('comment');
  const decision: ApprovalDecision = {
    approvalId: ctx.arg('ID'),
    status,
    decidedBy: resolveActor(ctx.string('by'), ctx.io),
    channel: 'cli',
    now: new Date(ctx.now()).toISOString(),
    ...(comment === undefined ? {} : { comment }),
    ...(grantMinutes === undefined ? {} : { grantMinutes }),
    ...(edits === undefined ? {} : { edits }),
  };
  const approval = await withStore(ctx, (store) => store.decideApproval(decision));
  if (ctx.json) {
    await ctx.out(jsonDocument(approval));
    return ExitCode.OK;
  }
  const what = `${approval.agentId} ${approval.actionType}${approval.resource === '' ? '' : ` on ${approval.resource}`}`;
  let text = `${styleStatus(ctx.style, approval.status)} ${approval.approvalId} (${what}) as ${approval.decidedBy ?? decision.decidedBy}\n`;
  if (approval.edits !== undefined) text += `with edits: the call runs as ${JSON.stringify(applyEdits(approval.parameters, approval.edits))} (decided by the policy again)\n`;
  if (approval.grantId !== undefined && grantMinutes !== undefined) {
    text += `granted ${approval.agentId} ${approval.actionType} for ${formatDuration(grantMinutes * 60_000)} (grant ${approval.grantId})\n`;
  }
  await ctx.out(text);
  return ExitCode.OK;
}

const approveCommand: CommandSpec = {
  name: 'approve',
  summary: 'approve a pending request (exit 3 unknown id, 4 already decided or expired)',
  options: {
    ...DECIDE_OPTIONS,
    'grant-minutes': {
      type: 'string',
      valueName: 'N',
      description: `also let this agent do this action without asking for N minutes (max ${MAX_GRANT_MINUTES})`,
    },
    set: {
      type: 'string',
      multiple: true,
      valueName: 'PATH=VALUE',
      description: 'edit an argument before approving (repeatable): a dotted path and a JSON value, or text; the edited call is decided by the policy again',
    },
    args: { type: 'string', valueName: 'JSON', description: 'the arguments the call should run with (edits are made from the difference); redacted ones cannot change' },
  },
  positionals: [{ name: 'ID', description: 'approval id' }],
  examples: [
    'ascend approvals approve apr_123 --comment "checked with finance"',
    'ascend approvals approve apr_123 --grant-minutes 30',
    'ascend approvals approve apr_123 --set account=EU-9 --set amount=100 --comment "use the EU account"',
    `ascend approvals approve apr_123 --args '{"amount":100,"account":"EU-9"}'`,
  ],
  async run(ctx) {
    const text = ctx.string('grant-minutes');
    const grantMinutes = text === undefined ? undefined : parseIntegerOption(text, 'grant-minutes', { min: 1, max: MAX_GRANT_MINUTES }, ctx.commandPath);
    return decide(ctx, 'approved', grantMinutes, await editsOf(ctx));
  },
};

const rejectCommand: CommandSpec = {
  name: 'reject',
  summary: 'reject a pending request (exit 3 unknown id, 4 already decided or expired)',
  options: DECIDE_OPTIONS,
  positionals: [{ name: 'ID', description: 'approval id' }],
  examples: ['ascend approvals reject apr_123 --comment "not during the freeze"'],
  async run(ctx) {
    return decide(ctx, 'rejected', undefined);
  },
};

/** One line per new pending approval, for `watch`. */
function watchLine(ctx: CommandContext, a: ApprovalRecord): string {
  const resource = a.resource === '' ? '' : ` on ${truncate(a.resource, 48)}`;
  return (
    `${formatTime(a.requestedAt)}  ${styleStatus(ctx.style, 'pending')}  ${a.approvalId}  ${a.agentId} ${a.actionType}${resource}` +
    `  risk ${riskCell(a)}  expires in ${formatTimeLeft(a.expiresAt, ctx.now())}  ${ctx.style.dim(truncate(a.reason, 80))}\n`
  );
}

const watchCommand: CommandSpec = {
  name: 'watch',
  summary: 'print pending approval requests as they appear, until Ctrl-C',
  details:
    'Prints the requests already pending, then each new one as another process creates it.\n' +
    'With --json, one JSON object per line. Stops cleanly on SIGINT or SIGTERM (exit 0).',
  options: {
    agent: { type: 'string', valueName: 'ID', description: 'only this agent' },
    'new-only': { type: 'boolean', description: 'skip the requests already pending at start' },
  },
  positionals: [],
  async run(ctx) {
    const agentId = ctx.string('agent');
    const newOnly = ctx.flag('new-only');
    const seen = new Set<string>();
    let firstPass = true;
    await withStore(ctx, async (store: Store) => {
      await followChanges(store, ctx.io.signal, async () => {
        const pending = await store.listApprovals({ status: 'pending', ...(agentId === undefined ? {} : { agentId }) });
        oldestFirst(pending);
        const print = !(firstPass && newOnly);
        for (const approval of pending) {
          if (seen.has(approval.approvalId)) continue;
          seen.add(approval.approvalId);
          if (print) await ctx.out(ctx.json ? jsonLine(approval) : watchLine(ctx, approval));
        }
        // Said after the first pass, so "watching" means anything new from now on is printed.
        if (firstPass && !ctx.json) ctx.err(`watching for pending approvals in ${ctx.dataDir} (Ctrl-C to stop)\n`);
        firstPass = false;
      });
    });
    return ExitCode.OK;
  },
};

/** `ascend approvals …`. */
export const approvalsGroup: CommandGroup = {
  name: 'approvals',
  summary: 'list, inspect, approve and reject calls waiting for a human',
  commands: [listCommand, showCommand, approveCommand, rejectCommand, watchCommand],
};
