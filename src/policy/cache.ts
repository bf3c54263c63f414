/**
 * The compiled-policy cache: the plain-data form of the last policy a data dir's client loaded
 * (its validated document and rule lines), so that the next process starting on the same text
 * skips the YAML parser and the schema — about a fifth of a cold start (docs/architecture.md,
 * "Cold start").
 *
 * An entry serves exactly the text it was made from (its sha256 is checked against the file's on
 * every load) and the package version that made it. It lives in the data dir, beside the
 * database that holds the approvals: whoever can write one can write the other, so it is trusted
 * as much as the data dir is. A cache that cannot be read or written is skipped, never an error.
 */
import { isDeepStrictEqual } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { type CompiledPolicy } from '../engine/index.js';
import { policyForm, policyFromForm, type CompiledPolicyForm } from '../engine/compile.js';
import { packageVersion } from '../core/version.js';

/** The cache file's name in its directory. */
export const POLICY_CACHE_FILE = 'policy.compiled.json';

/** Changes when the entry's layout does. */
const FORMAT = 1;

interface CacheEntry {
  format: number;
  packageVersion: string;
  form: CompiledPolicyForm;
}

/** One cached compiled policy in a directory (the data dir). */
export class CompiledPolicyCache {
  private readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, POLICY_CACHE_FILE);
  }

  /** The policy `text` compiled to, when this cache holds its form; `file` names it in errors. */
  get(text: string, file: string): CompiledPolicy | undefined {
    let entry: Partial<CacheEntry>;
    try {
      entry = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Partial<CacheEntry>;
    } catch {
      return undefined;
    }
    if (entry.format !== FORMAT || entry.packageVersion !== version() || typeof entry.form !== 'object' || entry.form === null) return undefined;
    try {
      return policyFromForm(text, file, entry.form);
    } catch {
      return undefined; // not a form this version wrote
    }
  }

  /** Keep `policy`'s form, replacing the one held (written whole, then renamed into place). */
  put(policy: CompiledPolicy): void {
    const entry: CacheEntry = { format: FORMAT, packageVersion: version(), form: policyForm(policy) };
    const json = JSON.stringify(entry);
    // Only a document that JSON carries unchanged (no Infinity, no dates) is worth a cache entry.
    if (!isDeepStrictEqual((JSON.parse(json) as CacheEntry).form.document, entry.form.document)) return;
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(temporary, json, { mode: 0o600 });
      fs.renameSync(temporary, this.file);
    } catch {
      try {
        fs.rmSync(temporary, { force: true });
      } catch {
        // nothing was written
      }
    }
  }
}

let cachedVersion: string | undefined;
function version(): string {
  cachedVersion ??= packageVersion();
  return cachedVersion;
}
