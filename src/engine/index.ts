/**
 * The policy engine: pure (no I/O), deterministic given its inputs. Load a policy with
 * `parsePolicy` (or `loadPolicyFile` in `src/policy/file.ts`), decide with `evaluatePolicy`,
 * then count the call with `UsageTracker.record`.
 */
export { policySchemas, EFFECTS, policyJsonSchema, durationMs, isCapabilityName } from './policy.js';
export type { Effect, PolicyDocument, PolicyRule, PolicyLimit } from './policy.js';
export { parsePolicy } from './compile.js';
export type { CompiledPolicy, CompiledRule, CompiledLimit } from './compile.js';
export { evaluatePolicy, policyErrorDecision, undefinedCapabilityNames } from './evaluate.js';
export type { EvaluationInput } from './evaluate.js';
export { UsageTracker, SlidingCounter } from './usage.js';
export { budgetKey, limitsDrawnOn, limitsOfAgent } from './budget.js';
export type { UsageTrackerOptions, RecordedDecision } from './usage.js';
export { assessRisk, classifyVerb, verbFactor, velocityFactor, DEFAULT_VELOCITY, VERB_POINTS } from './risk.js';
export type { RiskAssessment, VelocitySample, VelocityThresholds, VerbClass } from './risk.js';
export { DETECTOR_POINTS, LARGE_AMOUNT, detectArgumentRisks } from './detectors.js';
export { compileGlob, globProblem, GlobSet, matchesAnyGlob } from './glob.js';
export type { Glob } from './glob.js';
export { compileCondition, celRegex, CONDITION_VARIABLES, MAX_REGEX_LENGTH } from './cel.js';
export type { CompiledCondition, ConditionVariables } from './cel.js';
export { STARTER_POLICY_YAML, STARTER_CASES_YAML } from './starter-policy.js';
export { parsePolicyCases, runPolicyCases, policyCasesJsonSchema, policyCaseSchemas } from './policy-cases.js';
export type { PolicyCase, PolicyCaseResult } from './policy-cases.js';
