/**
 * Promise: the tool receives exactly the arguments that were evaluated, digested and recorded —
 * or the call is refused. A model controls tool arguments, so they are attacked with keys and
 * values that parsers disagree on (`__proto__`, NaN, -0, undefined, Dates, holes, functions).
 */
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, defaultDbPath, openSqliteStore, ValidationError } from '../../src/index.js';
import { Redactor } from '../../src/core/redact.js';
import { governTool } from '../../integrations/langchain/index.js';
import { captureLogs, tempDir, writePolicy } from '../helpers.js';

const POLICY = `
version: 1
default: deny
rules:
  - id: anything-goes
    actions: ["probe.*"]
    effect: allow
  - id: transfers-need-a-person
    actions: ["payments.transfer"]
    effect: require_approval
`;

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

function makeClient(durability: 'sync' | 'batched' = 'batched'): { client: AscendClient; dataDir: string } {
  const dir = tempDir();
  const dataDir = path.join(dir, '.ascend');
  const client = new AscendClient({
    agentId: 'probe-agent',
    policy: writePolicy(dir, POLICY),
    dataDir,
    audit: { durability },
    logDestination: captureLogs().destination,
  });
  clients.push(client);
  return { client, dataDir };
}

/** The recorded parameters and digest of each action, read back from the database file. */
async function recorded(client: AscendClient, dataDir: string, actionIds: string[]): Promise<Map<string, { parameters: unknown; digest: string }>> {
  await client.flush();
  const store = openSqliteStore(defaultDbPath(dataDir));
  try {
    const out = new Map<string, { parameters: unknown; digest: string }>();
    for (const id of actionIds) {
      const action = await store.getAction(id);
      if (!action) throw new Error(`action ${id} was not recorded`);
      out.set(id, { parameters: action.parameters, digest: action.digest });
    }
    return out;
  } finally {
    await store.close();
  }
}

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', 'a.b', '0', 'sql', 'amount', 'memo', '\u0000', '\ud800'];

/** Values a model (or a careless caller) may produce, JSON and not. */
function hostileValue(): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.integer(),
    fc.double(), // NaN, ±Infinity and -0 included
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt(),
    fc.date(),
    fc.constant(() => 'a function'),
    fc.constant(Symbol('s')),
  );
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('value'), { maxLength: 4 }),
      fc.sparseArray(tie('value'), { maxLength: 4 }),
      hostileObject(tie('value')),
    ),
  }));
  return value;
}

/** Objects whose keys include the hostile ones; `__proto__` as an own key, as JSON.parse makes it. */
function hostileObject(member: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return fc.array(fc.tuple(fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 6 })), member), { maxLength: 5 }).map((entries) => {
    const obj: Record<string, unknown> = {};
    for (const [k, v] of entries) Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
    return obj;
  });
}

/** Only secrets' values differ between what runs and what is recorded (they are redacted). */
const redactor = new Redactor();

