/**
 * A process loads what its path needs, when it needs it (every start pays for what it loads): an
 * embedded client's governed call loads neither the circuit breaker (cockatiel: remote clients
 * only), nor OpenTelemetry's API (installed here, but no tracer provider is registered), nor the
 * terminal approver's readline. A remote client does load the breaker, and a registered tracer
 * provider does load the API.
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

/** Run `body` in a fresh process after importing the root; prints what was loaded, as JSON. */
async function loadedAfter(body: string): Promise<{ cockatiel: boolean; otel: boolean; readline: boolean }> {
  const dir = tempDir('ascend-loads-');
  dirs.push(dir);
  const script = path.join(dir, 'probe.mts');
  fs.writeFileSync(
    script,
    `import { registerHooks } from 'node:module';
const resolved: string[] = [];
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    resolved.push(result.url);
    return result;
  },
});
const { AscendClient } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'src/index.ts')).href)});
${body}
console.log(JSON.stringify({
  cockatiel: resolved.some((url) => url.includes('/node_modules/cockatiel/')),
  otel: resolved.some((url) => url.includes('/node_modules/@opentelemetry/api/')),
  readline: resolved.includes('node:readline/promises'),
}));
`,
  );
  const run = await runNode(script, [], { cwd: dir });
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as { cockatiel: boolean; otel: boolean; readline: boolean };
}

describe('a process loads what its path needs', () => {
  it('an embedded governed call loads no breaker, no OpenTelemetry and no readline', async () => {
    const loaded = await loadedAfter(`
const client = new AscendClient({ agentId: 'probe', logLevel: 'silent' });
await client.register({ agentType: 'support', capabilities: ['data_access'], allowedResources: ['crm_*'] });
await client.govern({ actionType: 'database.query', resource: 'crm_eu', parameters: { query: 'SELECT 1' } }, () => 1);
await client.close();`);
    expect(loaded).toEqual({ cockatiel: false, otel: false, readline: false });
  });

  it('a remote client loads the breaker; a registered tracer provider loads the API', async () => {
    const loaded = await loadedAfter(`
const { trace } = await import(${JSON.stringify(import.meta.resolve('@opentelemetry/api'))});
const { BasicTracerProvider } = await import(${JSON.stringify(import.meta.resolve('@opentelemetry/sdk-trace-base'))});
trace.setGlobalTracerProvider(new BasicTracerProvider());
const client = new AscendClient({ agentId: 'probe', apiUrl: 'http://127.0.0.1:9', apiKey: 'ak_0000000000000000_x', logLevel: 'silent', timeoutMs: 200, maxRetries: 0 });
await client.evaluateAction({ actionType: 'database.query', parameters: {} }).catch(() => undefined);
await client.close();`);
    expect(loaded.cockatiel).toBe(true);
    expect(loaded.otel).toBe(true);
  });
});
