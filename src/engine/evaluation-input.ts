/**
 * What the evaluator is given for one call: its own module, so the evaluator and the usage
 * tracker (which records what was evaluated) can both name it without importing each other.
 */
import type { ActionRequest, AgentRecord } from '../core/types.js';
import type { CompiledLimit } from './compile.js';

/** One call to decide. */
export interface EvaluationInput {
  request: ActionRequest;
  /** The caller's registration, when it registered. */
  agent?: AgentRecord;
  /** Current time, epoch ms (budgets and velocity are measured against it). */
  now: number;
  /**
   * Calls already counted against each budget this call draws on, as a store counted them
   * (engine/budget.ts). Absent: the UsageTracker's in-memory counts are used, and a limit the
   * map does not name counts as unused.
   */
  budgetUsage?: ReadonlyMap<CompiledLimit, number>;
  /**
   * The parameters conditions read, when not the request's (the detectors always scan the
   * request's): a replay passes a view that notes reads of redacted values.
   */
  conditionParameters?: Record<string, unknown>;
}
