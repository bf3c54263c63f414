/**
 * Importing `ascend-sdk` loads no framework: the root's import graph (followed through relative
 * imports) reaches none of LangChain, the AI SDK, the MCP SDK — nor the server's Fastify and pg.
 * And each subpath export resolves to its built file's source.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every bare package a module reaches through its relative imports. */
function reachablePackages(entry: string): { packages: Set<string>; files: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(entry);
  return { packages, files };
}

describe('optional peers', () => {
  it('the package root reaches no framework, no Fastify and no pg', () => {
    const { packages } = reachablePackages(path.join(ROOT, 'src/index.ts'));
    for (const forbidden of ['langchain', '@langchain/core', '@langchain/langgraph', 'ai', '@modelcontextprotocol/sdk', 'fastify', 'pg']) {
      expect(packages.has(forbidden), forbidden).toBe(false);
    }
    expect(packages.has('better-sqlite3')).toBe(true); // the check does see packages
  });

  it('each integration reaches only its own framework', () => {
    const frameworks: Record<string, string[]> = {
      ai: [],
      langchain: ['langchain', '@langchain/core', '@langchain/langgraph'],
      mcp: ['@modelcontextprotocol/sdk'],
    };
    for (const [name, allowed] of Object.entries(frameworks)) {
      const { packages } = reachablePackages(path.join(ROOT, 'integrations', name, 'index.ts'));
      for (const other of ['langchain', '@langchain/core', 'ai', '@modelcontextprotocol/sdk'].filter((p) => !allowed.includes(p))) {
        expect(packages.has(other), `${name} reaches ${other}`).toBe(false);
      }
    }
  });

  it('package.json exports every subpath, and marks the frameworks optional peers', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    for (const sub of ['./langchain', './ai', './mcp', './server']) {
      const target: string = pkg.exports[sub].import;
      const source = path.join(ROOT, target.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
      expect(fs.existsSync(source), `${sub} → ${source}`).toBe(true);
    }
    for (const peer of ['langchain', '@langchain/core', '@langchain/langgraph', 'ai', '@modelcontextprotocol/sdk', '@opentelemetry/api']) {
      expect(pkg.peerDependenciesMeta[peer]?.optional, peer).toBe(true);
    }
  });
});
