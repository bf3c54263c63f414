/**
 * Every type a public signature uses can be imported by the user: for each entry point of the
 * package (`ascend-sdk`, `/server`, `/langchain`, `/ai`, `/mcp`), the TypeScript compiler walks
 * the exported functions, classes (public members), interfaces and type aliases, and every type
 * of this project they name — transitively — must itself be exported by some entry point.
 */
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const ENTRIES = ['src/index.ts', 'src/server/index.ts', 'integrations/langchain/index.ts', 'integrations/ai/index.ts', 'integrations/mcp/index.ts'].map((f) => path.join(ROOT, f));

function projectOwned(decl: ts.Declaration): boolean {
  const file = decl.getSourceFile().fileName;
  return !file.includes('/node_modules/') && (file.startsWith(path.join(ROOT, 'src')) || file.startsWith(path.join(ROOT, 'integrations')));
}

function isHidden(member: ts.Node): boolean {
  if (ts.isPrivateIdentifier((member as ts.NamedDeclaration).name ?? ({} as ts.Node))) return true;
  const flags = ts.getCombinedModifierFlags(member as ts.Declaration);
  return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0;
}

describe('the public surface', () => {
  it('exports every type its public signatures use', () => {
    const program = ts.createProgram(ENTRIES, { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, noEmit: true });
    const checker = program.getTypeChecker();
    const resolve = (s: ts.Symbol): ts.Symbol => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);

    const exported = new Set<ts.Symbol>();
    for (const entry of ENTRIES) {
      const file = program.getSourceFile(entry);
      const moduleSymbol = file && checker.getSymbolAtLocation(file);
      expect(moduleSymbol, entry).toBeDefined();
      for (const s of checker.getExportsOfModule(moduleSymbol!)) exported.add(resolve(s));
    }

    const missing = new Map<string, string>();
    const seen = new Set<ts.Symbol>();
    const queue = [...exported];
    const visitTypes = (node: ts.Node, from: string): void => {
      if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
        const nameNode = ts.isTypeReferenceNode(node) ? node.typeName : node.expression;
        const symbol = checker.getSymbolAtLocation(nameNode);
        if (symbol) {
          const target = resolve(symbol);
          const decl = target.declarations?.[0];
          if (decl && projectOwned(decl) && !(target.flags & ts.SymbolFlags.TypeParameter)) {
            if (!exported.has(target)) missing.set(target.getName(), `${from} (${path.relative(ROOT, decl.getSourceFile().fileName)})`);
            else if (!seen.has(target)) queue.push(target);
          }
        }
      }
      ts.forEachChild(node, (child) => {
        // Bodies and initialisers are not signatures.
        if (ts.isBlock(child) || (ts.isVariableDeclaration(node) && child === node.initializer) || (ts.isPropertyDeclaration(node) && child === node.initializer)) return;
        if ((ts.isClassElement(child) || ts.isTypeElement(child)) && isHidden(child)) return;
        visitTypes(child, from);
      });
    };
    while (queue.length > 0) {
      const symbol = queue.pop()!;
      if (seen.has(symbol)) continue;
      seen.add(symbol);
      for (const decl of symbol.declarations ?? []) {
        if (!projectOwned(decl)) continue;
        visitTypes(decl, symbol.getName());
      }
    }
    expect([...missing].map(([name, from]) => `${name} ← ${from}`).sort()).toEqual([]);
  }, 120_000);
});
