/**
 * `npm run build`: the package as users get it, in `dist/`.
 * - Type declarations (and their maps) from TypeScript, one per source module.
 * - JavaScript from esbuild: each entry point (the root, `/server`, `/langchain`, `/ai`, `/mcp`
 *   and the `ascend` command) bundled with the package's own modules, the code they share in
 *   chunks (`dist/src/chunks/`). A process then reads a few files instead of a hundred modules: a
 *   cold start pays less (docs/architecture.md, "Performance budgets"), and one class is one class
 *   whichever entry point loaded it.
 * - The pure-JavaScript dependencies every governed call needs (zod, cel-js, re2js) are bundled
 *   too, so a start reads them as part of one file and esbuild keeps only the parts we use (zod's
 *   locales alone are 360 KB we never load). zod and re2js stay in `dependencies` because the type
 *   declarations name them; cel-js is only a devDependency. Every other dependency is left to
 *   `node_modules` (native code, worker-thread transports, what only some paths load), and the
 *   build fails if anything else from `node_modules` ends up in a bundle.
 * Source maps point at `src/` and `integrations/`, which ship with the package.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** Dependencies bundled into `dist/` (see above). */
const BUNDLED = new Set(['zod', '@marcbachmann/cel-js', 're2js']);
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const EXTERNAL = Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies })
  .filter((name) => !BUNDLED.has(name))
  .flatMap((name) => [name, `${name}/*`]);

rmSync(path.join(ROOT, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
const result = await build({
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
  external: EXTERNAL,
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
});

const packageOf = (input) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1];
const strays = [...new Set(Object.keys(result.metafile.inputs).map(packageOf).filter((name) => name !== undefined && !BUNDLED.has(name)))];
if (strays.length > 0) throw new Error(`bundled by mistake (add to the externals, or to BUNDLED on purpose): ${strays.join(', ')}`);

// A bundled dependency's sources are named as the package would hold them (node_modules/<name>/…,
// their text embedded in the map), not by where this machine's copy happened to live.
for (const file of readdirSync(path.join(ROOT, 'dist'), { recursive: true })) {
  if (!file.endsWith('.js.map')) continue;
  const mapFile = path.join(ROOT, 'dist', file);
  const map = JSON.parse(readFileSync(mapFile, 'utf8'));
  const at = (source) => source.lastIndexOf('node_modules/');
  if (!map.sources.some((source) => at(source) !== -1)) continue;
  map.sources = map.sources.map((source) => (at(source) === -1 ? source : path.relative(path.dirname(mapFile), path.join(ROOT, source.slice(at(source))))));
  writeFileSync(mapFile, JSON.stringify(map));
}
