/**
 * Risk scoring: a 0–100 score that is the sum of named factors (capped at 100), so a person can
 * see why a call scored what it did. Factors: the action's verb class, argument detectors
 * (`detectors.ts`), the agent's velocity, and a matched rule's `risk` floor.
 */
import type { ActionRequest, RiskFactor } from '../core/types.js';
import { detectArgumentRisks } from './detectors.js';

export { DETECTOR_POINTS, LARGE_AMOUNT, detectArgumentRisks, luhnValid } from './detectors.js';

/** How dangerous a verb is. */
export type VerbClass = 'low' | 'medium' | 'high' | 'unknown';

/** Points of each verb class. */
export const VERB_POINTS: Readonly<Record<VerbClass, number>> = { low: 5, medium: 25, high: 50, unknown: 15 };

const VERBS: ReadonlyArray<[VerbClass, readonly string[]]> = [
  [
    'high',
    ['delete', 'del', 'drop', 'remove', 'rm', 'destroy', 'purge', 'truncate', 'wipe', 'erase', 'kill', 'terminate',
      'transfer', 'pay', 'payment', 'withdraw', 'refund', 'charge', 'wire',
      'execute', 'exec', 'shell', 'run', 'eval', 'sudo', 'spawn', 'deploy', 'grant', 'revoke'],
  ],
  [
    'medium',
    ['write', 'update', 'create', 'send', 'post', 'put', 'patch', 'insert', 'upsert', 'upload', 'save', 'set', 'modify',
      'edit', 'append', 'publish', 'reply', 'move', 'rename', 'copy', 'invite', 'notify', 'schedule', 'submit', 'commit',
      'push', 'merge', 'add', 'assign', 'book', 'order', 'email', 'message', 'sms', 'call'],
  ],
  [
    'low',
    ['read', 'get', 'list', 'query', 'search', 'find', 'fetch', 'view', 'describe', 'show', 'head', 'lookup', 'count',
      'select', 'retrieve', 'check', 'stat', 'ls', 'cat', 'browse', 'download', 'inspect', 'status', 'summarize', 'explain'],
  ],
];

const VERB_CLASS = new Map<string, VerbClass>();
for (const [cls, words] of VERBS) for (const w of words) if (!VERB_CLASS.has(w)) VERB_CLASS.set(w, cls);

const RANK: Readonly<Record<VerbClass, number>> = { unknown: 0, low: 1, medium: 2, high: 3 };

/** The verb class of an action type, and the word that decided it. */
export interface VerbInfo {
  cls: VerbClass;
  verb: string | null;
}

const verbCache = new Map<string, VerbInfo>();
const VERB_CACHE_MAX = 4096;

/**
 * Classify an action type by its most dangerous verb. Words are split on `.`, `_`, `-`, `/`, `:`
 * and camelCase; the last segment (`file.delete` → `delete`) is looked at first, the whole name
 * only when the last segment has no known verb. Cached per action type (bounded).
 */
export function classifyVerb(actionType: string): VerbInfo {
  let info = verbCache.get(actionType);
  if (info !== undefined) return info;
  const segments = actionType.split(/[.:/]/);
  info = bestVerb(segments[segments.length - 1] ?? '');
  if (info.cls === 'unknown') info = bestVerb(actionType);
  if (verbCache.size >= VERB_CACHE_MAX) verbCache.clear();
  verbCache.set(actionType, info);
  return info;
}

function bestVerb(text: string): VerbInfo {
  let best: VerbInfo = { cls: 'unknown', verb: null };
  const words = text.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/);
  for (const w of words) {
    const cls = VERB_CLASS.get(w);
    if (cls !== undefined && RANK[cls] > RANK[best.cls]) best = { cls, verb: w };
  }
  return best;
}

/** The `verb_class` factor of an action type. */
export function verbFactor(actionType: string): RiskFactor {
  const { cls, verb } = classifyVerb(actionType);
  const detail =
    verb === null
      ? `no known verb in "${actionType}"`
      : `"${verb}" is a ${cls === 'high' ? 'destructive or irreversible' : cls === 'medium' ? 'write' : 'read-only'} verb`;
  return { name: 'verb_class', points: VERB_POINTS[cls], detail };
}

