/**
 * Argument detectors: cheap pattern checks over a call's resource and parameters that each add a
 * named risk factor. This is the hot path, so scanning is bounded (depth, number of values,
 * characters per string), each detector fires at most once per call, and regexes only run after
 * a cheap test says they might match. Details never quote the value (it may be a secret).
 */
import type { ActionRequest, RiskFactor } from '../types.js';

/** Points each detector adds. */
export const DETECTOR_POINTS = {
  sql_destructive: 40,
  sql_write_without_where: 35,
  destructive_shell: 45,
  wildcard_resource: 20,
  secret_in_arguments: 30,
  pii_email: 10,
  pii_ssn: 25,
  pii_credit_card: 25,
  large_amount: 25,
} as const;

/** Names of the detector factors. */
export type DetectorName = keyof typeof DETECTOR_POINTS;

/** Amounts at or above this (in `amount`, `value`, `total`…) are "large". */
export const LARGE_AMOUNT = 10_000;
/** Characters of one string value that are scanned; the rest is ignored. */
export const MAX_SCAN_CHARS = 4096;
/** Parameter values visited per call. */
export const MAX_SCAN_VALUES = 256;
/** Nesting depth of parameters that is scanned (top level = 1). */
export const MAX_SCAN_DEPTH = 4;

const SQL_HINT = /\b(?:update|delete|drop|truncate)\b/i;
const SQL_DROP = /(?:^|;)\s*(?:drop\s+(?:table|database|schema|view|index|user)\b|truncate\b)/i;
const SQL_WRITE = /^\s*(?:update\s+\S+\s+set\b|delete\s+from\b)/i;
const SQL_WHERE = /\bwhere\b/i;
const DESTRUCTIVE_SHELL =
  /\brm\s+(?:-[a-zA-Z]*(?:r[a-zA-Z]*f|f[a-zA-Z]*r)|-[rR]\s+-f|-f\s+-[rR]|--recursive\s+--force|--force\s+--recursive)|(?:^|[\s;&|(`])sudo\s|\bmkfs(?:\.\w+)?\b|\bdd\s+if=|\bchmod\s+(?:-[Rf]+\s+)*0?777\b|>\s*\/dev\/(?:sd|nvme|hd|disk)|:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:/;
const SECRET_VALUE =
  /\bAKIA[0-9A-Z]{16}\b|\bsk-(?:[A-Za-z0-9_-]{20,})|-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;
const SECRET_KEY = /pass(?:word|wd|phrase)?$|secret|token|api[-_]?key|private[-_]?key|credential|authorization|bearer/i;
const PASSWORD_KEY = /^(?:pass|password|passwd|passphrase)$/i;
const TOKEN_SHAPE = /^(?:[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{24,}={0,2})$/;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
const SSN = /\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b/;
const CARD_CANDIDATE = /\b\d(?:[ -]?\d){12,18}\b/g;
const AMOUNT_KEY = /^(?:amount|value|total|sum|price)$|(?:amount|total)$/i;

/** Whether a digit string passes the Luhn checksum (credit card numbers do). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function hasCardNumber(text: string): boolean {
  CARD_CANDIDATE.lastIndex = 0;
  for (let m = CARD_CANDIDATE.exec(text); m !== null; m = CARD_CANDIDATE.exec(text)) {
    const digits = m[0].replace(/[ -]/g, '');
    if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) return true;
  }
  return false;
}

/** Collects factors, each at most once. */
class Findings {
  private fired = 0;
  constructor(private readonly out: RiskFactor[]) {}
  has(bit: number): boolean {
    return (this.fired & bit) !== 0;
  }
  add(bit: number, name: DetectorName, detail: string): void {
    if (this.fired & bit) return;
    this.fired |= bit;
    this.out.push({ name, points: DETECTOR_POINTS[name], detail });
  }
}

const BIT = {
  sql_destructive: 1,
  sql_write_without_where: 2,
  destructive_shell: 4,
  wildcard_resource: 8,
  secret_in_arguments: 16,
  pii_email: 32,
  pii_ssn: 64,
  pii_credit_card: 128,
  large_amount: 256,
} as const;

function scanString(key: string, path: string, raw: string, f: Findings): void {
  if (raw.length < 4) return;
  const text = raw.length > MAX_SCAN_CHARS ? raw.slice(0, MAX_SCAN_CHARS) : raw;
  if (SQL_HINT.test(text)) {
    if (!f.has(BIT.sql_destructive) && SQL_DROP.test(text)) f.add(BIT.sql_destructive, 'sql_destructive', `${path} drops or truncates a table`);
    if (!f.has(BIT.sql_write_without_where)) {
      for (const statement of text.split(';')) {
        if (SQL_WRITE.test(statement) && !SQL_WHERE.test(statement)) {
          const verb = /^\s*(\w+)/.exec(statement)?.[1]?.toUpperCase() ?? 'write';
          f.add(BIT.sql_write_without_where, 'sql_write_without_where', `${path} runs ${verb} without WHERE (every row)`);
          break;
        }
      }
    }
  }
  if (!f.has(BIT.destructive_shell) && DESTRUCTIVE_SHELL.test(text)) {
    f.add(BIT.destructive_shell, 'destructive_shell', `${path} contains a destructive shell command (rm -rf, sudo, mkfs, dd, chmod 777, raw disk write)`);
  }
  if (!f.has(BIT.secret_in_arguments)) {
    if (SECRET_VALUE.test(text)) {
      f.add(BIT.secret_in_arguments, 'secret_in_arguments', `${path} contains a credential (API key, private key or token)`);
    } else if (SECRET_KEY.test(key) && (PASSWORD_KEY.test(key) || TOKEN_SHAPE.test(text))) {
      f.add(BIT.secret_in_arguments, 'secret_in_arguments', `${path} looks like a secret ("${key}")`);
    }
  }
  if (!f.has(BIT.pii_email) && text.includes('@') && EMAIL.test(text)) f.add(BIT.pii_email, 'pii_email', `${path} contains an email address`);
  if (!f.has(BIT.pii_ssn) && text.includes('-') && SSN.test(text)) f.add(BIT.pii_ssn, 'pii_ssn', `${path} contains an SSN-like number`);
  if (!f.has(BIT.pii_credit_card) && text.length >= 13 && hasCardNumber(text)) {
    f.add(BIT.pii_credit_card, 'pii_credit_card', `${path} contains a card number (passes the Luhn check)`);
  }
  if (!f.has(BIT.large_amount) && AMOUNT_KEY.test(key) && text.length < 32) {
    const n = Number(text.replace(/[,_\s]/g, ''));
    if (Number.isFinite(n) && n >= LARGE_AMOUNT) f.add(BIT.large_amount, 'large_amount', `${path} is ${n.toLocaleString('en-US')} (≥ ${LARGE_AMOUNT.toLocaleString('en-US')})`);
  }
}

function scanNumber(key: string, path: string, n: number, f: Findings): void {
  if (n >= LARGE_AMOUNT && !f.has(BIT.large_amount) && AMOUNT_KEY.test(key)) {
    f.add(BIT.large_amount, 'large_amount', `${path} is ${n.toLocaleString('en-US')} (≥ ${LARGE_AMOUNT.toLocaleString('en-US')})`);
  }
}

/**
 * Run every detector over `request.resource` and `request.parameters`, appending one factor per
 * detector that fires to `out`.
 */
export function detectArgumentRisks(request: ActionRequest, out: RiskFactor[]): void {
  const f = new Findings(out);
  if (request.resource.includes('*')) f.add(BIT.wildcard_resource, 'wildcard_resource', `resource "${request.resource.slice(0, 80)}" is a wildcard`);
  let budget = MAX_SCAN_VALUES;
  const visit = (value: unknown, key: string, path: string, depth: number): void => {
    if (budget-- <= 0) return;
    switch (typeof value) {
      case 'string':
        scanString(key, path, value, f);
        return;
      case 'number':
        scanNumber(key, path, value, f);
        return;
      case 'bigint':
        scanNumber(key, path, Number(value), f);
        return;
      case 'object':
        if (value === null || depth >= MAX_SCAN_DEPTH) return;
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length && budget > 0; i++) visit(value[i], key, `${path}[${i}]`, depth + 1);
        } else {
          for (const k in value as Record<string, unknown>) {
            if (budget <= 0) break;
            visit((value as Record<string, unknown>)[k], k, `${path}.${k}`, depth + 1);
          }
        }
        return;
      default:
        return;
    }
  };
  const params = request.parameters;
  for (const k in params) {
    if (budget <= 0) break;
    visit(params[k], k, `parameters.${k}`, 1);
  }
}
