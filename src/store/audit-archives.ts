/**
 * Archives of the audit trail: the oldest events written to a file and removed from the live
 * store, so the database and every cost that follows its size stay flat as history grows.
 *
 * An archive is gzip-compressed JSON lines: a header (`ascendAuditArchive: 1`, the segment's
 * bounds — `afterSeq` and the `prevHash` it continues from, `throughSeq` and its `throughHash` —
 * and the counts of events by type before it), then every event of the segment exactly as
 * `ascend audit export` writes them. The segment is verified while it is written (a broken chain
 * is not archived), the file is synced and only then are its events removed, in one transaction
 * that also moves the store's base (`audit_base`) past them and appends `audit.archived`.
 * `verifyArchives` checks a set of archives as one chain from seq 1 that must end exactly where
 * the live chain starts. Where the cut may fall: archive-plan.ts.
 */
import { createReadStream, createWriteStream, existsSync, fsyncSync, linkSync, openSync, closeSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { canonicalJson } from '../core/canonical.js';
import { AuditChainError, ConflictError, ValidationError } from '../core/errors.js';
import type { AuditEvent, ChainStart } from '../core/types.js';
import { AuditChainVerifier, GENESIS_HASH, type StoredAuditRow } from './audit-chain.js';
import type { AuditBase, Store } from './store.js';

/** The archive format's version, in every header. */
export const ARCHIVE_FORMAT = 1;
/** Events read from the store per page while archiving. */
const PAGE = 1000;

/** The first line of an archive. */
export interface ArchiveHeader {
  ascendAuditArchive: typeof ARCHIVE_FORMAT;
  /** The segment is the events after this seq… */
  afterSeq: number;
  /** …whose hash the first event's `prevHash` is… */
  prevHash: string;
  /** …through this one, whose hash is `throughHash`. */
  throughSeq: number;
  throughHash: string;
  /** Events by type from seq 1 through `afterSeq`. */
  countsBefore: Record<string, number>;
  /** ISO time. */
  archivedAt: string;
}

/** What {@link archiveAudit} did. */
export interface ArchiveSummary extends ArchiveHeader {
  file: string;
  events: number;
  /** Where the live chain starts now. */
  base: AuditBase;
}

function rowOf(event: AuditEvent): StoredAuditRow {
  return { ...event, data: canonicalJson(event.data) };
}

function sortedCounts(counts: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Archive the events before `before` (ISO) to `file` (gzip JSON lines; never over an existing
 * file), then remove them from the store. Returns undefined when no event may be archived yet.
 * @throws AuditChainError when the segment does not verify (nothing is written or removed).
 * @throws ConflictError when the chain changed under the plan (the file is removed again).
 */
export async function archiveAudit(store: Store, options: { before: string; file: string; actor: string; at: string }): Promise<ArchiveSummary | undefined> {
  const { file } = options;
  if (existsSync(file)) throw new ValidationError(`${file} already exists: an archive is never overwritten`, [{ path: 'out', message: 'choose a new file' }]);
  const plan = await store.planArchive(options.before);
  if (plan === undefined) return undefined;
  // The counts before the segment must be those of the base the plan starts from.
  const base = await store.auditBase();
  if (base.seq !== plan.afterSeq) throw new ConflictError(`another archive ran meanwhile (the live chain now starts after seq ${base.seq}); run it again`);
  const header: ArchiveHeader = {
    ascendAuditArchive: ARCHIVE_FORMAT,
    afterSeq: plan.afterSeq,
    prevHash: plan.afterHash,
    throughSeq: plan.throughSeq,
    throughHash: plan.throughHash,
    countsBefore: sortedCounts(base.counts),
    archivedAt: options.at,
  };
  const partial = `${file}.partial-${process.pid}`;
  let counts: Record<string, number>;
  try {
    counts = await writeSegment(store, header, partial);
    linkSync(partial, file); // fails rather than replace a file made meanwhile
    syncDirectory(dirname(file));
  } finally {
    rmSync(partial, { force: true });
  }
  let next: AuditBase;
  try {
    next = await store.removeArchived(plan, counts, options.actor, options.at);
  } catch (err) {
    // Refused as planned: the events stay live, and an archive of them would only mislead. On any
    // other failure (a connection lost during COMMIT) the removal may have happened: keep the file.
    if (err instanceof ConflictError) rmSync(file, { force: true });
    throw err;
  }
  return { ...header, file, events: plan.throughSeq - plan.afterSeq, base: next };
}

/** Write the segment to `path`, verifying it; returns the counts through its end. */
async function writeSegment(store: Store, header: ArchiveHeader, path: string): Promise<Record<string, number>> {
  // Loaded here, not at import: only archiving pays for them (see loads-what-it-needs.test.ts).
  const [{ createGzip }, { pipeline }] = await Promise.all([import('node:zlib'), import('node:stream/promises')]);
  const gzip = createGzip();
  const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  // Started at once, so a failed write (a full disk) rejects it rather than going unheard.
  const written = pipeline(gzip, out);
  let failed: Error | undefined;
  written.catch((err: unknown) => {
    failed = err instanceof Error ? err : new Error(String(err));
  });
  const write = async (line: string): Promise<void> => {
    if (failed !== undefined) throw failed;
    if (!gzip.write(line + '\n')) await Promise.race([new Promise<void>((resolve) => gzip.once('drain', resolve)), written.then(() => undefined)]);
    if (failed !== undefined) throw failed;
  };
  const verifier = new AuditChainVerifier(header.afterSeq, header.prevHash);
  const counts = { ...header.countsBefore };
  try {
    await write(JSON.stringify(header));
    let after = header.afterSeq;
    let lastHash = header.prevHash;
    while (after < header.throughSeq) {
      const page = await store.readAudit({ afterSeq: after, limit: Math.min(PAGE, header.throughSeq - after) });
      if (page.length === 0) break;
      for (const event of page) {
        const reason = verifier.check(rowOf(event));
        if (reason !== undefined) throw new AuditChainError(`the audit chain does not verify at seq ${event.seq} (${reason}); nothing was archived`, { seq: event.seq, reason });
        counts[event.type] = (counts[event.type] ?? 0) + 1;
        await write(JSON.stringify(event));
        after = event.seq;
        lastHash = event.hash;
      }
    }
    if (after !== header.throughSeq || lastHash !== header.throughHash) {
      throw new AuditChainError(`the events to archive end at seq ${after}, not ${header.throughSeq} as planned; nothing was archived`, { seq: after + 1, reason: 'changed while archiving' });
    }
    gzip.end();
    await written;
  } catch (err) {
    gzip.destroy();
    out.destroy();
    await written.catch(() => undefined);
    throw err;
  }
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return sortedCounts(counts);
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems cannot sync a directory; the file itself is synced.
  }
}

/** One archive as {@link verifyArchives} found it. */
export interface ArchiveReport {
  file: string;
  afterSeq: number;
  throughSeq: number;
  /** Events read from it. */
  events: number;
  ok: boolean;
}

/** What {@link verifyArchives} found: the archives in order, where they end, or the first fault. */
export interface ArchivesVerification {
  archives: ArchiveReport[];
  /** The end of the archived chain: where the live chain must start. */
  end: ChainStart;
  firstBad?: { seq: number; reason: string };
  /** Hashes of the events the caller asked about (`wanted`), as the archives hold them. */
  found: Map<number, string>;
}

async function readHeader(file: string): Promise<ArchiveHeader> {
  for await (const line of linesOf(file)) return parseHeader(line, file);
  throw new ValidationError(`${file} is empty: not an Ascend audit archive`, [{ path: file, message: 'give a file written by `ascend audit archive`' }]);
}

function parseHeader(line: string, file: string): ArchiveHeader {
  let header: Partial<ArchiveHeader>;
  try {
    header = JSON.parse(line) as Partial<ArchiveHeader>;
  } catch {
    header = {};
  }
  if (header.ascendAuditArchive !== ARCHIVE_FORMAT || typeof header.afterSeq !== 'number' || typeof header.throughSeq !== 'number' || typeof header.prevHash !== 'string' || typeof header.throughHash !== 'string') {
    throw new ValidationError(`${file} is not an Ascend audit archive (format ${ARCHIVE_FORMAT})`, [{ path: file, message: 'give a file written by `ascend audit archive`' }]);
  }
  return { countsBefore: {}, archivedAt: '', ...header } as ArchiveHeader;
}

/** The file's lines, decompressed; leaving the loop early closes the file. */
async function* linesOf(file: string): AsyncGenerator<string> {
  const [{ createInterface }, { createGunzip }] = await Promise.all([import('node:readline'), import('node:zlib')]);
  const source = createReadStream(file);
  const lines = createInterface({ input: source.pipe(createGunzip()), crlfDelay: Infinity });
  try {
    yield* lines;
  } finally {
    lines.close();
    source.destroy();
  }
}

/**
 * Verify `files` as one chain from seq 1: each archive's events link and hash, each starts where
 * the previous ended, and nothing is missing or cut short. `wanted`: seqs whose hashes to report
 * (checkpoints to match against archived events).
 */
export async function verifyArchives(files: readonly string[], wanted: ReadonlySet<number> = new Set()): Promise<ArchivesVerification> {
  const archives: ArchiveReport[] = [];
  const found = new Map<number, string>();
  let end: ChainStart = { seq: 0, hash: GENESIS_HASH, counts: {} };
  const fail = (seq: number, reason: string): ArchivesVerification => ({ archives, end, found, firstBad: { seq, reason } });
  const headers: Array<{ file: string; header: ArchiveHeader }> = [];
  for (const file of files) {
    try {
      headers.push({ file, header: await readHeader(file) });
    } catch (err) {
      if (err instanceof ValidationError) throw err;
      return fail(1, `${basename(file)} cannot be read: ${err instanceof Error ? err.message : String(err)} (cut short or damaged)`);
    }
  }
  headers.sort((a, b) => a.header.afterSeq - b.header.afterSeq);
  for (const { file, header } of headers) {
    const name = basename(file);
    if (header.afterSeq !== end.seq) {
      return fail(
        end.seq + 1,
        header.afterSeq > end.seq
          ? `missing archive: ${name} starts after seq ${header.afterSeq}, but the archives before it end at seq ${end.seq} (events ${end.seq + 1}–${header.afterSeq} are in none of them)`
          : `${name} overlaps the archive before it (it starts after seq ${header.afterSeq}, that one ends at seq ${end.seq})`,
      );
    }
    if (header.prevHash !== end.hash) return fail(header.afterSeq + 1, `${name} continues from hash ${header.prevHash}, but event ${end.seq} has hash ${end.hash}`);
    if (canonicalJson(header.countsBefore) !== canonicalJson(end.counts)) {
      return fail(header.afterSeq + 1, `${name} says ${JSON.stringify(header.countsBefore)} events came before it, the archives before it hold ${JSON.stringify(end.counts)}`);
    }
    const report: ArchiveReport = { file, afterSeq: header.afterSeq, throughSeq: header.throughSeq, events: 0, ok: false };
    archives.push(report);
    const verifier = new AuditChainVerifier(header.afterSeq, header.prevHash);
    const counts = { ...end.counts };
    let last = { seq: header.afterSeq, hash: header.prevHash };
    let first = true;
    try {
      for await (const line of linesOf(file)) {
        if (first) {
          first = false;
          continue;
        }
        const event = JSON.parse(line) as AuditEvent;
        const reason = verifier.check(rowOf(event));
        if (reason !== undefined) return fail(event.seq, `${name}: ${reason}`);
        counts[event.type] = (counts[event.type] ?? 0) + 1;
        if (wanted.has(event.seq)) found.set(event.seq, event.hash);
        report.events++;
        last = { seq: event.seq, hash: event.hash };
      }
    } catch (err) {
      return fail(last.seq + 1, `${name} cannot be read past seq ${last.seq}: ${err instanceof Error ? err.message : String(err)} (cut short or damaged)`);
    }
    if (last.seq !== header.throughSeq || last.hash !== header.throughHash) {
      return fail(last.seq + 1, `${name} ends at seq ${last.seq}, but its header says it holds the events through seq ${header.throughSeq} (cut short)`);
    }
    report.ok = true;
    end = { seq: last.seq, hash: last.hash, counts };
  }
  return { archives, end, found };
}
