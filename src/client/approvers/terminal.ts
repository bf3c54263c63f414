/**
 * An approver for CLI agents: asks the person at the terminal, in process, whether a pending call
 * may run. Pass it as `onApprovalRequired`.
 */
import type { Readable, Writable } from 'node:stream';
import type { ApprovalVerdict, OnApprovalRequired } from '../client.js';
import type { DecisionResult } from '../../core/types.js';

/** Options of {@link terminalApprover}. */
export interface TerminalApproverOptions {
  /** Default process.stdin. */
  input?: Readable;
  /** Default process.stderr (keeps the agent's stdout clean). */
  output?: Writable;
  /** Minutes granted by answering `g`. Default 15. */
  grantMinutes?: number;
  /** Recorded as who decided. Default `terminal:$USER`. */
  decidedBy?: string;
}

/** Describe a pending call in a few lines a person can judge. */
export function describePending(d: DecisionResult): string {
  const lines = [
    `Approval needed: ${d.actionType}${d.resource ? ` on ${d.resource}` : ''} (agent ${d.agentId})`,
    `  why:   ${d.reason}`,
    `  risk:  ${d.riskScore}/100 (${d.riskLevel})${d.riskFactors.length ? ' — ' + d.riskFactors.map((f) => `${f.name} +${f.points}`).join(', ') : ''}`,
  ];
  if (d.matchedRules.length) lines.push(`  rules: ${d.matchedRules.join(', ')}`);
  return lines.join('\n');
}

/**
 * Ask at the terminal: `y` approves this one call, `g` approves and grants this agent + action
 * for a while, anything else (or end of input) rejects.
 */
export function terminalApprover(options: TerminalApproverOptions = {}): OnApprovalRequired {
  const grantMinutes = options.grantMinutes ?? 15;
  const decidedBy = options.decidedBy ?? `terminal:${process.env.USER ?? 'user'}`;
  return async (decision: DecisionResult): Promise<ApprovalVerdict> => {
    const output = options.output ?? process.stderr;
    const readline = await import('node:readline/promises'); // only when a person is asked
    const rl = readline.createInterface({ input: options.input ?? process.stdin, output, terminal: false });
    try {
      output.write(`${describePending(decision)}\n`);
      const answer = await rl.question(`Approve? [y]es / [g]rant ${grantMinutes} min / [N]o: `).catch(() => '');
      const choice = answer.trim().toLowerCase();
      if (choice === 'y' || choice === 'yes') return { approved: true, decidedBy, comment: 'approved at the terminal' };
      if (choice === 'g' || choice === 'grant') return { approved: true, decidedBy, grantMinutes, comment: `granted ${grantMinutes} min at the terminal` };
      return { approved: false, decidedBy, comment: 'rejected at the terminal' };
    } finally {
      rl.close();
    }
  };
}
