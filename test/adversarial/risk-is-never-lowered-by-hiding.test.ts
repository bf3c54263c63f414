/**
 * Risk is never lowered by hiding. Dangerous content scores at least as much however it is
 * wrapped: after padding, deep in nested objects or arrays, after thousands of other keys, at the
 * end of a long string, in a key. Within the detectors' limits (MAX_SCAN_CHARS, MAX_SCAN_VALUES,
 * MAX_SCAN_DEPTH) the same detector fires; past them the call gets `not_inspected`, which is
 * worth more than any single detector and enough to hold the call for a person under the
 * default thresholds, with a detail saying what was not read and why.
 */
import { describe, expect, it } from 'vitest';
import { assessRisk, evaluatePolicy, parsePolicy, UsageTracker } from '../../src/engine/index.js';
import { DETECTOR_POINTS, MAX_SCAN_CHARS, MAX_SCAN_DEPTH, MAX_SCAN_VALUES } from '../../src/engine/detectors.js';
import { input, request } from '../engine/helpers.js';

/** Dangerous values, each with the detector that must see it. */
const PAYLOADS: Array<[string, string]> = [
  ['rm -rf /', 'destructive_shell'],
  ['DROP TABLE users', 'sql_destructive'],
  ['UPDATE accounts SET balance = 0', 'sql_write_without_where'],
  ['key AKIAIOSFODNN7EXAMPLE', 'secret_in_arguments'],
  ['Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'secret_in_arguments'],
  ['mail bob@example.com', 'pii_email'],
  ['SSN 123-45-6789', 'pii_ssn'],
  ['card 4111 1111 1111 1111', 'pii_credit_card'],
];

/** Ways to hide a value that stay within the documented limits: the detector must still fire. */
const HIDINGS: Array<[string, (payload: string) => Record<string, unknown>]> = [
  ['after 4,096 spaces', (p) => ({ text: ' '.repeat(4096) + p })],
  ['after 100,000 spaces and newlines', (p) => ({ text: ' \n'.repeat(50_000) + p })],
  ['nested five levels deep', (p) => ({ a: { b: { c: { d: { e: p } } } } })],
  ['nested 60 levels deep', (p) => ({ deep: nest(p, 60) })],
  ['in arrays nested 50 deep', (p) => ({ list: nestArray(p, 50) })],
  ['after 256 other keys', (p) => ({ ...filler(256), zzz: p })],
  ['after 20,000 other keys', (p) => ({ ...filler(20_000), zzz: p })],
  ['at the end of an array of 20,000 items', (p) => ({ items: [...Array.from({ length: 20_000 }, (_, i) => `item ${i}`), p] })],
  ['in an object inside a long array', (p) => ({ rows: [...Array.from({ length: 1_000 }, () => ({ ok: 'fine' })), { note: p }] })],
  ['in a key', (p) => ({ options: { [p]: true } })],
];

function nest(value: unknown, levels: number): unknown {
  let v = value;
  for (let i = 1; i < levels; i++) v = { inner: v };
  return v;
}

function nestArray(value: unknown, levels: number): unknown {
  let v = value;
  for (let i = 1; i < levels; i++) v = [v];
  return v;
}

function filler(count: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < count; i++) out[`field${i}`] = `ordinary value ${i}`;
  return out;
}

/** `count` keys with numbers: many values, little text. */
function counts(count: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < count; i++) out[`n${i}`] = i;
  return out;
}

function assess(parameters: Record<string, unknown>) {
  return assessRisk(request({ actionType: 'file.read', parameters }), null);
}

describe('within the limits, hidden content is found where it hides', () => {
  for (const [payload, detector] of PAYLOADS) {
    const plain = assess({ text: payload });
    it(`plainly, "${payload.slice(0, 24)}" fires ${detector}`, () => {
      expect(plain.factors.map((f) => f.name)).toContain(detector);
    });
    it.each(HIDINGS)(`"${payload.slice(0, 24)}" %s: ${detector} fires and the score is not lower`, (_how, hide) => {
      const hidden = assess(hide(payload));
      expect(hidden.factors.map((f) => f.name)).toContain(detector);
      expect(hidden.score).toBeGreaterThanOrEqual(plain.score);
    });
  }

  it('rm with its flags pushed 4,096 spaces away is still rm -rf', () => {
    expect(assess({ command: 'rm' + ' '.repeat(4096) + '-rf /' }).factors.map((f) => f.name)).toContain('destructive_shell');
  });
});

