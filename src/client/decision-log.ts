/**
 * What a client tells about the decisions it received: each one logged (routine allows at
 * debug, everything else at info with its violations) and counted for the client's own
 * Prometheus figures.
 */
import type { Logger } from 'pino';
import type { DecisionResult } from '../core/types.js';
import type { BreakerState } from '../transport/resilience.js';

/** Logs and counts decisions. */
export class DecisionLog {
  private readonly counts = new Map<string, number>();

  constructor(private readonly logger: Logger) {}

  /** Count `d` (fail-open allows apart) and log it. */
  record(d: DecisionResult): void {
    const counted = d.conditions.includes('fail_open_mode') ? 'fail_open' : d.decision;
    this.counts.set(counted, (this.counts.get(counted) ?? 0) + 1);
    const routine = d.decision === 'allowed' && d.conditions.length === 0;
    // Routine allows log at debug: skip building the record when nobody listens (hot path).
    if (routine && !this.logger.isLevelEnabled('debug')) return;
    const fields = {
      actionId: d.actionId,
      actionType: d.actionType,
      resource: d.resource,
      decision: d.decision,
      riskScore: d.riskScore,
      matchedRules: d.matchedRules,
      conditions: d.conditions,
    };
    if (routine) this.logger.debug(fields, d.reason);
    else this.logger.info({ ...fields, violations: d.policyViolations.map((v) => v.code) }, d.reason);
  }

  /** The counts and the breaker's `state` in the Prometheus text format. */
  metrics(state: BreakerState): string {
    const lines = ['# HELP ascend_client_decisions_total Decisions this client received, by outcome.', '# TYPE ascend_client_decisions_total counter'];
    for (const [decision, n] of this.counts) lines.push(`ascend_client_decisions_total{decision="${decision}"} ${n}`);
    lines.push(
      '# HELP ascend_client_circuit_state Circuit breaker to the decision point: 0 closed, 1 half-open, 2 open.',
      '# TYPE ascend_client_circuit_state gauge',
      `ascend_client_circuit_state ${state === 'closed' ? 0 : state === 'half_open' ? 1 : 2}`,
    );
    return lines.join('\n') + '\n';
  }
}
