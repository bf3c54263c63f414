import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AscendClient, createLogger, defaultDbPath } from '../../src/index.js';
import { captureLogs, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

const SECRETS = {
  password: 'hunter2-PLANTED-password',
  card: '4111-PLANTED-card-number',
  token: 'tok-PLANTED-nested-token',
  apiKey: 'ak_live_PLANTEDAPIKEY1234567890',
  signingSecret: 'whsec-PLANTED-signing',
  bearer: 'Bearer PLANTED-authorization',
};

describe('logging never leaks secrets', () => {
  it('masks API keys, drops signing secrets and auth headers, redacts marked paths at any depth — in logs and in the store', async () => {
    const dir = tempDir();
    const logs = captureLogs();
    const dataDir = path.join(dir, '.ascend');
    const client = new AscendClient({
      agentId: 'agent-logs',
      policy: writePolicy(dir, TEST_POLICY),
      dataDir,
      logLevel: 'trace',
      logDestination: logs.destination,
      redact: ['card.number'],
    });
    const parameters = {
      sql: 'select 1',
      password: SECRETS.password,
      payment: { card: { number: SECRETS.card } },
      items: [{ meta: { token: SECRETS.token } }],
    };
    await client.govern({ actionType: 'db.query', parameters }, () => parameters);
    await client.evaluateAction({ actionType: 'payments.transfer', parameters: { amount: 5000, password: SECRETS.password } });
    client.logger.info(
      { apiKey: SECRETS.apiKey, signingSecret: SECRETS.signingSecret, headers: { authorization: SECRETS.bearer }, parameters },
      'planted',
    );
    await client.close();
    // Every line the logger was given is in the destination: pino says so, no time to guess.
    await new Promise<void>((resolve, reject) => client.logger.flush((err) => (err ? reject(err) : resolve())));

    const out = logs.text();
    expect(out).toContain('planted');
    expect(out).toContain('ak_live_'); // masked to a recognisable prefix
    for (const secret of Object.values(SECRETS)) expect(out).not.toContain(secret);
    expect(out).toContain('[REDACTED]');

    // The tool's own arguments were passed through unredacted...
    expect(parameters.password).toBe(SECRETS.password);
    // ...but nothing secret reached the database file (WAL checkpointed on close).
    const dbBytes = fs.readFileSync(defaultDbPath(dataDir)).toString('latin1');
    for (const secret of [SECRETS.password, SECRETS.card, SECRETS.token]) expect(dbBytes).not.toContain(secret);
  });

  it('readable (non-JSON) logs are redacted too', () => {
    const logs = captureLogs();
    const logger = createLogger({ jsonLogs: false, destination: logs.destination, logLevel: 'info' });
    logger.info({ apiKey: SECRETS.apiKey, nested: { password: SECRETS.password } }, 'hello');
    const out = logs.text();
    expect(out).toMatch(/INFO hello/);
    expect(out).not.toContain(SECRETS.apiKey);
    expect(out).not.toContain(SECRETS.password);
  });

  it('readable logs show an error as "code: message", not as a serialised object', () => {
    const logs = captureLogs();
    const logger = createLogger({ jsonLogs: false, destination: logs.destination, logLevel: 'info' });
    logger.error({ err: { code: 'store_error', message: 'disk full' } }, 'group commit failed');
    logger.error({ err: new Error('plain') }, 'boom');
    const out = logs.text();
    expect(out).toMatch(/ERROR group commit failed err="store_error: disk full"$/m);
    expect(out).toMatch(/ERROR boom err="plain"$/m);
    expect(out).not.toContain('"type":"Object"');
  });
});
