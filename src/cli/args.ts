/**
 * Validating option values. Every failure is a {@link UsageError} naming the option, so the
 * user gets exit code 2 and a one-line hint.
 */
import { UsageError } from './errors.js';

/** An integer option within `[min, max]`. */
export function parseIntegerOption(
  value: string,
  option: string,
  bounds: { min: number; max: number },
  helpFor: string,
): number {
  const trimmed = value.trim();
  const parsed = /^-?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < bounds.min || parsed > bounds.max) {
    throw new UsageError(`--${option} must be an integer from ${bounds.min} to ${bounds.max}, got "${value}"`, helpFor);
  }
  return parsed;
}

/** One of a fixed set of words. */
export function parseEnumOption<const T extends string>(value: string, option: string, allowed: readonly T[], helpFor: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${option} must be one of ${allowed.join(', ')}, got "${value}"`, helpFor);
}

/** A date or date-time, returned as a full ISO string (UTC) so it compares with stored times. */
export function parseTimeOption(value: string, option: string, helpFor: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new UsageError(`--${option} must be an ISO date or time such as 2025-01-31 or 2025-01-31T12:00:00Z, got "${value}"`, helpFor);
  }
  return new Date(ms).toISOString();
}
