/**
 * `npm run build`: the package as users get it, in `dist/`.
 * - Type declarations (and their maps) from TypeScript, one per source module.
 * - JavaScript from esbuild: each entry point (the root, `/server`, `/langchain`, `/ai`, `/mcp`
 *   and the `ascend` command) bundled with the package's own modules, the code they share in
 *   chunks (`dist/src/chunks/`), every dependency left to `node_modules`. A process then reads a
 *   few files instead of a hundred modules: a cold start pays less (docs/architecture.md,
 *   "Performance budgets"), and one class is one class whichever entry point loaded it.
 * Source maps point at `src/` and `integrations/`, which ship with the package.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY_POINTS = [
  'src/index.ts',
  'src/server/index.ts',
  'src/cli/main.ts',
  'integrations/langchain/index.ts',
  'integrations/ai/index.ts',
  'integrations/mcp/index.ts',
];

rmSync(path.join(ROOT, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
await build({
  absWorkingDir: ROOT,
  entryPoints: ENTRY_POINTS,
  outdir: 'dist',
  outbase: '.',
  chunkNames: 'src/chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
