/**
 * Where this package is installed, and its version, read from the package.json that ships with
 * this file (found by walking up from it: in development, in `dist/` and in its bundles alike):
 * for `ascend --version`, the server's OpenAPI document and answers, and files the package ships
 * beside its code (the dashboard's page).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package found, `null` when there is none; undefined until first asked. */
let found: { root: string; version: string } | null | undefined;

/** The nearest `package.json` named `ascend-sdk` above this module: its folder and version. */
function findPackage(): { root: string; version: string } | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'ascend-sdk' && typeof pkg.version === 'string') return { root: dir, version: pkg.version };
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

/** `version` of the package; `unknown` when its package.json cannot be found. */
export function packageVersion(): string {
  if (found === undefined) found = findPackage();
  return found?.version ?? 'unknown';
}

/** The package's folder (where its package.json is), or undefined when it cannot be found. */
export function packageRoot(): string | undefined {
  if (found === undefined) found = findPackage();
  return found?.root;
}
