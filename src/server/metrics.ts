/**
 * `/metrics` in the Prometheus text format, without a client library: a few counters, one
 * histogram family, and gauges read from the store when scraped.
 */
import type { ChainLockStats } from '../store/store.js';
import type { PolicyStatus } from './policy-status.js';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

class Histogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS_S.length).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) if (seconds <= LATENCY_BUCKETS_S[i]!) this.counts[i]!++;
  }
}

/** What `/metrics` reads at scrape time. */
export interface MetricGauges {
  pendingApprovals(): Promise<number>;
  webhookDeliveries(): Promise<Record<string, number>>;
  /** Log lines lost so far because the log sink failed or could not keep up. */
  droppedLogLines(): number;
  /** Every registered agent's budgets (of every organisation). */
  budgets(): Promise<BudgetGauge[]>;
  /** The policy in force and its load errors. */
  policy(): PolicyStatus;
  /** PostgreSQL: how long this replica's writes held the chain lock; undefined on SQLite. */
  chainLock(): Readonly<ChainLockStats> | undefined;
}

/** One agent's budget, as `/metrics` exports it. */
export interface BudgetGauge {
  org: string;
  agentId: string;
  ruleId: string;
  used: number;
  count: number;
  windowSeconds: number;
  /** Epoch seconds at which the oldest counted call leaves the window; null when none. */
  resetsAtSeconds: number | null;
}

function labels(pairs: Record<string, string>): string {
  const body = Object.entries(pairs)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
  return body ? `{${body}}` : '';
}

/** The server's metrics. */
export class ServerMetrics {
  private readonly decisions = new Map<string, number>();
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly webhookAttempts = new Map<string, number>();

  /** One decision answered by evaluate. */
  decision(decision: string, conditions: readonly string[]): void {
    const key = conditions.includes('approved') ? 'approved' : conditions.includes('grant') ? 'granted' : decision;
    this.decisions.set(key, (this.decisions.get(key) ?? 0) + 1);
  }

  /** One HTTP request done. `route` is the route pattern, not the URL (bounded cardinality). */
  request(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const hkey = `${method} ${route}`;
    let h = this.latency.get(hkey);
    if (!h) this.latency.set(hkey, (h = new Histogram()));
    h.observe(seconds);
  }

  /** One webhook delivery attempt. */
  webhookAttempt(outcome: 'delivered' | 'failed' | 'dead'): void {
    this.webhookAttempts.set(outcome, (this.webhookAttempts.get(outcome) ?? 0) + 1);
  }

