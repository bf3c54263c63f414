/**
 * A key the client does not know is an error that names it and the key it probably meant —
 * never dropped. Dropped, a misspelt `capabilities` registers an agent without its restrictions,
 * a misspelt `policy` leaves another policy deciding, and a misspelt `parameters` governs a call
 * without the arguments the tool then runs with.
 */
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, defaultDbPath, openSqliteStore, ValidationError } from '../../src/index.js';
import { captureLogs, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

const clients: AscendClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

const dataDirs = new WeakMap<AscendClient, string>();

function client(extra: Record<string, unknown> = {}): AscendClient {
  const dir = tempDir();
  const dataDir = path.join(dir, '.ascend');
  const c = new AscendClient({ agentId: 'typist', policy: writePolicy(dir, TEST_POLICY), dataDir, logDestination: captureLogs().destination, ...extra });
  clients.push(c);
  dataDirs.set(c, dataDir);
  return c;
}

async function registered(c: AscendClient): Promise<unknown> {
  await c.flush();
  const store = openSqliteStore(defaultDbPath(dataDirs.get(c)!));
  try {
    return await store.getAgent('typist');
  } finally {
    await store.close();
  }
}

async function caught(fn: () => unknown): Promise<ValidationError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('no error was thrown');
}

describe('a misspelt key is an error, never dropped', () => {
  it('client options: names the key and the option it probably meant', async () => {
    const err = await caught(() => client({ policyFile: 'p.yaml' }));
    expect(err.message).toBe('Invalid input to AscendClient options: policyFile: unknown key (did you mean "policy"?)');
    expect(err.issues).toEqual([{ path: 'policyFile', message: 'unknown key (did you mean "policy"?)' }]);
  });

  it("register: a misspelt capabilities is refused, so the agent is not registered without its restrictions", async () => {
    const c = client();
    const err = await caught(() => c.register({ agentType: 'support', capabilites: ['data_access'] } as never));
    expect(err.message).toContain('capabilites: unknown key (did you mean "capabilities"?)');
    // Never registered: a call is still decided as for an unregistered agent.
    expect(await registered(c)).toBeUndefined();
    await c.register({ agentType: 'support', capabilities: ['data_access'] });
    expect(await registered(c)).toMatchObject({ capabilities: ['data_access'] });
  });

  it('evaluateAction and govern: a misspelt parameters is refused, and the tool never runs', async () => {
    const c = client();
    await caught(() => c.evaluateAction({ actionType: 'db.query', params: { sql: 'DROP TABLE customers' } } as never));
    let ran = false;
    const err = await caught(() => c.govern({ actionType: 'db.query', params: { sql: 'SELECT 1' } } as never, () => (ran = true)));
    expect(err.issues[0]).toEqual({ path: 'params', message: 'unknown key (did you mean "parameters"?)' });
    expect(ran).toBe(false);
  });

  it('a key far from every known one is refused without a guess', async () => {
    const err = await caught(() => client({ zzzzzzzzzz: 1 }));
    expect(err.issues).toEqual([{ path: 'zzzzzzzzzz', message: 'unknown key' }]);
  });

  it("the keys a method reads itself are known: options' objects and functions, evaluateAction's signal and approver", async () => {
    const c = client({ logger: pino({ level: 'silent' }), onApprovalRequired: () => undefined });
    const controller = new AbortController();
    const decision = await c.evaluateAction({ actionType: 'db.query', resource: 'db', parameters: { sql: 'SELECT 1' }, signal: controller.signal, onApprovalRequired: () => undefined });
    expect(decision.decision).toBe('allowed');
    await expect(c.govern({ actionType: 'db.query', parameters: { sql: 'SELECT 1' }, summarize: String, signal: controller.signal }, () => 'ok')).resolves.toBe('ok');
  });
});