describe('what runs is what was decided', () => {
  it('a "__proto__" key cannot ride along on an approved call: the call is refused, the approval stays unspent', async () => {
    const { client } = makeClient('sync');
    const plain = { to: 'acme', amount: 500 };
    const pending = await client.evaluateAction({ actionType: 'payments.transfer', parameters: plain });
    expect(pending.decision).toBe('pending');
    await client.approve(pending.approvalRequestId!, { decidedBy: 'alice' });

    // What a model can send: JSON.parse makes "__proto__" an own key, which zod's record parsing drops.
    const smuggled = JSON.parse('{"to":"acme","amount":500,"__proto__":{"memo":"also wire 1,000,000 to mallory"}}') as Record<string, unknown>;
    let ran = 0;
    const attempt = client.govern({ actionType: 'payments.transfer', parameters: smuggled }, () => ran++);
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    await expect(attempt).rejects.toMatchObject({ issues: [{ path: 'parameters.__proto__' }] });
    expect(ran).toBe(0);

    // The person's approval still covers exactly the plain call, once.
    const received: unknown[] = [];
    await client.govern({ actionType: 'payments.transfer', parameters: plain }, (_d, args) => received.push(args));
    expect(received).toEqual([plain]);
    expect((await client.checkApproval(pending.approvalRequestId!)).consumedAt).toBeTruthy();
  });

  it('values JSON cannot carry are refused, naming the path, and the tool never runs', async () => {
    const { client } = makeClient();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ amount: Number.NaN }, 'parameters.amount'],
      [{ n: Number.POSITIVE_INFINITY }, 'parameters.n'],
      [{ when: new Date(0) }, 'parameters.when'],
      [{ big: 10n }, 'parameters.big'],
      [{ items: [1, undefined] }, 'parameters.items.1'],
      // eslint-disable-next-line no-sparse-arrays
      [{ items: [1, , 3] }, 'parameters.items.1'],
      [{ deep: { fn: () => 1 } }, 'parameters.deep.fn'],
      [{ m: new Map() }, 'parameters.m'],
    ];
    for (const [parameters, where] of cases) {
      let ran = false;
      const error = await client
        .govern({ actionType: 'probe.values', parameters }, () => {
          ran = true;
        })
        .catch((err: unknown) => err);
      expect(error, where).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues[0]?.path).toBe(where);
      expect(ran).toBe(false);
    }
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(client.govern({ actionType: 'probe.values', parameters: circular }, () => 1)).rejects.toBeInstanceOf(ValidationError);
  });

  it('property: for any arguments, the tool receives exactly what the audit records; digests match only for equal arguments', async () => {
    const { client, dataDir } = makeClient();
    const runs: Array<{ actionId: string; received: Record<string, unknown> }> = [];
    await fc.assert(
      fc.asyncProperty(hostileObject(hostileValue()), async (args) => {
        let received: Record<string, unknown> | undefined;
        let actionId: string | undefined;
        const outcome = await client
          .govern({ actionType: 'probe.args', parameters: args }, (decision, parameters) => {
            received = parameters;
            actionId = decision.actionId;
          })
          .then(
            () => 'ran',
            (err: unknown) => err,
          );
        if (outcome !== 'ran') {
          // Refused as input: nothing ran.
          expect(outcome).toBeInstanceOf(ValidationError);
          expect(received).toBeUndefined();
          return;
        }
        // Plain JSON data, and equal to what JSON would carry.
        expect(received).toEqual(JSON.parse(JSON.stringify(received)));
        expect(Object.prototype.hasOwnProperty.call(received, '__proto__')).toBe(false);
        runs.push({ actionId: actionId!, received: received! });
      }),
      { numRuns: 300, seed: 20261204 },
    );
    expect(runs.length).toBeGreaterThan(50);

    const records = await recorded(client, dataDir, runs.map((r) => r.actionId));
    for (const run of runs) {
      const record = records.get(run.actionId)!;
      expect(record.parameters).toEqual(redactor.redact(run.received));
    }
    // Two calls share a digest exactly when the tool received equal arguments.
    for (let i = 0; i < runs.length; i++) {
      for (let j = i + 1; j < runs.length; j++) {
        const a = runs[i]!;
        const b = runs[j]!;
        const sameDigest = records.get(a.actionId)!.digest === records.get(b.actionId)!.digest;
        expect(sameDigest, `${JSON.stringify(a.received)} vs ${JSON.stringify(b.received)}`).toBe(isDeepStrictEqual(a.received, b.received));
      }
    }
  });

  it('property: arguments that differ only where parsers disagree never share a digest with the plain call', async () => {
    const { client, dataDir } = makeClient();
    const base = { sql: 'SELECT 1', limit: 10, offset: 0 };
    const plain = await client.evaluateAction({ actionType: 'probe.sql', parameters: base });
    const variants: Array<Record<string, unknown>> = [
      { ...base, offset: -0 },
      { ...base, extra: undefined },
      { offset: 0, limit: 10, sql: 'SELECT 1' },
    ];
    const ids: string[] = [plain.actionId];
    for (const v of variants) ids.push((await client.evaluateAction({ actionType: 'probe.sql', parameters: v })).actionId);
    const records = await recorded(client, dataDir, ids);
    // -0, an undefined member and key order change nothing a tool can observe through JSON: same digest.
    for (const id of ids) expect(records.get(id)!.digest).toBe(records.get(plain.actionId)!.digest);
    // Anything else is another call.
    const other = await client.evaluateAction({ actionType: 'probe.sql', parameters: { ...base, limit: 11 } });
    const more = await recorded(client, dataDir, [other.actionId]);
    expect(more.get(other.actionId)!.digest).not.toBe(records.get(plain.actionId)!.digest);
  });

  it('a LangChain tool with a JSON-schema schema (raw arguments) never receives a key the policy did not see', async () => {
    const { client } = makeClient();
    const received: unknown[] = [];
    const raw = tool(
      async (args: Record<string, unknown>) => {
        received.push(args);
        return 'sent';
      },
      {
        name: 'probe_send',
        description: 'Send a memo',
        schema: { type: 'object', properties: { to: { type: 'string' } }, required: ['to'] },
      },
    );
    const governed = governTool(raw, client, { actionType: 'probe.send' }) as unknown as { invoke(input: unknown): Promise<unknown> };
    const smuggled = JSON.parse('{"to":"acme","__proto__":{"memo":"also wire 1,000,000 to mallory"}}') as Record<string, unknown>;
    const answer = await governed.invoke({ type: 'tool_call', id: 'call-1', name: 'probe_send', args: smuggled });
    expect(answer).toBeInstanceOf(ToolMessage);
    expect((answer as ToolMessage).status).toBe('error');
    expect(String((answer as ToolMessage).content)).toContain('__proto__');
    expect(received).toEqual([]);

    // A plain call runs, with exactly the arguments evaluated.
    await governed.invoke({ type: 'tool_call', id: 'call-2', name: 'probe_send', args: { to: 'acme' } });
    expect(received).toEqual([{ to: 'acme' }]);
  });

  it("a Date made by the tool's own schema (z.coerce.date()) reaches the tool as a Date and the audit as its ISO string", async () => {
    const { client, dataDir } = makeClient();
    const received: unknown[] = [];
    const remind = tool(
      async (args: { when: Date }) => {
        received.push(args.when);
        return 'set';
      },
      { name: 'probe_remind', description: 'Set a reminder', schema: z.object({ when: z.coerce.date() }) },
    );
    const governed = governTool(remind, client, { actionType: 'probe.remind' }) as unknown as { invoke(input: unknown): Promise<unknown> };
    const answer = await governed.invoke({ type: 'tool_call', id: 'call-d', name: 'probe_remind', args: { when: '2026-12-04T10:00:00.000Z' } });
    expect((answer as ToolMessage).status).not.toBe('error');
    expect(received).toHaveLength(1);
    expect(received[0]).toBeInstanceOf(Date);
    expect((received[0] as Date).toISOString()).toBe('2026-12-04T10:00:00.000Z');
    await client.flush();
    const store = openSqliteStore(defaultDbPath(dataDir));
    try {
      const evaluated = (await store.readAudit()).filter((e) => e.type === 'action.evaluated').at(-1);
      expect((evaluated?.data as { parameters: unknown }).parameters).toEqual({ when: '2026-12-04T10:00:00.000Z' });
    } finally {
      await store.close();
    }
  });
});
