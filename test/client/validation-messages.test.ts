/**
 * A client's validation errors read the same in every process. Its schemas are `zod/mini`, which
 * installs no messages of its own (zod's classic API installs English ones when it builds its
 * first schema): an embedded client, which never loads the classic API, must still name what is
 * wrong, not "Invalid input". An application that chose another language for zod keeps it.
 * Each case runs in a fresh process, where nothing else has loaded zod.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, runNode, tempDir } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** The messages of three bad inputs, from a fresh process that runs `before` first. */
async function messagesIn(before: string): Promise<{ options: string; evaluate: string }> {
  const dir = tempDir('ascend-messages-');
  dirs.push(dir);
  const script = path.join(dir, 'probe.mts');
  fs.writeFileSync(
    script,
    `${before}
const { AscendClient } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'src/index.ts')).href)});
const message = (fn: () => unknown) => { try { fn(); return 'no error'; } catch (error) { return (error as Error).message; } };
const options = message(() => new AscendClient({ agentId: 'probe', failMode: 'maybe', timeoutMs: -1 } as never));
const client = new AscendClient({ agentId: 'probe', logLevel: 'silent', dataDir: ${JSON.stringify(path.join(dir, 'data'))} });
const evaluate = await client.evaluateAction({ actionType: 'db.query', approvalTimeoutMs: 1.5 }).then(() => 'no error', (error: Error) => error.message);
await client.close();
console.log(JSON.stringify({ options, evaluate }));
`,
  );
  const run = await runNode(script, [], { cwd: dir });
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as { options: string; evaluate: string };
}

describe("a client's validation messages", () => {
  it('name what is wrong in a process that never loads zod\'s classic API', async () => {
    const { options, evaluate } = await messagesIn('');
    expect(options).toBe('Invalid input to AscendClient options: failMode: Invalid option: expected one of "closed"|"open"; timeoutMs: Too small: expected number to be >0');
    expect(evaluate).toBe('Invalid input to evaluateAction: approvalTimeoutMs: Invalid input: expected int, received number');
  });

  it("keep the language an application configured for zod before making a client", async () => {
    const { options } = await messagesIn(`import * as z from ${JSON.stringify(import.meta.resolve('zod'))};\nz.config(z.locales.fr());`);
    expect(options).not.toContain('Invalid option');
    expect(options).toMatch(/^Invalid input to AscendClient options: failMode: .*"closed"\|"open"/);
    expect(options).toContain('Option invalide');
  });
});
