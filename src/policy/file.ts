/**
 * Reading a policy file from disk: the one place the engine's input touches the file system.
 */
import { readFileSync } from 'node:fs';
import { PolicyError } from '../core/errors.js';
import { parsePolicy, type CompiledPolicy } from '../engine/index.js';
import { CompiledPolicyCache } from './cache.js';

/** Largest policy file read (a policy is small; a huge file is a mistake). */
const MAX_POLICY_BYTES = 4 * 1024 * 1024;

/** Options of {@link loadPolicyFile}. */
export interface LoadPolicyFileOptions {
  /**
   * A directory for the compiled-policy cache (the embedded client passes its data dir): a text
   * loaded before starts without the YAML parser. Default: no cache.
   */
  cacheDir?: string;
}

/**
 * Read, parse and compile the policy at `path`. Throws {@link PolicyError} naming the path when
 * the file is missing or unreadable, and with file + line + fix when it does not load.
 */
export function loadPolicyFile(path: string, options: LoadPolicyFileOptions = {}): CompiledPolicy {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_POLICY_BYTES) {
      throw new PolicyError(`policy file is ${bytes.length} bytes, larger than ${MAX_POLICY_BYTES}`, { file: path }, 'a policy should be a few kilobytes: check the path');
    }
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof PolicyError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? 'policy file not found'
        : code === 'EACCES' || code === 'EPERM'
          ? 'policy file is not readable (permission denied)'
          : code === 'EISDIR'
            ? 'policy path is a directory, not a file'
            : `policy file could not be read (${(error as Error).message})`;
    const fix = code === 'ENOENT' ? 'check the path, or create one with `ascend init`' : 'check the path and its permissions';
    throw new PolicyError(problem, { file: path }, fix);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM would shift the first key
  if (options.cacheDir === undefined) return parsePolicy(text, path);
  const cache = new CompiledPolicyCache(options.cacheDir);
  const cached = cache.get(text, path);
  if (cached !== undefined) return cached;
  const policy = parsePolicy(text, path);
  cache.put(policy);
  return policy;
}
