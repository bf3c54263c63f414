/**
 * Opening better-sqlite3 connections. better-sqlite3 13 is a Node-API addon: its package ships
 * prebuilt binaries for Linux (glibc and musl), macOS and Windows on x64 and arm64, with no install
 * script, and one binary serves every Node.js line it supports (22 and later). On Node.js 20 that
 * binary crashes the process, and on another platform there is none until one is compiled. So the
 * Node.js version is checked first and the binding is found and loaded here, and either failure is
 * one {@link NativeBindingError} that says what is wrong and what fixes it, never a crash or the
 * loader's stack of paths.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import nodePath from 'node:path';
import Database from 'better-sqlite3';
import { NativeBindingError, type NativeBindingInfo } from '../core/errors.js';

/** The oldest Node.js major line better-sqlite3 (and this package) runs on. */
export const MIN_NODE_MAJOR = 22;

const requireHere = createRequire(import.meta.url);

/** Binding files already loaded, by better-sqlite3 package folder. */
const loadedBindings = new Map<string, string>();

/** The folder of the better-sqlite3 package this module imports. */
export function driverRoot(): string {
  return nodePath.dirname(requireHere.resolve('better-sqlite3/package.json'));
}

/**
 * Find and load the binding of the better-sqlite3 package in `root` (what better-sqlite3 itself
 * looks for: a binary compiled into `build/`, else the prebuilt one for this platform) and return
 * its path. Throws {@link NativeBindingError} on a Node.js older than {@link MIN_NODE_MAJOR}, when
 * there is no binding, or when it does not load.
 */
export function loadNativeBinding(root: string = driverRoot(), nodeVersion: string = process.version): string {
  const known = loadedBindings.get(root);
  if (known) return known;
  const runtime = {
    nodeVersion,
    nodeAbi: process.versions.modules,
    platform: platformTarget(),
    packageRoot: root,
  };
  // Checked before anything is loaded: on an older Node.js the binary aborts the process.
  if (Number(nodeVersion.replace(/^v/, '').split('.')[0]) < MIN_NODE_MAJOR) {
    throw new NativeBindingError({ problem: 'unsupported_node', ...runtime });
  }
  const file = bindingFile(root);
  if (file === undefined) throw new NativeBindingError({ problem: 'missing', ...runtime });
  try {
    createRequire(nodePath.join(root, 'package.json'))(file);
  } catch (err) {
    throw new NativeBindingError(loadFailure(err, file, runtime), { cause: err });
  }
  loadedBindings.set(root, file);
  return file;
}

/** A compiled binding in `build/` (someone built one on purpose), else this platform's prebuilt one. */
function bindingFile(root: string): string | undefined {
  const candidates = [
    nodePath.join(root, 'build', 'Debug', 'better_sqlite3.node'),
    nodePath.join(root, 'build', 'Release', 'better_sqlite3.node'),
    nodePath.join(root, 'prebuilds', `${platformTarget()}.node`),
  ];
  return candidates.find((file) => fs.existsSync(file));
}

/** This process's {@link platformTarget}, found once (telling glibc from musl reads /proc/self/maps). */
let knownPlatformTarget: string | undefined;

/** better-sqlite3's name for this platform's prebuilt binary: `linux-x64`, `linuxmusl-arm64`, … */
function platformTarget(): string {
  knownPlatformTarget ??= `${process.platform === 'linux' && isMusl() ? 'linuxmusl' : process.platform}-${process.arch}`;
  return knownPlatformTarget;
}

function isMusl(): boolean {
  try {
    return /\/ld-musl-[^/\s]*\.so/.test(fs.readFileSync('/proc/self/maps', 'latin1'));
  } catch {
    return false;
  }
}

/** What a failed `dlopen` of the binding says, in {@link NativeBindingInfo}'s terms. */
function loadFailure(err: unknown, bindingPath: string, runtime: Omit<NativeBindingInfo, 'problem'>): NativeBindingInfo {
  const message = err instanceof Error ? err.message : String(err);
  // A binary compiled against Node's own ABI: "… using NODE_MODULE_VERSION 115. …"
  const builtFor = /using\s+NODE_MODULE_VERSION\s+(\d+)/.exec(message);
  if (builtFor?.[1]) return { problem: 'abi_mismatch', ...runtime, bindingPath, bindingAbi: builtFor[1] };
  return { problem: 'load_failed', ...runtime, bindingPath, loaderMessage: message.split('\n', 1)[0] ?? message };
}

/** A better-sqlite3 connection on `path`, its binding loaded through {@link loadNativeBinding}. */
export function openDatabase(path: string, options: Omit<Database.Options, 'nativeBinding'> = {}): Database.Database {
  return new Database(path, { ...options, nativeBinding: loadNativeBinding() });
}