  /** The exposition text. */
  async render(gauges: MetricGauges): Promise<string> {
    const out: string[] = [];
    out.push('# HELP ascend_decisions_total Decisions answered by evaluate, by outcome.', '# TYPE ascend_decisions_total counter');
    for (const [decision, n] of this.decisions) out.push(`ascend_decisions_total${labels({ decision })} ${n}`);
    out.push('# HELP ascend_http_requests_total HTTP requests, by route and status.', '# TYPE ascend_http_requests_total counter');
    for (const [key, n] of this.requests) {
      const [method, route, status] = key.split(' ') as [string, string, string];
      out.push(`ascend_http_requests_total${labels({ method, route, status })} ${n}`);
    }
    out.push('# HELP ascend_http_request_duration_seconds Time to answer, by route.', '# TYPE ascend_http_request_duration_seconds histogram');
    for (const [key, h] of this.latency) {
      const [method, route] = key.split(' ') as [string, string];
      LATENCY_BUCKETS_S.forEach((le, i) => out.push(`ascend_http_request_duration_seconds_bucket${labels({ method, route, le: String(le) })} ${h.counts[i]}`));
      out.push(`ascend_http_request_duration_seconds_bucket${labels({ method, route, le: '+Inf' })} ${h.count}`);
      out.push(`ascend_http_request_duration_seconds_sum${labels({ method, route })} ${h.sum}`);
      out.push(`ascend_http_request_duration_seconds_count${labels({ method, route })} ${h.count}`);
    }
    out.push('# HELP ascend_pending_approvals Approval requests waiting for a person.', '# TYPE ascend_pending_approvals gauge');
    out.push(`ascend_pending_approvals ${await gauges.pendingApprovals()}`);
    out.push('# HELP ascend_webhook_deliveries Webhook deliveries by status (dead = dead-lettered).', '# TYPE ascend_webhook_deliveries gauge');
    for (const [status, n] of Object.entries(await gauges.webhookDeliveries())) out.push(`ascend_webhook_deliveries${labels({ status })} ${n}`);
    out.push('# HELP ascend_webhook_attempts_total Webhook delivery attempts by this process, by outcome.', '# TYPE ascend_webhook_attempts_total counter');
    for (const [outcome, n] of this.webhookAttempts) out.push(`ascend_webhook_attempts_total${labels({ outcome })} ${n}`);
    const policy = gauges.policy();
    out.push('# HELP ascend_policy_info The policy in force (1), by version and labels; absent while none has loaded.', '# TYPE ascend_policy_info gauge');
    if (policy.policyVersion !== null) out.push(`ascend_policy_info${labels({ version: policy.policyVersion, name: policy.name ?? '', revision: policy.revision ?? '' })} 1`);
    out.push('# HELP ascend_policy_load_errors_total Changes of the policy file that did not load (the policy in force stayed).', '# TYPE ascend_policy_load_errors_total counter');
    out.push(`ascend_policy_load_errors_total ${policy.loadErrors}`);
    out.push('# HELP ascend_policy_load_error 1 while the latest change of the policy file did not load.', '# TYPE ascend_policy_load_error gauge');
    out.push(`ascend_policy_load_error ${policy.lastLoadError === null && policy.error === null ? 0 : 1}`);
    const budgets = await gauges.budgets();
    out.push('# HELP ascend_budget_used Calls counted against a budget (a limit rule) within its window, per agent.', '# TYPE ascend_budget_used gauge');
    for (const b of budgets) out.push(`ascend_budget_used${labels({ org: b.org, agent: b.agentId, rule: b.ruleId })} ${b.used}`);
    out.push('# HELP ascend_budget_limit Calls a budget allows within its window.', '# TYPE ascend_budget_limit gauge');
    for (const b of budgets) out.push(`ascend_budget_limit${labels({ org: b.org, agent: b.agentId, rule: b.ruleId })} ${b.count}`);
    out.push('# HELP ascend_budget_window_seconds Length of a budget\'s sliding window.', '# TYPE ascend_budget_window_seconds gauge');
    for (const b of budgets) out.push(`ascend_budget_window_seconds${labels({ org: b.org, agent: b.agentId, rule: b.ruleId })} ${b.windowSeconds}`);
    out.push('# HELP ascend_budget_resets_at_seconds When the oldest counted call leaves the window (Unix time); absent when none is counted.', '# TYPE ascend_budget_resets_at_seconds gauge');
    for (const b of budgets) if (b.resetsAtSeconds !== null) out.push(`ascend_budget_resets_at_seconds${labels({ org: b.org, agent: b.agentId, rule: b.ruleId })} ${b.resetsAtSeconds}`);
    const lock = gauges.chainLock();
    if (lock !== undefined) {
      out.push('# HELP ascend_chain_lock_hold_seconds_total Seconds this replica\'s write transactions held the chain lock (summed over replicas, per second: how busy the one chain is).', '# TYPE ascend_chain_lock_hold_seconds_total counter');
      out.push(`ascend_chain_lock_hold_seconds_total ${lock.holdSeconds}`);
      out.push('# HELP ascend_chain_commits_total Write transactions this replica committed under the chain lock.', '# TYPE ascend_chain_commits_total counter');
      out.push(`ascend_chain_commits_total ${lock.commits}`);
      out.push('# HELP ascend_chain_events_total Audit events this replica appended.', '# TYPE ascend_chain_events_total counter');
      out.push(`ascend_chain_events_total ${lock.events}`);
    }
    out.push('# HELP ascend_log_lines_dropped_total Log lines lost because the log sink (stderr) failed or stopped draining.', '# TYPE ascend_log_lines_dropped_total counter');
    out.push(`ascend_log_lines_dropped_total ${gauges.droppedLogLines()}`);
    return out.join('\n') + '\n';
  }
}
