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
import ts from 'typescript';

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

// What a client loads: the root entry, the integrations' entries and the chunks they import
// statically. zod's languages other than English must not be among them: reaching zod's core
// through a namespace (`z.core.$ZodObject` as a value, `z.locales`) keeps all forty, 360 KB that
// every start parses (import such names from `zod/v4/core` instead).
const CLIENT_ENTRIES = ['dist/src/index.js', 'dist/integrations/langchain/index.js', 'dist/integrations/ai/index.js', 'dist/integrations/mcp/index.js'];
const clientClosure = new Set();
for (const pending = [...CLIENT_ENTRIES]; pending.length > 0; ) {
  const output = pending.pop();
  if (clientClosure.has(output)) continue;
  clientClosure.add(output);
  for (const imported of result.metafile.outputs[output].imports) if (imported.kind === 'import-statement' && !imported.external) pending.push(imported.path);
}
const locales = [...clientClosure].flatMap((output) => Object.keys(result.metafile.outputs[output].inputs)).filter((input) => /zod\/v4\/locales\/(?!en\.js)/.test(input));
if (locales.length > 0) throw new Error(`a client entry loads zod's other languages (${locales.length} files, e.g. ${locales[0]}): import zod's core names from \`zod/v4/core\`, not as \`z.core.X\` values (scripts/build.mjs)`);

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

// Every shipped script is ASCII. esbuild escapes strings but keeps comments and regex literals as
// written, and one non-ASCII character anywhere in a file makes Node decode all of it as two-byte
// text, which V8 then scans as such: ~8 ms more on every start for the client's chunk alone. An
// escape is only text in a comment and the same character in a string, a regex (whose `source`
// then reads the escape) or an identifier; where it would not be (a template's raw text, a line
// or paragraph separator, which ends a line even in a comment, a character after a backslash) the
// build stops instead. On a line with an escape, later source-map columns move by five a character.
for (const file of readdirSync(path.join(ROOT, 'dist'), { recursive: true })) {
  if (!file.endsWith('.js')) continue;
  const jsFile = path.join(ROOT, 'dist', file);
  const text = readFileSync(jsFile, 'utf8');
  if (!/[^\x00-\x7f]/.test(text)) continue;
  refuseUnescapable(file, text);
  writeFileSync(jsFile, text.replace(/[^\x00-\x7f]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** Stop the build if escaping `text`'s non-ASCII characters could change what it does. */
function refuseUnescapable(file, text) {
  const stop = (what) => {
    throw new Error(`${file}: a non-ASCII character ${what}, which an escape would change; write it as an escape in the source`);
  };
  if (/[\u2028\u2029]/.test(text)) stop('that ends a line (U+2028 or U+2029)');
  if (/\\[^\x00-\x7f]/.test(text)) stop('after a backslash');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const visit = (node) => {
    if (ts.isTemplateLiteralToken(node) && /[^\x00-\x7f]/.test(text.slice(node.getStart(source), node.end))) stop('in a template literal');
    ts.forEachChild(node, visit);
  };
  visit(source);
}
