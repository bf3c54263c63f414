/**
 * The fail-open spool: a durable, append-only JSON-lines file of actions that ran on a synthetic
 * `allowed` while the decision point was unreachable, and of their outcomes. Each entry is
 * fsync'd before the tool runs; entries are uploaded to the audit trail once the decision point
 * answers again, and the file is removed only after every entry was accepted.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { SpoolEntry } from '../core/types.js';

/** Durable JSON-lines spool at `<dir>/failopen.jsonl`. */
export class FailOpenSpool {
  /** The spool file. */
  readonly file: string;
  private readonly drainingFile: string;

  constructor(dir: string) {
    this.file = path.join(dir, 'failopen.jsonl');
    this.drainingFile = `${this.file}.draining`;
  }

  /** Append one entry and fsync it. Throws if the disk refuses: then nothing may run. */
  append(entry: SpoolEntry): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const fd = fs.openSync(this.file, 'a', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(entry) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** True when there is something to upload. */
  hasEntries(): boolean {
    return sizeOf(this.file) > 0 || sizeOf(this.drainingFile) > 0;
  }

  /** Every entry in both files, in order. A torn last line (a crash mid-append) is skipped: its
   * tool never ran, because the append precedes the run. */
  read(): SpoolEntry[] {
    return [...readEntries(this.drainingFile), ...readEntries(this.file)];
  }

  /**
   * Upload every spooled entry through `upload` (decisions before outcomes), then remove what was
   * uploaded. Uploads must be idempotent (a record already present is skipped), so a crash
   * mid-drain loses nothing and duplicates nothing. Returns how many entries were uploaded.
   */
  async drain(upload: (entry: SpoolEntry) => Promise<void>): Promise<number> {
    // Move the file aside first, so entries appended while we upload land in a fresh file.
    if (!fs.existsSync(this.drainingFile) && fs.existsSync(this.file)) fs.renameSync(this.file, this.drainingFile);
    const entries = readEntries(this.drainingFile);
    const ordered = [...entries.filter((e) => e.kind === 'decision'), ...entries.filter((e) => e.kind === 'outcome')];
    for (const entry of ordered) await upload(entry);
    fs.rmSync(this.drainingFile, { force: true });
    return ordered.length;
  }
}

function sizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readEntries(file: string): SpoolEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const entries: SpoolEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as SpoolEntry);
    } catch {
      // torn write at a crash: skipped (see read())
    }
  }
  return entries;
}