describe('past the limits, what was not read raises the risk and says so', () => {
  const PLAIN = assess({ command: 'rm -rf /' });

  const BEYOND: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a string longer than the text scanned per call', { blob: 'x'.repeat(MAX_SCAN_CHARS) + ' rm -rf /' }, /parameters\.blob.*beyond the 1,048,576 characters scanned per call/],
    ['text spread over values, past the per-call total', { a: 'x'.repeat(MAX_SCAN_CHARS / 2), b: 'y'.repeat(MAX_SCAN_CHARS / 2), c: 'rm -rf /' }, /parameters\.c.*characters scanned per call/],
    ['more values than are visited per call', { ...counts(MAX_SCAN_VALUES), zzz: 'rm -rf /' }, /values after the first 100,000 of the call \(from parameters\.zzz on\)/],
    ['nesting deeper than is scanned', { deep: nest({ command: 'rm -rf /' }, MAX_SCAN_DEPTH + 1) }, /parameters\.deep(\.inner)+\.?…?, nested deeper than 64 levels/],
    ['a Map', { options: new Map([['command', 'rm -rf /']]) }, /parameters\.options, a Map/],
    ['a Set', { options: new Set(['rm -rf /']) }, /parameters\.options, a Set/],
    ['binary data', { content: new TextEncoder().encode('rm -rf /') }, /parameters\.content, binary data/],
  ];

  it.each(BEYOND)('%s: not_inspected, naming what and why, and never a lower score', (_how, parameters, detail) => {
    const hidden = assess(parameters);
    const factor = hidden.factors.find((f) => f.name === 'not_inspected');
    expect(factor).toBeDefined();
    expect(factor?.points).toBe(DETECTOR_POINTS.not_inspected);
    expect(factor?.detail).toMatch(detail);
    expect(hidden.score).toBeGreaterThanOrEqual(PLAIN.score);
  });

  it('not_inspected alone outweighs any single detector', () => {
    const detectors = Object.entries(DETECTOR_POINTS).filter(([name]) => name !== 'not_inspected');
    for (const [, points] of detectors) expect(DETECTOR_POINTS.not_inspected).toBeGreaterThan(points);
  });

  it('content that is merely large, with nothing dangerous in sight, is flagged too', () => {
    const names = assess({ blob: 'lorem ipsum '.repeat(MAX_SCAN_CHARS / 12 + 1) }).factors.map((f) => f.name);
    expect(names).toEqual(['verb_class', 'not_inspected']);
  });

  it('under the default thresholds an uninspected call waits for a person where the plain one would run', () => {
    const policy = parsePolicy('version: 1\ndefault: allow\nrules:\n  - { id: r, actions: ["other"], effect: deny }\n', 'open.policy.yaml');
    const usage = new UsageTracker();
    const plain = evaluatePolicy(policy, input({ actionType: 'file.read', parameters: { note: 'rm -rf /' } }), usage);
    const hidden = evaluatePolicy(policy, input({ actionType: 'file.read', parameters: { note: 'x'.repeat(MAX_SCAN_CHARS) + ' rm -rf /' } }), usage);
    expect(plain.decision).toBe('allowed'); // 5 + 45 = 50: below requireApprovalAt 70
    expect(hidden.decision).toBe('pending');
    expect(hidden.riskScore).toBeGreaterThanOrEqual(70);
    expect(hidden.riskFactors.map((f) => f.name)).toContain('not_inspected');
  });

  it('the limit is exact: text just within it is read to its last character', () => {
    const exact = assess({ blob: 'x'.repeat(MAX_SCAN_CHARS - ' rm -rf /'.length) + ' rm -rf /' });
    expect(exact.factors.map((f) => f.name)).toEqual(['verb_class', 'destructive_shell']);
  });
});
