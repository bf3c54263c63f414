/**
 * Promise: once a tool has run, how it ended is recorded — whatever it returned or threw. A
 * result is whatever the tool made (an HTTP response that refers back to itself, a driver's
 * objects, a getter that throws, a revoked Proxy) and an error can be any value; neither may
 * keep the completion or the failure out of the audit trail, nor turn a tool that succeeded into
 * an error the framework retries.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, defaultDbPath, openSqliteStore } from '../../src/index.js';
import { CIRCULAR, NESTED_TOO_DEEP } from '../../src/core/storable.js';
import { captureLogs, tempDir, writePolicy } from '../helpers.js';

const POLICY = `
version: 1
default: deny
rules:
  - id: anything
    actions: ["tool.*"]
    effect: allow
`;

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function setup() {
  const dir = tempDir();
  const dataDir = path.join(dir, '.ascend');
  const client = new AscendClient({ agentId: 'runner', policy: writePolicy(dir, POLICY), dataDir, logDestination: captureLogs().destination });
  clients.push(client);
  async function outcomes(): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
    await client.flush();
    const store = openSqliteStore(defaultDbPath(dataDir));
    try {
      const events = await store.readAudit();
      expect((await store.verifyAudit()).ok).toBe(true);
      return events.filter((e) => e.type === 'action.completed' || e.type === 'action.failed').map((e) => ({ type: e.type, data: e.data as Record<string, unknown> }));
    } finally {
      await store.close();
    }
  }
  return { client, outcomes };
}

function selfReferring(): Record<string, unknown> {
  const response: Record<string, unknown> = { status: 200, body: 'ok' };
  response.request = { response };
  response.self = response;
  return response;
}

function deep(levels: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < levels; i++) value = { next: value };
  return value;
}

const revoked = Proxy.revocable({}, {});
revoked.revoke();

/** Results a tool may return, each with what must hold of what was recorded. */
const RESULTS: Array<[string, () => unknown, (recorded: string) => void]> = [
  ['a response that refers back to itself', selfReferring, (r) => expect(r).toContain(CIRCULAR)],
  ['a getter that throws', () => Object.defineProperty({ ok: true }, 'balance', { enumerable: true, get: () => { throw new Error('no access'); } }), (r) => expect(r).toContain('[Unreadable: no access]')],
  ['a bigint and a NaN', () => ({ rows: 10n, ratio: Number.NaN }), (r) => expect([r.includes('"rows":"10"'), r.includes('"ratio":"NaN"')]).toEqual([true, true])],
  ['a revoked Proxy', () => ({ handle: revoked.proxy }), (r) => expect(r).toContain('[Unreadable')],
  ['nesting 10,000 levels deep', () => deep(10_000), (r) => expect(r).toContain(NESTED_TOO_DEEP)],
  // Walked no further than MAX_RESULT_VALUES (about 7 MB as JSON, 50 KB as recorded): a bounded preview.
  ['a million rows', () => Array.from({ length: 1_000_000 }, (_, i) => i), (r) => expect(JSON.parse(r)).toMatchObject({ truncated: true, chars: expect.toSatisfy((n: number) => n < 100_000) })],
  ['a class instance with a toJSON that throws', () => new (class Row { toJSON(): never { throw new Error('cannot'); } })(), (r) => expect(r).toContain('[Unreadable: cannot]')],
];

describe('a run always has its outcome', () => {
  for (const [name, make, check] of RESULTS) {
    it(`a tool returning ${name}: it completes, and the completion is recorded`, async () => {
      const { client, outcomes } = setup();
      const result = make();
      await expect(client.govern({ actionType: 'tool.fetch', parameters: {} }, () => result)).resolves.toBe(result);
      const recorded = await outcomes();
      expect(recorded.map((o) => o.type)).toEqual(['action.completed']);
      check(JSON.stringify(recorded[0]!.data.result));
    });
  }

  /** Values a tool may throw, and how the recorded failure describes each. */
  const THROWN: Array<[string, () => unknown, RegExp]> = [
    ['an object without a prototype', () => Object.create(null), /^a thrown Object that cannot be described$/],
    ['an error whose message getter throws', () => Object.defineProperty(new Error('x'), 'message', { get: () => { throw new Error('gotcha'); } }), /^a thrown Error that cannot be described$/],
    ['a value whose toString throws', () => ({ toString: () => { throw new Error('gotcha'); } }), /^a thrown Object that cannot be described$/],
    ['a revoked Proxy', () => revoked.proxy, /^a thrown value that cannot be described$/],
  ];
  for (const [name, make, described] of THROWN) {
    it(`a tool throwing ${name}: its own error reaches the caller, and the failure is recorded`, async () => {
      const { client, outcomes } = setup();
      const thrown = make();
      // Boxed: a promise resolved with a revoked Proxy itself would reject while reading its `then`.
      const caught = await client.govern({ actionType: 'tool.fetch', parameters: {} }, () => {
        throw thrown;
      }).then(() => ({ err: 'no error' as unknown }), (err: unknown) => ({ err }));
      expect(caught.err).toBe(thrown);
      const recorded = await outcomes();
      expect(recorded.map((o) => o.type)).toEqual(['action.failed']);
      expect(String(recorded[0]!.data.error)).toMatch(described);
    });
  }

  it('a summariser that throws (an integration reading a framework message) still records the completion', async () => {
    const { client, outcomes } = setup();
    const answer = await client.govern(
      {
        actionType: 'tool.fetch',
        parameters: {},
        summarize: () => {
          throw new Error('unexpected message shape');
        },
      },
      () => 'fine',
    );
    expect(answer).toBe('fine');
    const recorded = await outcomes();
    expect(recorded.map((o) => o.type)).toEqual(['action.completed']);
    expect(recorded[0]!.data.result).toMatchObject({ unrecordable: true, reason: expect.stringContaining('unexpected message shape') });
  });
});
