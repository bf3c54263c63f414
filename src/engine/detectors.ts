/**
 * Argument detectors: cheap pattern checks over a call's resource and parameters that each add a
 * named risk factor. Each detector fires at most once per call, regexes only run after a cheap
 * test says they might match, and every check takes time linear in the text it reads (no regex
 * here can backtrack more than a constant per character), so the whole scan is linear in the
 * size of the arguments. Details never quote the value (it may be a secret).
 *
 * Scanning stops at explicit limits ({@link MAX_SCAN_CHARS}, {@link MAX_SCAN_VALUES},
 * {@link MAX_SCAN_DEPTH}). Whatever lies beyond them is not ignored: it adds the `not_inspected`
 * factor, so hiding content where the detectors do not look raises the risk rather than lowers it.
 */
import type { ActionRequest, RiskFactor } from '../core/types.js';

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
  /**
   * Part of the arguments was past a scanning limit. 70 is the default `requireApprovalAt`, so
   * such a call waits for a person at least (more with a riskier verb); and it is more than any
   * single detector (45), so moving one dangerous value out of sight never lowers the score.
   */
  not_inspected: 70,
} as const;

/** Names of the detector factors. */
export type DetectorName = keyof typeof DETECTOR_POINTS;

/** Amounts at or above this (in `amount`, `value`, `total`…) are "large". */
export const LARGE_AMOUNT = 10_000;
/** Characters of parameters scanned per call (string values and keys together, 1 MiB). */
export const MAX_SCAN_CHARS = 1_048_576;
/** Parameter values (of any type, containers included) visited per call. */
export const MAX_SCAN_VALUES = 100_000;
/** Nesting depth of parameters that is scanned (top level = 1). */
export const MAX_SCAN_DEPTH = 64;
/** Keys longer than this, or with characters other than letters, digits, `_ - . $`, are scanned as text. */
const MAX_NAME_LENGTH = 64;
/** Longest path quoted in a detail. */
const MAX_PATH_TEXT = 160;

