/**
 * A policy file that is read again when it changes: the embedded client and `ascend serve` pick
 * up an edit within a second (the file's status is polled every 250 ms, and a changed file is
 * read once its status has stayed the same for another 250 ms), `serve` at once on SIGHUP. A
 * change that does not load keeps the policy in force (it never allows) and is kept as the last
 * load error, with its file:line; a change that loads switches every later decision to it, and is
 * reported once so it can be recorded as `policy.changed`.
 *
 * Why wait for the file to settle: a file written in pieces can be, for a moment, a shorter
 * policy that still loads — the first rules without the deny rules after them. Such a prefix must
 * never decide a call. (Writing a temporary file and renaming it over is atomic and is what
 * editors do.)
 */
import fs from 'node:fs';
import { loadPolicyFile } from './file.js';
import type { CompiledPolicy } from '../engine/index.js';

/** Where a decision point reads the policy in force (a fixed one, or a {@link LivePolicy}). */
export interface PolicyInForce {
  readonly current: CompiledPolicy | Error;
}

/** A fixed policy (or the error that stopped it loading) as a {@link PolicyInForce}; one already is, as it is. */
export function inForce(policy: CompiledPolicy | Error | PolicyInForce): PolicyInForce {
  return policy instanceof Error || !('current' in policy) ? { current: policy } : policy;
}

/** A change that loaded and is now in force. */
export interface PolicySwitch {
  from: CompiledPolicy | Error;
  to: CompiledPolicy;
  cause: 'file' | 'signal';
}

/** A change that did not load: the policy in force stays. */
export interface PolicyLoadFailure {
  error: Error;
  /** Epoch ms. */
  atMs: number;
  cause: 'file' | 'signal';
}

/** Options of {@link LivePolicy}. */
export interface LivePolicyOptions {
  /** How often the file's status is read. Default 250 ms. */
  pollIntervalMs?: number;
  /** A change loaded and is now in force. */
  onSwitch?: (change: PolicySwitch) => void;
  /** A change did not load; the policy in force stays. */
  onLoadError?: (failure: PolicyLoadFailure) => void;
  /** The compiled-policy cache's directory for each version read (see `loadPolicyFile`). */
  cacheDir?: string;
  /** Clock, for tests. */
  now?: () => number;
}

/** How often a watched policy file's status is read by default. */
export const POLICY_POLL_INTERVAL_MS = 250;

/** The policy of one file, kept current. Call {@link close} to stop watching. */
export class LivePolicy implements PolicyInForce {
  private policy: CompiledPolicy | Error;
  private failure: PolicyLoadFailure | undefined;
  private failures = 0;
  /** The id of the pushed policy in force (0: the file's). */
  private pushedId = 0;
  private readonly listener: (curr: fs.Stats, prev: fs.Stats) => void;
  /** The status of a changed file waiting to settle, and the timer that looks at it again. */
  private settling: { signature: string; timer: NodeJS.Timeout } | undefined;
  private watching = false;
  private readonly now: () => number;

  /**
   * @param path the policy file
   * @param initial what was loaded at start (a CompiledPolicy, or the Error that stopped it)
   */
  constructor(
    readonly path: string,
    initial: CompiledPolicy | Error,
    private readonly options: LivePolicyOptions = {},
  ) {
    this.policy = initial;
    this.now = options.now ?? Date.now;
    this.listener = (curr, prev) => {
      if (signatureOf(curr) !== signatureOf(prev)) this.settle(signatureOf(curr));
    };
  }

  /** The policy in force: the last version that loaded (an Error only while none has). */
  get current(): CompiledPolicy | Error {
    return this.policy;
  }

  /** The last change that did not load, while no later one has loaded. */
  get lastLoadError(): PolicyLoadFailure | undefined {
    return this.failure;
  }

  /** Changes that did not load since start. */
  get loadErrors(): number {
    return this.failures;
  }

  /** The id of the pushed policy in force; 0 while the file's is. */
  get pushed(): number {
    return this.pushedId;
  }

  /**
   * Decide with a policy pushed to the database (`ascend policy push`) from now on: only forward
   * (a higher `id` than the one in force), and the file is no longer read.
   * @returns whether the policy in force changed
   */
  adopt(policy: CompiledPolicy, id: number): boolean {
    if (id <= this.pushedId) return false;
    this.pushedId = id;
    this.failure = undefined;
    this.policy = policy;
    return true;
  }

  /** Start watching the file (a no-op when watching). The watch never keeps the process alive. */
  watch(): this {
    if (this.watching) return this;
    this.watching = true;
    fs.watchFile(this.path, { interval: this.options.pollIntervalMs ?? POLICY_POLL_INTERVAL_MS, persistent: false }, this.listener);
    return this;
  }

  /**
   * Read the file again now. A version equal to the one in force changes nothing; one that
   * loads is switched to; one that does not load is kept as {@link lastLoadError}.
   * @returns whether the policy in force changed
   */
  reload(cause: 'file' | 'signal'): boolean {
    if (this.pushedId > 0) return false; // a pushed policy rules: the file is not read
    let next: CompiledPolicy;
    try {
      next = loadPolicyFile(this.path, this.options.cacheDir === undefined ? {} : { cacheDir: this.options.cacheDir });
    } catch (err) {
      this.failures++;
      this.failure = { error: err instanceof Error ? err : new Error(String(err)), atMs: this.now(), cause };
      this.options.onLoadError?.(this.failure);
      return false;
    }
    this.failure = undefined;
    const from = this.policy;
    if (!(from instanceof Error) && from.policyVersion === next.policyVersion) return false;
    this.policy = next;
    this.options.onSwitch?.({ from, to: next, cause });
    return true;
  }

  /** Stop watching. */
  close(): void {
    if (this.settling) clearTimeout(this.settling.timer);
    this.settling = undefined;
    if (!this.watching) return;
    this.watching = false;
    fs.unwatchFile(this.path, this.listener);
  }

  /** Read the file once its status has not changed for one poll interval. */
  private settle(signature: string): void {
    if (this.settling) clearTimeout(this.settling.timer);
    const timer = setTimeout(() => {
      this.settling = undefined;
      let now: string;
      try {
        now = signatureOf(fs.statSync(this.path));
      } catch {
        now = 'missing';
      }
      if (now === signature) this.reload('file');
      else this.settle(now);
    }, this.options.pollIntervalMs ?? POLICY_POLL_INTERVAL_MS);
    timer.unref();
    this.settling = { signature, timer };
  }
}

/** What tells one version of a file's status from another. */
function signatureOf(stat: fs.Stats): string {
  return stat.nlink === 0 && stat.size === 0 && stat.mtimeMs === 0 ? 'missing' : `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
}

