/**
 * Opening better-sqlite3 connections with its native binding found and loaded here first, so a
 * binding that is missing (installed with scripts off) or built for another Node.js (versions
 * switched since the install) fails with one {@link NativeBindingError} that says which Node.js
 * needs it and how to build it, instead of the loader's list of thirteen probed paths.
 */
import { createRequire } from 'node:module';
import nodePath from 'node:path';
import Database from 'better-sqlite3';
import { NativeBindingError, type NativeBindingInfo } from '../errors.js';

/** The part of the `bindings` package (better-sqlite3's own binding finder) used here. */
type FindBinding = (options: { bindings: string; module_root: string; path: true }) => string;

const requireHere = createRequire(import.meta.url);

/** Binding files already loaded, by better-sqlite3 package folder. */
const loadedBindings = new Map<string, string>();

/** The folder of the better-sqlite3 package this module imports. */
export function driverRoot(): string {
  return nodePath.dirname(requireHere.resolve('better-sqlite3/package.json'));
}

/**
 * Find and load `better_sqlite3.node` for the better-sqlite3 package in `root` (the same search
 * better-sqlite3 makes) and return its path. Throws {@link NativeBindingError} when there is none
 * or it does not load in this Node.js.
 */
export function loadNativeBinding(root: string = driverRoot()): string {
  const known = loadedBindings.get(root);
  if (known) return known;
  const runtime = {
    nodeVersion: process.version,
    nodeAbi: process.versions.modules,
    platform: `${process.platform}-${process.arch}`,
    packageRoot: root,
  };
  const requireFromDriver = createRequire(nodePath.join(root, 'package.json'));
  let file: string;
  try {
    const findBinding = requireFromDriver('bindings') as FindBinding;
    file = findBinding({ bindings: 'better_sqlite3.node', module_root: root, path: true });
  } catch (err) {
    throw new NativeBindingError({ problem: 'missing', ...runtime }, { cause: err });
  }
  try {
    requireFromDriver(file);
  } catch (err) {
    throw new NativeBindingError(loadFailure(err, file, runtime), { cause: err });
  }
  loadedBindings.set(root, file);
  return file;
}

/** What a failed `dlopen` of the binding says, in {@link NativeBindingInfo}'s terms. */
function loadFailure(err: unknown, bindingPath: string, runtime: Omit<NativeBindingInfo, 'problem'>): NativeBindingInfo {
  const message = err instanceof Error ? err.message : String(err);
  // Node.js: "… was compiled against a different Node.js version using NODE_MODULE_VERSION 115. …"
  const builtFor = /using\s+NODE_MODULE_VERSION\s+(\d+)/.exec(message);
  if (builtFor?.[1]) return { problem: 'abi_mismatch', ...runtime, bindingPath, bindingAbi: builtFor[1] };
  return { problem: 'load_failed', ...runtime, bindingPath, loaderMessage: message.split('\n', 1)[0] ?? message };
}

/** A better-sqlite3 connection on `path`, its binding loaded through {@link loadNativeBinding}. */
export function openDatabase(path: string, options: Omit<Database.Options, 'nativeBinding'> = {}): Database.Database {
  return new Database(path, { ...options, nativeBinding: loadNativeBinding() });
}
