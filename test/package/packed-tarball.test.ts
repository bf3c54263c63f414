/**
 * The package as a user gets it. `npm run build` and `npm pack` run on a copy of the package's
 * files (so the repository's own dist/ is never rebuilt under other tests), and the tarball is
 * installed into a fresh project with no dev dependencies of ours: only the tarball and the
 * frameworks a user of the integrations has (our optional peers, at the repository's versions,
 * plus @types/node), installed with `--prefer-offline` from npm's cache where it can.
 *
 * The install runs with `--ignore-scripts` (npm's strictest setting), and that is enough:
 * better-sqlite3 13 ships its prebuilt binary inside its package. Then: the root and every subpath import from ESM and require from CommonJS; a consumer
 * type-checks under `module: NodeNext` (ESM and CommonJS files, emitted and run) and under
 * `moduleResolution: bundler`, both `strict`, with the repository's TypeScript; the server serves
 * the dashboard's page and files; `npx ascend --version` runs; and every source map points at a file that is in the package.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; files: string[] };
/** What a user of every integration has installed beside us (our optional peers), and @types/node. */
const CONSUMER_PACKAGES = ['@langchain/core', '@langchain/langgraph', 'langchain', 'ai', '@modelcontextprotocol/sdk', '@opentelemetry/api', '@types/node'];
/** Each entry point and a few of the values it must export. */
const ENTRY_POINTS: Record<string, string[]> = {
  'ascend-sdk': ['AscendClient', 'openSqliteStore', 'NativeBindingError', 'StoreError'],
  'ascend-sdk/server': ['startServer', 'buildServer', 'generateApiKey'],
  'ascend-sdk/langchain': ['governTool', 'governTools', 'ascendMiddleware', 'AscendCallbackHandler'],
  'ascend-sdk/ai': ['governTool', 'governTools', 'ascendToolApproval'],
  'ascend-sdk/mcp': ['mcpGovernance', 'highRiskAction'],
};
/** Dependencies `scripts/build.mjs` bundles into dist/. */
const BUNDLED_DEPENDENCIES = ['zod', '@marcbachmann/cel-js', 're2js'];
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

let work: string;
let consumer: string;
let installed: string;

/** Run a command; throw with its output when it fails. */
function run(command: string, args: string[], cwd: string, timeoutMs = 600_000): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${String(result.status ?? result.signal)}:\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

function versionOf(name: string): string {
  return (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ascend-packed-'));
  const stage = path.join(work, 'stage');
  fs.mkdirSync(stage);
  for (const entry of ['package.json', 'README.md', 'LICENSE', '.gitignore', 'tsconfig.json', 'tsconfig.build.json', 'scripts', 'src', 'integrations']) {
    fs.cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
  run('npm', ['run', 'build'], stage);
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], stage).stdout) as Array<{ filename: string }>;
  const tarball = path.join(work, packed[0]!.filename);

  consumer = path.join(work, 'consumer');
  fs.mkdirSync(consumer);
  fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  const others = CONSUMER_PACKAGES.map((name) => `${name}@${versionOf(name)}`);
  run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball, ...others], consumer);
  installed = path.join(consumer, 'node_modules', PACKAGE.name);
}, 1_200_000);

afterAll(() => {
  if (!work) return;
  // The stage links the repository's node_modules: remove the link itself first, never what it points at.
  fs.rmSync(path.join(work, 'stage', 'node_modules'), { force: true });
  fs.rmSync(work, { recursive: true, force: true });
}, 300_000);

/** Run an ES module (`.mjs`) or CommonJS (`.cjs`) script in the consumer; returns its stdout. */
function runInConsumer(fileName: string, source: string): string {
  fs.writeFileSync(path.join(consumer, fileName), source);
  return run(process.execPath, [fileName], consumer, 120_000).stdout.trim();
}

const OPEN_STORE = (dbPath: string) => `
try {
  const store = sdk.openSqliteStore(${JSON.stringify(dbPath)});
  await store.close();
  console.log(JSON.stringify({ opened: true }));
} catch (err) {
  console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message }));
}`;

