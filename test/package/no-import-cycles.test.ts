/**
 * The source has no import circles (type-only imports included): each module can be read, and
 * loaded, after the ones it names. And the server and the library never import from the CLI.
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

  it('nothing outside the CLI imports from it', () => {
    const cli = path.join(ROOT, 'src', 'cli') + path.sep;
    const offenders = [...graph].filter(([file, deps]) => !file.startsWith(cli) && deps.some((d) => d.startsWith(cli))).map(([file]) => path.relative(ROOT, file));
    expect(offenders).toEqual([]);
  });
});
