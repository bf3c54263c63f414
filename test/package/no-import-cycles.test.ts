/**
 * The source has no import circles (type-only imports included): each module can be read, and
 * loaded, after the ones it names. The folders are layers that import only the layers below them
 * (docs/architecture.md#layers-and-their-rules), and nothing outside the CLI imports from it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g;

/** Every module under `dir` and the modules it imports (relative imports, resolved to .ts). */
function importGraph(dir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (folder: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) {
        const text = fs.readFileSync(full, 'utf8');
        graph.set(full, [...text.matchAll(IMPORT)].map((m) => path.resolve(folder, m[1]!).replace(/\.js$/, '.ts')));
      }
    }
  };
  walk(dir);
  return graph;
}

/** The circles of `graph`, each as its modules in order (relative to the repository). */
function circles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const visit = (node: string, stack: string[]): void => {
    const at = stack.indexOf(node);
    if (at >= 0) {
      found.push(stack.slice(at).map((f) => path.relative(ROOT, f)));
      return;
    }
    if (done.has(node)) return;
    stack.push(node);
    for (const next of graph.get(node) ?? []) visit(next, stack);
    stack.pop();
    done.add(node);
  };
  for (const node of graph.keys()) visit(node, []);
  return found;
}

/**
 * The layers, bottom up, and what each may import besides itself. The server and the CLI sit on
 * top (the server never imports the client itself, `src/client/client.ts`, nor the CLI).
 */
const LAYERS: Record<string, readonly string[]> = {
  core: [],
  engine: ['core'],
  store: ['core'],
  policy: ['core', 'engine', 'store'],
  decision: ['core', 'engine', 'policy', 'store'],
  transport: ['core', 'decision', 'store'],
  client: ['core', 'decision', 'engine', 'policy', 'store', 'transport'],
};

/** The imports that cross the layers downward only, as `from -> to` (relative to `src/`). */
function layerViolations(graph: Map<string, string[]>, src: string): string[] {
  const layerOf = (file: string): string => path.relative(src, file).split(path.sep)[0]!;
  const out: string[] = [];
  for (const [file, deps] of graph) {
    const allowed = LAYERS[layerOf(file)];
    if (allowed === undefined) continue;
    for (const dep of deps) {
      const to = layerOf(dep);
      if (to !== layerOf(file) && !allowed.includes(to)) out.push(`${path.relative(src, file)} -> ${path.relative(src, dep)}`);
    }
  }
  return out;
}

describe('the module graph', () => {
  const graph = importGraph(path.join(ROOT, 'src'));

  it('has no import circles', () => {
    expect(graph.size).toBeGreaterThan(50); // the walk does see the source
    expect(circles(graph)).toEqual([]);
  });

  it('finds a circle when there is one (the check itself works)', () => {
    const a = path.join(ROOT, 'a.ts');
    const b = path.join(ROOT, 'b.ts');
    expect(circles(new Map([[a, [b]], [b, [a]]]))).toEqual([['a.ts', 'b.ts']]);
  });

  it('imports only downward through the layers: core, engine, store, policy, decision point, transport, client', () => {
    const src = path.join(ROOT, 'src');
    expect(new Set([...graph.keys()].map((f) => path.relative(src, f).split(path.sep)[0]))).toEqual(
      new Set([...Object.keys(LAYERS), 'server', 'cli', 'index.ts']),
    );
    expect(layerViolations(graph, src)).toEqual([]);
    // The check itself works: an import upward is named.
    const up = new Map([[path.join(src, 'store', 'x.ts'), [path.join(src, 'client', 'y.ts')]]]);
    expect(layerViolations(up, src)).toEqual([`store${path.sep}x.ts -> client${path.sep}y.ts`]);
  });

  it('the server never imports the client itself', () => {
    const server = path.join(ROOT, 'src', 'server') + path.sep;
    const client = path.join(ROOT, 'src', 'client', 'client.ts');
    const offenders = [...graph].filter(([file, deps]) => file.startsWith(server) && deps.includes(client)).map(([file]) => path.relative(ROOT, file));
    expect(offenders).toEqual([]);
  });

  it('nothing outside the CLI imports from it', () => {
    const cli = path.join(ROOT, 'src', 'cli') + path.sep;
    const offenders = [...graph].filter(([file, deps]) => !file.startsWith(cli) && deps.some((d) => d.startsWith(cli))).map(([file]) => path.relative(ROOT, file));
    expect(offenders).toEqual([]);
  });
});
