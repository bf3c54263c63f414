/**
 * `kill -9` of a real server under 50 concurrent agents: every decision a client received (and
 * acted on) is in the audit trail after the restart, and the chain verifies. With FailMode.CLOSED
 * no tool ran without a decision.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AscendClient, FailMode } from '../../src/index.js';
import { captureLogs, eventually, sleep, tempDir } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from './helpers.js';

let server: ServerProcess | undefined;
afterAll(async () => {
  await disposeServer(server);
});

describe('server killed under load', () => {
  it('50 agents: every acknowledged decision survives kill -9 and the chain verifies; no tool ran undecided', async () => {
    server = await startServerProcess();
    const s = server;
    const clients = Array.from(
      { length: 50 },
      (_, i) =>
        new AscendClient({
          agentId: `load-${i}`,
          apiUrl: s.url,
          apiKey: s.keys.agent.apiKey,
          failMode: FailMode.CLOSED,
          timeoutMs: 1000,
          maxRetries: 1,
          dataDir: tempDir(),
          logDestination: captureLogs().destination,
        }),
    );
    const acknowledged: string[] = [];
    let ranWithoutDecision = 0;
    let stop = false;
    /** Per agent: calls started, and calls finished (answered or failed); each agent makes one at a time. */
    const started = clients.map(() => 0);
    const finished = clients.map(() => 0);
    const loops = clients.map(async (client, i) => {
      for (let n = 0; !stop; n++) {
        started[i]!++;
        try {
          await client.govern({ actionType: 'db.query', parameters: { sql: `select ${i}, ${n}` } }, (decision) => {
            if (decision.decision !== 'allowed' || !decision.actionId) ranWithoutDecision++;
            acknowledged.push(decision.actionId);
          });
        } catch {
          await sleep(20);
        } finally {
          finished[i]!++;
        }
      }
    });
    /** Until every agent has finished `more` calls it started after the calls counted in `startedBefore`. */
    const everyAgentFinished = (startedBefore: readonly number[], more: number) =>
      eventually(() => finished.every((done, i) => done >= startedBefore[i]! + more), 60_000, 20);
    // Wait for counts, not a time: a loaded machine may be several times slower.
    await eventually(() => acknowledged.length > 100, 60_000, 20);
    await s.kill();
    // Answers already received when the process died may still be in our event loop: once every
    // agent has finished a call it started after the death, each earlier call has ended too.
    await everyAgentFinished(started.slice(), 1);
    const afterKill = acknowledged.length;
    // Several more calls per agent while the server is down.
    await everyAgentFinished(started.slice(), 3);
    stop = true;
    await Promise.all(loops);
    expect(acknowledged.length).toBe(afterKill); // nothing ran while the server was down
    expect(ranWithoutDecision).toBe(0);

    await s.restart();
    const found = new Set<string>();
    for (let afterSeq = 0; ; ) {
      const page = await api(s, 'GET', `/v1/audit?afterSeq=${afterSeq}&limit=5000&type=action.evaluated`, s.keys.approver);
      for (const e of page.body.events) found.add(e.actionId);
      if (page.body.events.length < 5000) break;
      afterSeq = page.body.nextAfterSeq;
    }
    const missing = acknowledged.filter((id) => !found.has(id));
    expect(missing).toEqual([]);
    const verify = await api(s, 'GET', '/v1/audit/verify', s.keys.admin);
    expect(verify.body).toMatchObject({ ok: true });
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }, 150_000);
});
