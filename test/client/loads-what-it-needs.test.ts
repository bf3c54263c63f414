/**
 * A process loads what its path needs, when it needs it (every start pays for what it loads): an
 * embedded client's governed call loads neither the circuit breaker (cockatiel: remote clients
 * only), nor OpenTelemetry's API (installed here, but no tracer provider is registered), nor the
 * terminal approver's readline, nor zod's classic API (the client's schemas are `zod/mini`:
 * docs/architecture.md, "Schemas"), nor the HTTP API's wire schemas (what a remote client checks
 * answers with), nor the Node modules only other paths use (`http`/`https`: an ESM import of
 * `node:http` alone costs 40 ms, as it loads undici; `zlib`, `worker_threads`, `net`). A remote
 * client does load the breaker, the wire schemas and `http`, and a registered tracer provider
 * does load the API.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { STARTER_POLICY_YAML } from '../../src/engine/index.js';
import { ROOT, runNode, tempDir } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Node's own modules that an embedded governed call does not need. */
const OTHER_PATHS_BUILTINS = ['node:http', 'node:https', 'node:zlib', 'node:worker_threads', 'node:net', 'node:readline'];

interface Loaded {
  yaml: boolean;
  /** zod's classic API (the server's and CLI's dialect); a client's schemas are `zod/mini`. */
  zodClassic: boolean;
  /** The HTTP API's schemas (`core/wire.ts`): what a remote client checks answers with. */
  wireSchemas: boolean;
  cockatiel: boolean;
  otel: boolean;
  readline: boolean;
  builtins: string[];
}

/** Run `body` in a fresh process after importing the root; prints what was loaded, as JSON. */
async function loadedAfter(body: string, dir = tempDir('ascend-loads-')): Promise<Loaded> {
  dirs.push(dir);
  const script = path.join(dir, 'probe.mts');
  fs.writeFileSync(
    script,
    `import { registerHooks } from 'node:module';
const resolved: string[] = [];
/** Node modules that the package's own code asked for (tsx, running it, loads some itself). */
const ownBuiltins: string[] = [];
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    resolved.push(result.url);
    if (context.parentURL?.startsWith(${JSON.stringify(pathToFileURL(path.join(ROOT, 'src')).href + '/')})) ownBuiltins.push(result.url);
    return result;
  },
});
const { AscendClient } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'src/index.ts')).href)});
${body}
console.log(JSON.stringify({
  yaml: resolved.some((url) => url.includes('/node_modules/yaml/')),
  zodClassic: resolved.some((url) => url.includes('/node_modules/zod/v4/classic/')),
  wireSchemas: resolved.some((url) => url.endsWith('/src/core/wire.ts')),
  cockatiel: resolved.some((url) => url.includes('/node_modules/cockatiel/')),
  otel: resolved.some((url) => url.includes('/node_modules/@opentelemetry/api/')),
  readline: resolved.includes('node:readline/promises'),
  builtins: ${JSON.stringify(OTHER_PATHS_BUILTINS)}.filter((name) => ownBuiltins.includes(name) || ownBuiltins.includes(name.slice(5))),
}));
`,
  );
  const run = await runNode(script, [], { cwd: dir });
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Loaded;
}

describe('a process loads what its path needs', () => {
  it('an embedded governed call loads no breaker, no wire schemas, no OpenTelemetry and no readline', async () => {
    const loaded = await loadedAfter(`
const client = new AscendClient({ agentId: 'probe', logLevel: 'silent' });
await client.register({ agentType: 'support', capabilities: ['data_access'], allowedResources: ['crm_*'] });
await client.govern({ actionType: 'database.query', resource: 'crm_eu', parameters: { query: 'SELECT 1' } }, () => 1);
await client.close();`);
    expect(loaded).toEqual({ yaml: true, zodClassic: false, wireSchemas: false, cockatiel: false, otel: false, readline: false, builtins: [] });
  });

  it('a second start on the same policy text takes it from the compiled cache, without the YAML parser', async () => {
    const dir = tempDir('ascend-loads-');
    fs.writeFileSync(path.join(dir, 'ascend.policy.yaml'), STARTER_POLICY_YAML);
    const body = `
const client = new AscendClient({ agentId: 'probe', logLevel: 'silent' });
await client.register({ agentType: 'support', capabilities: ['data_access'], allowedResources: ['crm_*'] });
const decision = await client.evaluateAction({ actionType: 'database.query', resource: 'crm_eu', parameters: { query: 'DROP TABLE t' } });
if (decision.decision !== 'denied') throw new Error('expected a denial, got ' + decision.decision);
await client.close();`;
    expect((await loadedAfter(body, dir)).yaml).toBe(true);
    expect((await loadedAfter(body, dir)).yaml).toBe(false);
    fs.appendFileSync(path.join(dir, 'ascend.policy.yaml'), '\n# edited\n');
    expect((await loadedAfter(body, dir)).yaml).toBe(true);
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
    expect(loaded.wireSchemas).toBe(true);
    expect(loaded.otel).toBe(true);
    expect(loaded.zodClassic).toBe(false);
    expect(loaded.builtins).toContain('node:http');
  });
});
