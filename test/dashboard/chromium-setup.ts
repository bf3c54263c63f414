/**
 * Global setup of the dashboard tests (vitest project "dashboard"): a Chromium for
 * playwright-core, so that `npm test` passes on a fresh machine. In order: `ASCEND_TEST_CHROMIUM`,
 * the usual install paths and `PATH`, else Debian's `chromium` package installed with apt-get
 * (when running as root where apt-get exists). When none of that gives a browser, the run stops
 * with one line saying what to install; the dashboard tests are never skipped.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Chromium executable the dashboard tests launch. */
    chromiumPath: string;
  }
}

/** The environment variable that names a Chromium (or Chrome) executable. */
export const CHROMIUM_ENV = 'ASCEND_TEST_CHROMIUM';

/** Where Chromium and Chrome are usually installed (Debian, Ubuntu, snap, macOS). */
export const USUAL_CHROMIUM_PATHS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome-stable',
  '/usr/bin/google-chrome',
  '/snap/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

/** Executable names looked up on `PATH`. */
const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

/** What to install, in one line. */
export const INSTALL_HINT =
  'install Chromium (Debian/Ubuntu: `apt-get install -y chromium`; macOS: Google Chrome or Chromium in /Applications) or set ASCEND_TEST_CHROMIUM to a Chromium executable';

/** A browser could not be found or installed: the message is one line. */
export class NoChromiumError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoChromiumError';
    // vitest prints the stack of a failed global setup: keep it to the one line.
    this.stack = `${this.name}: ${message}`;
  }
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Where to look, and whether installing is allowed: the defaults are this machine's. */
export interface ChromiumSearch {
  env?: NodeJS.ProcessEnv;
  usualPaths?: readonly string[];
  /** Install Debian's package when nothing is found. Default: when root and apt-get exists. */
  install?: () => string | undefined;
}

/** The first Chromium found without installing anything; throws when the env var names nothing usable. */
export function findChromium(search: ChromiumSearch = {}): string | undefined {
  const env = search.env ?? process.env;
  const named = env[CHROMIUM_ENV];
  if (named) {
    if (isExecutableFile(named)) return named;
    throw new NoChromiumError(`${CHROMIUM_ENV}=${named} is not an executable file: point it at a Chromium executable, or unset it and ${INSTALL_HINT}`);
  }
  for (const file of search.usualPaths ?? USUAL_CHROMIUM_PATHS) if (isExecutableFile(file)) return file;
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of CHROMIUM_NAMES) {
      const file = path.join(dir, name);
      if (isExecutableFile(file)) return file;
    }
  }
  return undefined;
}

/**
 * Install Debian's `chromium` with apt-get (waiting for another apt-get to finish) and return
 * why it could not, or undefined when it did.
 */
export function installDebianChromium(): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || !isExecutableFile('/usr/bin/apt-get')) {
    return 'not root on a system with apt-get';
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], { env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 20 * 60_000 });
  process.stderr.write('No Chromium found for the dashboard tests: installing Debian\'s chromium package (apt-get install -y chromium)\n');
  let result = apt(['install', '-y', '-qq', 'chromium']);
  if (result.status !== 0) {
    // A machine that never ran apt-get update has no package lists yet.
    apt(['update', '-qq']);
    result = apt(['install', '-y', '-qq', 'chromium']);
  }
  if (result.status === 0) return undefined;
  const lastLine = (result.stderr ?? '').trim().split('\n').pop() || `exit ${String(result.status ?? result.signal)}`;
  return `apt-get install -y chromium failed: ${lastLine}`;
}

/** A Chromium to launch: found, or installed, or a one-line {@link NoChromiumError}. */
export function provideChromium(search: ChromiumSearch = {}): string {
  const found = findChromium(search);
  if (found) return found;
  const notInstalled = (search.install ?? installDebianChromium)();
  const installed = notInstalled === undefined ? findChromium(search) : undefined;
  if (installed) return installed;
  throw new NoChromiumError(`No Chromium for the dashboard tests (${notInstalled ?? 'installed, yet not found'}): ${INSTALL_HINT}`);
}

/** vitest global setup: hands the browser's path to the tests (`inject('chromiumPath')`). */
export default function setup(project: TestProject): void {
  project.provide('chromiumPath', provideChromium());
}
