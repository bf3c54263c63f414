/**
 * Where the checkpoint signing key lives: `--key FILE`, else `$ASCEND_CHECKPOINT_KEY`, else
 * `checkpoint-key.pem` in the data directory. Only its public half goes into the database.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ValidationError } from '../core/errors.js';
import { type CheckpointKey, loadCheckpointKey } from '../store/audit-checkpoints.js';
import type { CommandContext, OptionSpec } from './command.js';

/** The key file's name in the data directory. */
export const CHECKPOINT_KEY_FILE = 'checkpoint-key.pem';

/** `--key FILE`. */
export const KEY_OPTION: OptionSpec = {
  type: 'string',
  valueName: 'FILE',
  description: `the checkpoint signing key (default: $ASCEND_CHECKPOINT_KEY, else ${CHECKPOINT_KEY_FILE} in the data dir)`,
};

/** The key file this command uses. */
export function checkpointKeyPath(ctx: CommandContext): string {
  const chosen = ctx.string('key') ?? (ctx.io.env.ASCEND_CHECKPOINT_KEY || undefined);
  return chosen === undefined ? join(ctx.dataDir, CHECKPOINT_KEY_FILE) : resolve(ctx.io.cwd, chosen);
}

/** Read and load the key at `path`. @throws ValidationError naming the file and the fix. */
export function readCheckpointKey(path: string): CheckpointKey {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ValidationError(missing ? `no checkpoint key at ${path}` : `cannot read the checkpoint key ${path}: ${(err as Error).message}`, [
      { path: 'key', message: missing ? 'make one with `ascend keys checkpoint-key create`, or pass --key FILE' : 'check the file and its permissions' },
    ]);
  }
  return loadCheckpointKey(pem, path);
}

/** Write a new private key to `path`, readable by its owner only; never over an existing file. */
export function writeCheckpointKey(path: string, pem: string): void {
  mkdirSync(dirname(path), { recursive: true });
  try {
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ValidationError(`${path} already exists: a checkpoint key is never overwritten`, [{ path: 'out', message: 'choose another file with --key, or remove the old one first' }]);
    }
    throw err;
  }
}
