/**
 * A whole `vitest run` of a fixture config, as a child process: how the run-wide setups
 * (test/setup/*.ts) are tested on the real thing.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../helpers.js';

/** Run vitest with `config` (relative to the repository) and `env` added; its exit code and all it printed. */
export async function runVitest(config: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', config], {
    cwd: ROOT,
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('close', r));
  return { code, output };
}
