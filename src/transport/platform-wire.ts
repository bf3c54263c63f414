/**
 * The hosted ASCEND platform's wire conventions (docs/architecture.md#the-ascend-platform-protocol):
 * its headers, its request signature, the JSON it signs, and how its answers read as our
 * decisions and approvals. Pure functions; `PlatformTransport` sends.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ApprovalStatus, Decision, PolicyViolation, RiskLevel } from '../core/types.js';
import { riskLevelOf } from '../core/types.js';

/** Where the platform is when no `apiUrl` is given (the original Python SDK's default). */
export const PLATFORM_DEFAULT_URL = 'https://pilot.owkai.app';

/**
 * JSON as Python's `json.dumps(value, sort_keys=True)` writes it: keys sorted, `", "` and `": "`
 * between items, every non-ASCII character as a `\u` escape of four hex digits. The platform checks signatures over this
 * form, so the client sends exactly these bytes (the original SDK signed them but sent others).
 */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(', ')}}`;
  }
  return 'null';
}

/** A time as the platform's SDK writes it: ISO 8601 UTC with microseconds and `+00:00`. */
export function platformTimestamp(date: Date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

/** `v1=` + hex HMAC-SHA256 of `<timestamp>.<body>` under the signing secret. */
export function platformSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** A correlation id as the platform's SDK makes them: `asc_` and 16 hex digits. */
export function correlationId(): string {
  return `asc_${randomBytes(8).toString('hex')}`;
}

/** What the platform's status and decision words mean here. Anything else is not understood. */
const ALLOWED = new Set(['approved', 'allowed', 'auto_approved']);
const DENIED = new Set(['denied', 'rejected']);
const PENDING = new Set(['pending', 'pending_approval', 'escalated', 'processing']);

/**
 * A platform decision word as ours; undefined for a word this client does not know (a denial:
 * the original SDK took every unknown word for "pending" and waited out its timeout).
 */
export function decisionOfWord(word: unknown): Decision | undefined {
  if (typeof word !== 'string') return undefined;
  const w = word.toLowerCase();
  if (ALLOWED.has(w)) return 'allowed';
  if (DENIED.has(w)) return 'denied';
  if (PENDING.has(w)) return 'pending';
  return undefined;
}

/** A platform approval status as ours: `denied` is a rejection; an unknown word is undefined. */
export function approvalStatusOfWord(word: unknown): Exclude<ApprovalStatus, 'expired'> | undefined {
  const decision = decisionOfWord(word);
  return decision === 'allowed' ? 'approved' : decision === 'denied' ? 'rejected' : decision;
}

/** The platform's risk level, or the one its score falls in. */
export function riskLevelFrom(level: unknown, score: number): RiskLevel {
  return level === 'low' || level === 'medium' || level === 'high' || level === 'critical' ? level : riskLevelOf(score);
}

/** A score within 0–100 (the platform sends floats; a missing one is read as the worst). */
export function riskScoreFrom(score: unknown): number {
  return typeof score === 'number' && Number.isFinite(score) ? Math.min(100, Math.max(0, score)) : 100;
}

/** The platform's violations (strings or objects) as ours. */
export function violationsFrom(value: unknown): PolicyViolation[] {
  if (!Array.isArray(value)) return [];
  return value.map((v): PolicyViolation => {
    if (typeof v === 'string') return { code: 'platform_policy', message: v };
    const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
    const message = typeof o.message === 'string' ? o.message : typeof o.description === 'string' ? o.description : JSON.stringify(v);
    const violation: PolicyViolation = { code: typeof o.code === 'string' ? o.code : 'platform_policy', message };
    const ruleId = o.policy_id ?? o.rule_id ?? o.policy_name;
    if (typeof ruleId === 'string' || typeof ruleId === 'number') violation.ruleId = String(ruleId);
    return violation;
  });
}

/** Strings of a list the platform may send as anything. */
export function stringsFrom(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string | number => typeof v === 'string' || typeof v === 'number').map(String) : [];
}

/** An id the platform sends as an integer or a string, as a string; undefined when absent. */
export function idFrom(...candidates: unknown[]): string | undefined {
  for (const c of candidates) {
    if (typeof c === 'number' && Number.isFinite(c)) return String(c);
    if (typeof c === 'string' && c.length > 0) return c;
  }
  return undefined;
}