describe('the packed package', () => {
  it('ships LICENSE (Apache-2.0), the README with absolute image URLs, dist, and the sources every source map points at', () => {
    const license = fs.readFileSync(path.join(installed, 'LICENSE'), 'utf8');
    expect(license).toContain('Apache License\n                           Version 2.0, January 2004');
    expect(license).toBe(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'));
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      license: 'Apache-2.0',
      homepage: 'https://github.com/ascend-sdk/ascend-typescript#readme',
      bugs: { url: 'https://github.com/ascend-sdk/ascend-typescript/issues' },
      repository: { type: 'git', url: 'git+https://github.com/ascend-sdk/ascend-typescript.git' },
    });

    const readme = fs.readFileSync(path.join(installed, 'README.md'), 'utf8');
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThan(0);
    for (const url of images) expect(url).toMatch(/^https:\/\/raw\.githubusercontent\.com\/ascend-sdk\/ascend-typescript\/main\/docs\/screenshots\/[\w-]+\.png$/);

    const maps = (fs.readdirSync(path.join(installed, 'dist'), { recursive: true }) as string[]).filter((f) => f.endsWith('.map'));
    expect(maps.some((f) => f.endsWith('.js.map'))).toBe(true);
    expect(maps.some((f) => f.endsWith('.d.ts.map'))).toBe(true);
    const missing: string[] = [];
    for (const map of maps) {
      const file = path.join(installed, 'dist', map);
      const { sources, sourcesContent } = JSON.parse(fs.readFileSync(file, 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      sources.forEach((source, i) => {
        const target = path.resolve(path.dirname(file), source);
        // A dependency bundled into dist/ is named under the package's node_modules, its text in the map.
        const bundled = BUNDLED_DEPENDENCIES.some((name) => target.startsWith(path.join(installed, 'node_modules', name) + path.sep));
        if (bundled ? typeof sourcesContent?.[i] !== 'string' : !target.startsWith(installed + path.sep) || !fs.existsSync(target)) missing.push(`${map} -> ${source}`);
      });
    }
    expect(missing).toEqual([]);
  });

  it('installed with scripts off, opens a store: the SQLite driver brings its binary, nothing is compiled', () => {
    const driver = path.join(consumer, 'node_modules', 'better-sqlite3');
    expect((JSON.parse(fs.readFileSync(path.join(driver, 'package.json'), 'utf8')) as { version: string }).version).toBe(versionOf('better-sqlite3'));
    expect(fs.existsSync(path.join(driver, 'build'))).toBe(false);
    const out = runInConsumer('open-store.mjs', `import * as sdk from 'ascend-sdk';\n${OPEN_STORE(path.join(consumer, 'db-first', 'ascend.db'))}`);
    expect(JSON.parse(out)).toEqual({ opened: true });
  });

  describe('installed', () => {

    it('imports the root and every subpath from ESM, and opens a store', () => {
      const imports = Object.keys(ENTRY_POINTS)
        .map((name, i) => `import * as m${i} from '${name}';`)
        .join('\n');
      const out = runInConsumer(
        'esm.mjs',
        `${imports}\nconst sdk = m0;\nconst exported = [${Object.keys(ENTRY_POINTS).map((_, i) => `Object.keys(m${i})`).join(', ')}];\nconsole.log(JSON.stringify(exported));\n${OPEN_STORE(path.join(consumer, 'db-esm', 'ascend.db'))}`,
      );
      const [exported, store] = out.split('\n').map((line) => JSON.parse(line) as unknown);
      Object.values(ENTRY_POINTS).forEach((names, i) => expect((exported as string[][])[i]).toEqual(expect.arrayContaining(names)));
      expect(store).toEqual({ opened: true });
    });

    it('requires the root and every subpath from CommonJS, with the same exports as ESM', () => {
      const out = runInConsumer(
        'cjs.cjs',
        `const names = ${JSON.stringify(Object.keys(ENTRY_POINTS))};\nconsole.log(JSON.stringify(names.map((name) => Object.keys(require(name)).filter((k) => k !== '__esModule' && k !== 'module.exports'))));\nconsole.log(JSON.stringify(Object.keys(require('ascend-sdk/package.json'))));`,
      );
      const [exported, manifestKeys] = out.split('\n').map((line) => JSON.parse(line) as string[] | string[][]);
      Object.values(ENTRY_POINTS).forEach((names, i) => expect((exported as string[][])[i]).toEqual(expect.arrayContaining(names)));
      expect(manifestKeys).toContain('exports');
    });

    it('type-checks a strict consumer under NodeNext (ESM and CommonJS, emitted and run) and under bundler resolution', () => {
      const source = `import { AscendClient, NativeBindingError, openSqliteStore, type DecisionResult } from 'ascend-sdk';
import { startServer, type StartServerOptions } from 'ascend-sdk/server';
import { governTool as governLangChainTool } from 'ascend-sdk/langchain';
import { governTools as governAiTools } from 'ascend-sdk/ai';
import { mcpGovernance } from 'ascend-sdk/mcp';

export const exported = { AscendClient, NativeBindingError, openSqliteStore, startServer, governLangChainTool, governAiTools, mcpGovernance };
export function decisionOf(result: DecisionResult): string {
  return result.decision;
}
export function serverOptions(options: StartServerOptions): StartServerOptions {
  return options;
}
export function wrongAgentId(): unknown {
  // @ts-expect-error agentId is a string: unused (so an error) if the types had not resolved
  return new AscendClient({ agentId: 42 });
}
console.log(Object.entries(exported).filter(([, value]) => typeof value === 'function').map(([name]) => name).join(','));
`;
      fs.writeFileSync(path.join(consumer, 'esm.mts'), source);
      fs.writeFileSync(path.join(consumer, 'cjs.cts'), source);
      fs.writeFileSync(path.join(consumer, 'bundler.ts'), source);
      const strict = { target: 'es2022', strict: true, skipLibCheck: false, types: ['node'] };
      fs.writeFileSync(
        path.join(consumer, 'tsconfig.nodenext.json'),
        JSON.stringify({ compilerOptions: { ...strict, module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out' }, files: ['esm.mts', 'cjs.cts'] }),
      );
      fs.writeFileSync(
        path.join(consumer, 'tsconfig.bundler.json'),
        JSON.stringify({ compilerOptions: { ...strict, module: 'preserve', moduleResolution: 'bundler', noEmit: true }, files: ['bundler.ts'] }),
      );
      run(process.execPath, [TSC, '-p', 'tsconfig.nodenext.json'], consumer);
      run(process.execPath, [TSC, '-p', 'tsconfig.bundler.json'], consumer);

      // TypeScript compiles the CommonJS file's imports to require() calls: they must run.
      const emittedCjs = fs.readFileSync(path.join(consumer, 'out', 'cjs.cjs'), 'utf8');
      expect(emittedCjs).toContain('require("ascend-sdk")');
      const expected = 'AscendClient,NativeBindingError,openSqliteStore,startServer,governLangChainTool,governAiTools,mcpGovernance';
      expect(run(process.execPath, ['out/cjs.cjs'], consumer).stdout.trim()).toBe(expected);
      expect(run(process.execPath, ['out/esm.mjs'], consumer).stdout.trim()).toBe(expected);
    }, 600_000);

    it('serves the dashboard: its page and files come with the installed package (the bundle finds them)', () => {
      const out = runInConsumer(
        'dashboard.mjs',
        `import { createLogger } from 'ascend-sdk';
import { startServer } from 'ascend-sdk/server';
const server = await startServer({ database: { kind: 'sqlite', path: 'db-ui/ascend.db' }, policyPath: 'no-policy.yaml', policyOptional: true, host: '127.0.0.1', port: 0, logger: createLogger({ logLevel: 'silent' }) });
try {
  const page = await fetch(server.url + '/');
  const html = await page.text();
  const script = await fetch(server.url + '/ui/assets/app.js');
  console.log(JSON.stringify({ page: page.status, type: page.headers.get('content-type'), title: /<title>[^<]*Ascend/i.test(html), script: script.status, scriptType: script.headers.get('content-type') }));
} finally {
  await server.close();
}`,
      );
      expect(JSON.parse(out)).toEqual({ page: 200, type: 'text/html; charset=utf-8', title: true, script: 200, scriptType: 'text/javascript; charset=utf-8' });
    });

    it('runs `npx ascend --version`', () => {
      expect(run('npx', ['ascend', '--version'], consumer).stdout.trim()).toContain(PACKAGE.version);
    });
  });
});