const SQL_HINT = /\b(?:update|delete|drop|truncate)\b/i;
const SQL_DROP = /(?:^|;)\s*(?:drop\s+(?:table|database|schema|view|index|user)\b|truncate\b)/i;
/** A statement that writes every row unless it has a WHERE (the statement's start, then its verb phrase). */
const SQL_WRITE = /(?:^|;)\s*(update\s+[^\s;]+\s+set\b|delete\s+from\b)/gi;
const SQL_WHERE = /\bwhere\b/i;
// The flags of `rm` are read with lookaheads: `-[a-zA-Z]*(?:r[a-zA-Z]*f|…)` backtracks
// quadratically on a long run of letters.
const DESTRUCTIVE_SHELL =
  /\brm\s+(?:-(?=[a-zA-Z]*[rR])(?=[a-zA-Z]*f)|-[rR]\s+-f|-f\s+-[rR]|--recursive\s+--force|--force\s+--recursive)|(?:^|[\s;&|(`])sudo\s|\bmkfs(?:\.\w+)?\b|\bdd\s+if=|\bchmod\s+(?:-[Rf]+\s+)*0?777\b|>\s*\/dev\/(?:sd|nvme|hd|disk)|:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:/;
/** Credentials by shape; JWTs are found by {@link hasJwt}, which a regex could only do in quadratic time. */
const SECRET_VALUE = /\bAKIA[0-9A-Z]{16}\b|\bsk-(?:[A-Za-z0-9_-]{20,})|-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----/;
const SECRET_KEY = /pass(?:word|wd|phrase)?$|secret|token|api[-_]?key|private[-_]?key|credential|authorization|bearer/i;
const PASSWORD_KEY = /^(?:pass|password|passwd|passphrase)$/i;
const TOKEN_SHAPE = /^(?:[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{24,}={0,2})$/;
// One character before the `@` is enough to say "there is an address" and keeps the search
// linear (a `+` there rescans the whole run before every `@`).
const EMAIL = /[A-Za-z0-9._%+-]@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
const SSN = /\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b/;
const CARD_CANDIDATE = /\b\d(?:[ -]?\d){12,18}\b/g;
const AMOUNT_KEY = /^(?:amount|value|total|sum|price)$|(?:amount|total)$/i;
/** A JWT's payload and signature after the dot that ends its header. */
const JWT_TAIL = /\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/y;

/**
 * Whether a digit string passes the Luhn checksum (credit card numbers do). With
 * `separators`, characters other than digits (the ` ` or `-` a card candidate may have) are
 * skipped rather than failing, so no digit string needs building.
 */
export function luhnValid(digits: string, separators = false): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) {
      if (separators) continue;
      return false;
    }
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Whether `text` has 13–19 digits (optionally split by single spaces or dashes) that pass Luhn. */
function hasCardNumber(text: string): boolean {
  CARD_CANDIDATE.lastIndex = 0;
  for (let m = CARD_CANDIDATE.exec(text); m !== null; m = CARD_CANDIDATE.exec(text)) {
    if (luhnValid(m[0], true)) return true;
  }
  return false;
}

/** A–Z, a–z, 0–9, `_` (what `\w` matches). */
function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** Base64url: word characters and `-`. */
function isBase64Url(c: number): boolean {
  return isWordChar(c) || c === 45;
}

/**
 * Whether `text` holds a JWT: `eyJ…` at a word boundary, 8+ base64url characters, `.eyJ…` (8+),
 * `.` and 8+ more. Works from each `.eyJ` outward, so each run of characters is read a bounded
 * number of times.
 */
function hasJwt(text: string): boolean {
  for (let dot = text.indexOf('.eyJ'); dot >= 0; dot = text.indexOf('.eyJ', dot + 1)) {
    JWT_TAIL.lastIndex = dot;
    if (!JWT_TAIL.test(text)) continue;
    let start = dot;
    while (start > 0 && isBase64Url(text.charCodeAt(start - 1))) start--;
    for (let e = start; e + 11 <= dot; e++) {
      if (text.charCodeAt(e) === 101 && text.startsWith('eyJ', e) && (e === 0 || !isWordChar(text.charCodeAt(e - 1)))) return true;
    }
  }
  return false;
}

/** Whether some `;`-separated statement of `text` is an UPDATE … SET or DELETE FROM without WHERE; its verb if so. */
function writeWithoutWhere(text: string): string | null {
  SQL_WRITE.lastIndex = 0;
  for (let m = SQL_WRITE.exec(text); m !== null; m = SQL_WRITE.exec(text)) {
    const verbAt = m.index + m[0].length - (m[1] as string).length;
    let end = text.indexOf(';', m.index + m[0].length);
    if (end < 0) end = text.length;
    if (!SQL_WHERE.test(text.slice(verbAt, end))) return text.charCodeAt(verbAt) === 0x75 || text.charCodeAt(verbAt) === 0x55 ? 'UPDATE' : 'DELETE';
    SQL_WRITE.lastIndex = end; // the next statement
  }
  return null;
}

/** Whether a key is a plain name (`amount`, `api_key`, `x-request-id`): such keys are not scanned as text. */
function isPlainName(key: string): boolean {
  if (key.length > MAX_NAME_LENGTH) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (!(isBase64Url(c) || c === 46 || c === 36)) return false;
  }
  return true;
}

/** A path for a detail, shortened if a key is long. */
function shown(path: string): string {
  return path.length > MAX_PATH_TEXT ? `${path.slice(0, MAX_PATH_TEXT)}…` : path;
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

/** Content detectors over one piece of text (a value or a key); `where` names it in details. */
function scanText(where: string, text: string, f: Findings): void {
  if (SQL_HINT.test(text)) {
    if (!f.has(BIT.sql_destructive) && SQL_DROP.test(text)) f.add(BIT.sql_destructive, 'sql_destructive', `${where} drops or truncates a table`);
    if (!f.has(BIT.sql_write_without_where)) {
      const verb = writeWithoutWhere(text);
      if (verb !== null) f.add(BIT.sql_write_without_where, 'sql_write_without_where', `${where} runs ${verb} without WHERE (every row)`);
    }
  }
  if (!f.has(BIT.destructive_shell) && DESTRUCTIVE_SHELL.test(text)) {
    f.add(BIT.destructive_shell, 'destructive_shell', `${where} contains a destructive shell command (rm -rf, sudo, mkfs, dd, chmod 777, raw disk write)`);
  }
  if (!f.has(BIT.secret_in_arguments) && (SECRET_VALUE.test(text) || (text.includes('.eyJ') && hasJwt(text)))) {
    f.add(BIT.secret_in_arguments, 'secret_in_arguments', `${where} contains a credential (API key, private key or token)`);
  }
  if (!f.has(BIT.pii_email) && text.includes('@') && EMAIL.test(text)) f.add(BIT.pii_email, 'pii_email', `${where} contains an email address`);
  if (!f.has(BIT.pii_ssn) && text.includes('-') && SSN.test(text)) f.add(BIT.pii_ssn, 'pii_ssn', `${where} contains an SSN-like number`);
  if (!f.has(BIT.pii_credit_card) && text.length >= 13 && hasCardNumber(text)) {
    f.add(BIT.pii_credit_card, 'pii_credit_card', `${where} contains a card number (passes the Luhn check)`);
  }
}

/** Detectors that read the key's name too: secrets by name, amounts. `name` is '' for a key that is not a plain name. */
function scanNamedString(name: string, where: string, text: string, f: Findings): void {
  if (name === '') return;
  if (!f.has(BIT.secret_in_arguments) && SECRET_KEY.test(name) && (PASSWORD_KEY.test(name) || TOKEN_SHAPE.test(text))) {
    f.add(BIT.secret_in_arguments, 'secret_in_arguments', `${where} looks like a secret ("${name}")`);
  }
  if (!f.has(BIT.large_amount) && text.length < 32 && AMOUNT_KEY.test(name)) {
    const n = Number(text.replace(/[,_\s]/g, ''));
    if (Number.isFinite(n) && n >= LARGE_AMOUNT) f.add(BIT.large_amount, 'large_amount', `${where} is ${n.toLocaleString('en-US')} (≥ ${LARGE_AMOUNT.toLocaleString('en-US')})`);
  }
}

function scanNumber(name: string, where: string, n: number, f: Findings): void {
  if (n >= LARGE_AMOUNT && !f.has(BIT.large_amount) && name !== '' && AMOUNT_KEY.test(name)) {
    f.add(BIT.large_amount, 'large_amount', `${where} is ${n.toLocaleString('en-US')} (≥ ${LARGE_AMOUNT.toLocaleString('en-US')})`);
  }
}

/** One call's walk over its parameters: the budgets left, and what could not be inspected. */
class ParameterScan {
  private valuesLeft = MAX_SCAN_VALUES;
  private charsLeft = MAX_SCAN_CHARS;
  private valuesExhausted = false;
  /** Why some content was not inspected (first few reasons). */
  readonly skipped: string[] = [];

  constructor(private readonly f: Findings) {}

  /** Visit every entry of a parameters object (top level = depth 1). */
  entries(container: Record<string, unknown>, path: string, depth: number): void {
    for (const k in container) {
      if (this.valuesLeft <= 0) return this.outOfValues(`${path}.${k}`);
      const where = `${path}.${k}`;
      let name = k;
      if (!isPlainName(k)) {
        name = '';
        const text = this.take(k, `a key of ${shown(path)}`);
        if (text.length >= 4) scanText(`a key of ${shown(path)}`, text, this.f);
      }
      this.value(container[k], name, where, depth);
    }
  }

  /** Visit one value; `name` is its key (or its array's key) when that is a plain name, else ''. */
  value(value: unknown, name: string, path: string, depth: number): void {
    if (this.valuesLeft-- <= 0) return this.outOfValues(path);
    switch (typeof value) {
      case 'string': {
        if (value.length < 4) return;
        const where = shown(path);
        const text = this.take(value, where);
        if (text.length >= 4) {
          scanText(where, text, this.f);
          scanNamedString(name, where, text, this.f);
        }
        return;
      }
      case 'number':
        scanNumber(name, shown(path), value, this.f);
        return;
      case 'bigint':
        scanNumber(name, shown(path), Number(value), this.f);
        return;
      case 'object': {
        if (value === null) return;
        if (Array.isArray(value)) {
          if (value.length === 0) return;
          if (depth >= MAX_SCAN_DEPTH) return this.skip(`${shown(path)}, nested deeper than ${MAX_SCAN_DEPTH} levels`);
          for (let i = 0; i < value.length; i++) {
            if (this.valuesLeft <= 0) return this.outOfValues(`${path}[${i}]`);
            this.value(value[i], name, `${path}[${i}]`, depth + 1);
          }
          return;
        }
        // Their content is invisible to for…in (and to JSON): say so rather than pass it as empty.
        if (value instanceof Map || value instanceof Set) return this.skip(`${shown(path)}, a ${value instanceof Map ? 'Map' : 'Set'} (only plain objects and arrays are read)`);
        if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return this.skip(`${shown(path)}, binary data (only text is read)`);
        if (depth >= MAX_SCAN_DEPTH) {
          for (const _ in value) return this.skip(`${shown(path)}, nested deeper than ${MAX_SCAN_DEPTH} levels`);
          return;
        }
        this.entries(value as Record<string, unknown>, path, depth + 1);
        return;
      }
      default:
        return;
    }
  }

  /** The part of `text` the character budget still covers; notes the rest as not inspected. */
  private take(text: string, where: string): string {
    if (text.length <= this.charsLeft) {
      this.charsLeft -= text.length;
      return text;
    }
    const covered = this.charsLeft;
    this.charsLeft = 0;
    this.skip(
      `${(text.length - covered).toLocaleString('en-US')} characters of ${where} (beyond the ${MAX_SCAN_CHARS.toLocaleString('en-US')} characters scanned per call)`,
    );
    return text.slice(0, covered);
  }

  /** Values ran out at `path`: noted once, however many containers the walk unwinds through. */
  private outOfValues(path: string): void {
    if (this.valuesExhausted) return;
    this.valuesExhausted = true;
    this.skip(`values after the first ${MAX_SCAN_VALUES.toLocaleString('en-US')} of the call (from ${shown(path)} on)`);
  }

  private skip(reason: string): void {
    if (this.skipped.length < 3) this.skipped.push(reason);
  }
}

/**
 * Run every detector over `request.resource` and `request.parameters` (values at any depth, and
 * keys that are not plain names), appending one factor per detector that fires to `out`, then
 * `not_inspected` if anything was beyond the scanning limits.
 */
export function detectArgumentRisks(request: ActionRequest, out: RiskFactor[]): void {
  const f = new Findings(out);
  if (request.resource.includes('*')) f.add(BIT.wildcard_resource, 'wildcard_resource', `resource "${request.resource.slice(0, 80)}" is a wildcard`);
  const scan = new ParameterScan(f);
  scan.entries(request.parameters, 'parameters', 1);
  if (scan.skipped.length > 0) {
    out.push({ name: 'not_inspected', points: DETECTOR_POINTS.not_inspected, detail: `not inspected: ${scan.skipped.join('; ')}` });
  }
}
