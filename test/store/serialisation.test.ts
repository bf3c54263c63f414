/**
 * The store's hot-path serialisers must produce exactly `canonicalJson`'s bytes: the audit hash
 * is defined over canonicalJson, and other implementations will compute it with it.
 */
import { describe, expect, it } from 'vitest';
import { prng } from '../helpers.js';
import { canonicalJson, sha256Hex } from '../../src/core/canonical.js';
import { callDigest } from '../../src/core/call-digest.js';
import { auditEventBody, type NewAuditEvent } from '../../src/store/audit-chain.js';
import { arrayWriter, canonicalJsonFast, jsonString, objectWriter } from '../../src/core/canonical-fast.js';
import { actionJson, approvalJson, isoUtc, outcomeJson } from '../../src/store/records.js';
import { makeAction, makeOutcome, makePending } from './records.js';

const STRINGS = ['', 'a', 'B', 'é', 'naïve', '"quoted"', 'back\\slash', 'line\nbreak', 'tab\t', '\u0000', '\u001f', '\u2028', '😀', '\ud800', 'z\udc00', 'key with space', '10', '2', 'constructor'];
const NUMBERS = [0, -0, 1, -1, 1.5, 1e21, 1e-7, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY, -Number.POSITIVE_INFINITY];

function randomValue(rand: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const r = rand();
  if (depth > 4 || r < 0.35) {
    const leaf = Math.floor(rand() * 9);
    switch (leaf) {
      case 0:
        return pick(STRINGS);
      case 1:
        return pick(NUMBERS);
      case 2:
        return rand() < 0.5;
      case 3:
        return null;
      case 4:
        return undefined;
      case 5:
        return new Date(Date.UTC(2026, 0, 1 + Math.floor(rand() * 300)));
      case 6:
        return BigInt(Math.floor(rand() * 1e6));
      case 7:
        return () => 1;
      default:
        return pick(STRINGS) + String(Math.floor(rand() * 100));
    }
  }
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 5) }, () => randomValue(rand, depth + 1));
  const obj: Record<string, unknown> = {};
  const n = Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) obj[pick(STRINGS) + (rand() < 0.5 ? '' : String(i))] = randomValue(rand, depth + 1);
  return obj;
}

describe('callDigest', () => {
  it('is sha256 of canonicalJson of { agentId, actionType, resource, parameters }', () => {
    const rand = prng(7);
    for (let i = 0; i < 500; i++) {
      const call = {
        agentId: String(randomValue(rand, 5)),
        actionType: 'db.query',
        resource: i % 7 === 0 ? '' : `res-${i}`,
        parameters: (randomValue(rand, 1) ?? {}) as Record<string, unknown>,
      };
      expect(callDigest(call)).toBe(sha256Hex(canonicalJson(call)));
    }
    const bare = { agentId: 'a', actionType: 'b', resource: 'c', parameters: undefined };
    expect(callDigest(bare)).toBe(sha256Hex(canonicalJson(bare)));
  });
});

describe('canonicalJsonFast', () => {
  it('equals canonicalJson on 5,000 random values', () => {
    const rand = prng(42);
    for (let i = 0; i < 5000; i++) {
      const value = randomValue(rand, 0);
      expect(canonicalJsonFast(value)).toBe(canonicalJson(value));
    }
  });

  it('equals canonicalJson on very deep values and throws on cycles', () => {
    let deep: unknown = { leaf: true };
    for (let i = 0; i < 200; i++) deep = { b: [deep], a: i };
    expect(canonicalJsonFast(deep)).toBe(canonicalJson(deep));
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    expect(() => canonicalJsonFast(cyclic)).toThrow(/circular/);
  });

  it('objectWriter / arrayWriter equal canonicalJson of the projection', () => {
    const rand = prng(7);
    const write = objectWriter(['b', 'a', 'é', '10'], { a: arrayWriter((v) => canonicalJsonFast(v)) });
    for (let i = 0; i < 2000; i++) {
      const obj: Record<string, unknown> = {};
      for (const key of ['a', 'b', 'é', '10', 'extra']) if (rand() < 0.8) obj[key] = randomValue(rand, 1);
      const projection = { b: obj.b, a: obj.a, 'é': obj['é'], '10': obj['10'] };
      expect(write(obj)).toBe(canonicalJson(projection));
    }
    expect(write(null as unknown as object)).toBe('null');
  });

  it('quotes strings exactly like JSON.stringify', () => {
    for (const s of [...STRINGS, 'plain ascii', '\\"', '\ud83d\ude00 pair', 'lone \ud83d end']) expect(jsonString(s)).toBe(JSON.stringify(s));
  });
});

describe('record serialisers', () => {
  it('actionJson / outcomeJson / approvalJson equal canonicalJson of the record', () => {
    const action = makeAction({ approvalId: 'ap-1', policyViolations: [{ code: 'c', message: 'm', ruleId: 'r' }, { code: 'd', message: 'n' }] });
    expect(actionJson(action)).toBe(canonicalJson(action));
    const failed = makeOutcome('x', { status: 'failed', result: undefined, error: 'e' });
    expect(outcomeJson(failed)).toBe(canonicalJson(failed));
    expect(outcomeJson(makeOutcome('y'))).toBe(canonicalJson(makeOutcome('y')));
    const { approval } = makePending();
    expect(approvalJson(approval)).toBe(canonicalJson(approval));
  });

  it('stores exactly the record type’s fields', () => {
    const action = { ...makeAction(), extra: 'not stored' };
    expect(JSON.parse(actionJson(action))).not.toHaveProperty('extra');
  });

  it('builds the audit event body as canonicalJson of the event without its hash', () => {
    const event: NewAuditEvent = { ts: '2026-01-01T00:00:00.000Z', type: 'approval.approved', agentId: 'a"gent', actionId: null, approvalId: 'ap', actor: 'alice' };
    const data = { z: 1, a: ['x', null], 'é': 'ü' };
    const prevHash = 'ab'.repeat(32);
    expect(auditEventBody(7, event, canonicalJson(data), prevHash)).toBe(canonicalJson({ seq: 7, ...event, data, prevHash }));
  });
});

describe('isoUtc', () => {
  it('keeps the canonical spelling, normalises others, refuses non-times', () => {
    expect(isoUtc('2026-01-01T00:00:00.000Z', 'now')).toBe('2026-01-01T00:00:00.000Z');
    expect(isoUtc('2026-01-01T01:00:00+01:00', 'now')).toBe('2026-01-01T00:00:00.000Z');
    expect(() => isoUtc('yesterday-ish', 'now')).toThrow(/now must be an ISO 8601 time/);
  });
});
