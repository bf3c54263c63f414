/**
 * Redaction of secrets in tool arguments and log records. Applied before anything is stored,
 * logged or sent, so a secret never leaves the process that holds it.
 */

import { REDACTED_MARK } from './redaction-mark.js';

/** What a redacted value is replaced with. */
export const REDACTED = REDACTED_MARK;

/** Key names treated as secret at any depth, whatever the user configures (compared lower-case,
 * ignoring `-` and `_`). */
const ALWAYS_SECRET_KEYS = new Set([
  'password',
  'passwd',
  'secret',
  'token',
  'apikey',
  'accesstoken',
  'refreshtoken',
  'authorization',
  'privatekey',
  'clientsecret',
  'signingsecret',
  'cookie',
  'xapikey',
]);

/** An Ascend API key inside any logged string: kept to its public id. */
const ASCEND_KEY_PATTERN = /(ak_[0-9a-f]{16}_)[A-Za-z0-9_-]{43}/g;

/** API-key-shaped keys: redacted in stored arguments, masked to a prefix in logs. */
const API_KEY_KEYS = new Set(['apikey', 'xapikey']);

/** Options of {@link Redactor}. */
export interface RedactorOptions {
  /** Replace API keys with a short prefix (`ak_live_…`) instead of {@link REDACTED}, so a log
   * still tells which key was used. Default false. */
  maskApiKeys?: boolean;
}

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/**
 * Compiled redaction rules. A path is dotted (`card.number`), `*` matches one segment, and a
 * path matches at ANY depth: `password` redacts `password`, `user.password` and
 * `items.3.password`; `card.number` redacts `payment.card.number`.
 */
export class Redactor {
  private readonly paths: string[][];
  private readonly maskApiKeys: boolean;

  constructor(paths: readonly string[] = [], options: RedactorOptions = {}) {
    this.paths = paths.map((p) => p.split('.').filter((s) => s.length > 0)).filter((p) => p.length > 0);
    this.maskApiKeys = options.maskApiKeys ?? false;
  }

  /** A copy of `value` with secret members replaced by {@link REDACTED}; the input is untouched. */
  redact<T>(value: T): T {
    return this.walk(value, []) as T;
  }

  private secretValue(key: string | undefined, value: unknown): unknown {
    if (this.maskApiKeys && key !== undefined && typeof value === 'string' && API_KEY_KEYS.has(normaliseKey(key))) return maskApiKey(value);
    return REDACTED;
  }

  private walk(value: unknown, path: string[]): unknown {
    if (typeof value === 'string') return this.maskApiKeys && value.includes('ak_') ? value.replace(ASCEND_KEY_PATTERN, '$1…') : value;
    if (value === null || typeof value !== 'object') return value;
    if (value instanceof Date) return value;
    if (value instanceof Error) return this.walk({ type: value.name, message: value.message, code: (value as { code?: unknown }).code }, path);
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const childPath = [...path, String(i)];
        const next = this.isSecret(childPath) ? this.secretValue(undefined, value[i]) : this.walk(value[i], childPath);
        if (next !== value[i]) {
          copy ??= value.slice();
          copy[i] = next;
        }
      }
      return copy ?? value;
    }
    const record = value as Record<string, unknown>;
    let copy: Record<string, unknown> | undefined;
    for (const key of Object.keys(record)) {
      const childPath = [...path, key];
      const next = this.isSecret(childPath) ? this.secretValue(key, record[key]) : this.walk(record[key], childPath);
      if (next !== record[key]) {
        copy ??= { ...record };
        copy[key] = next;
      }
    }
    return copy ?? value;
  }

  private isSecret(path: string[]): boolean {
    const last = path[path.length - 1];
    if (last !== undefined && ALWAYS_SECRET_KEYS.has(normaliseKey(last))) return true;
    for (const rule of this.paths) {
      if (rule.length > path.length) continue;
      const offset = path.length - rule.length;
      let match = true;
      for (let i = 0; i < rule.length; i++) {
        if (rule[i] !== '*' && rule[i] !== path[offset + i]) {
          match = false;
          break;
        }
      }
      if (match) return true;
    }
    return false;
  }
}

/** Mask an API key to a short recognisable prefix: `ak_live_1234…`. */
export function maskApiKey(key: string): string {
  if (key.length <= 8) return '…';
  return `${key.slice(0, 8)}…`;
}