/** The agent's recent call rate, as {@link UsageTracker.velocity} reports it. */
export interface VelocitySample {
  /** Calls recorded in the last 60 seconds. */
  lastMinute: number;
  /** The agent's average calls per minute over the last hour, before the last minute. */
  baselinePerMinute: number;
}

/** When a burst counts as velocity risk. */
export interface VelocityThresholds {
  /** Fewer calls than this in the last minute is never a burst. */
  minCallsPerMinute: number;
  /** The baseline used is at least this, so a new or quiet agent is not flagged for a handful of calls. */
  baselineFloorPerMinute: number;
  /** Last minute ≥ ratio × baseline is a burst (15 points); ≥ 3 × ratio, a strong one (30 points). */
  ratio: number;
}

/** Defaults: at least 30 calls in a minute, and 3× the agent's baseline (itself at least 10/min). */
export const DEFAULT_VELOCITY: VelocityThresholds = { minCallsPerMinute: 30, baselineFloorPerMinute: 10, ratio: 3 };

/** The `velocity` factor, or null when the agent is not bursting. */
export function velocityFactor(sample: VelocitySample, t: VelocityThresholds = DEFAULT_VELOCITY): RiskFactor | null {
  if (sample.lastMinute < t.minCallsPerMinute) return null;
  const baseline = Math.max(sample.baselinePerMinute, t.baselineFloorPerMinute);
  const ratio = sample.lastMinute / baseline;
  if (ratio < t.ratio) return null;
  return {
    name: 'velocity',
    points: ratio >= 3 * t.ratio ? 30 : 15,
    detail: `${sample.lastMinute} calls in the last minute, ${ratio.toFixed(1)}× this agent's usual ${sample.baselinePerMinute.toFixed(1)}/min`,
  };
}

/** Points for a tool that declares itself destructive (MCP `destructiveHint`). */
export const DESTRUCTIVE_HINT_POINTS = 30;
/** Points for a tool that declares it reaches the outside world (MCP `openWorldHint`). */
export const OPEN_WORLD_HINT_POINTS = 10;

/**
 * What a tool says of itself (MCP tool annotations, passed as `context.toolAnnotations`): a
 * destructive or open-world tool scores higher. A read-only hint lowers nothing — a tool's own
 * claim is not a reason to trust a call less.
 */
function annotationFactors(hints: unknown, factors: RiskFactor[]): void {
  if (typeof hints !== 'object' || hints === null) return;
  const h = hints as { destructiveHint?: unknown; readOnlyHint?: unknown; openWorldHint?: unknown };
  if (h.destructiveHint === true && h.readOnlyHint !== true) {
    factors.push({ name: 'tool_destructive_hint', points: DESTRUCTIVE_HINT_POINTS, detail: 'the tool declares it may destroy or overwrite data' });
  }
  if (h.openWorldHint === true) {
    factors.push({ name: 'tool_open_world_hint', points: OPEN_WORLD_HINT_POINTS, detail: 'the tool declares it reaches systems outside this one' });
  }
}

/** A score and the factors that sum to it. */
export interface RiskAssessment {
  score: number;
  factors: RiskFactor[];
}

/**
 * Score a call: verb class + argument detectors + velocity, then raise to `ruleRisk` (a matched
 * rule's `risk`) with a `rule_risk` factor for the difference. Capped at 100.
 */
export function assessRisk(
  request: ActionRequest,
  velocity: VelocitySample | null,
  ruleRisk?: { points: number; ruleId: string },
  thresholds: VelocityThresholds = DEFAULT_VELOCITY,
): RiskAssessment {
  const factors: RiskFactor[] = [verbFactor(request.actionType)];
  detectArgumentRisks(request, factors);
  const hints = request.context.toolAnnotations;
  if (hints !== undefined) annotationFactors(hints, factors);
  if (velocity !== null) {
    const v = velocityFactor(velocity, thresholds);
    if (v !== null) factors.push(v);
  }
  let sum = 0;
  for (let i = 0; i < factors.length; i++) sum += (factors[i] as RiskFactor).points;
  if (ruleRisk !== undefined && ruleRisk.points > sum) {
    factors.push({ name: 'rule_risk', points: ruleRisk.points - sum, detail: `rule "${ruleRisk.ruleId}" sets the risk to at least ${ruleRisk.points}` });
    sum = ruleRisk.points;
  }
  return { score: Math.min(100, sum), factors };
}
