/**
 * `ascend audit tail|export|verify`: read, export and check the hash-chained audit trail.
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AuditChainError } from '../../core/errors.js';
import { archiveAudit } from '../../store/audit-archives.js';
import {
  parseCheckpoint,
  parsePublicKey,
  takeCheckpoint,
  type TrailVerification,
  type TrailVerificationOptions,
  verifyAuditTrail,
} from '../../store/audit-checkpoints.js';
import type { AuditCheckpoint, AuditEvent } from '../../core/types.js';
import { resolveActor } from '../actor.js';
import { checkpointKeyPath, KEY_OPTION, readCheckpointKey } from '../checkpoint-key-file.js';
import { UsageError } from '../errors.js';
import { RemoteStore } from '../remote-store.js';
import type { AuditQuery, Store } from '../../store/store.js';
import { parseEnumOption, parseIntegerOption, parseTimeOption } from '../args.js';
import type { CommandContext, CommandGroup, CommandSpec } from '../command.js';
import { csvRecord } from '../csv.js';
import { ExitCode } from '../exit-codes.js';
import { followChanges } from '../follow.js';
import { formatTime, jsonDocument, jsonLine, truncate } from '../format.js';
import { DATABASE_OPTION, withNamedDatabaseOrStore, withStore } from '../store-access.js';

/** Events read per page by export and follow: bounded memory whatever the trail's size. */
export const AUDIT_PAGE_SIZE = 1000;
const DEFAULT_TAIL_COUNT = 20;
const MAX_TAIL_COUNT = 100_000;
/** Leading hex digits of a hash shown to people. */
const HASH_PREFIX_CHARS = 12;

/** `data` members worth showing in one line, in this order. */
const SUMMARY_KEYS = ['decision', 'actionType', 'resource', 'status', 'riskScore', 'durationMs', 'error', 'reason', 'comment', 'grantId', 'channel', 'seq', 'keyId'];

/** A short `key=value` summary of an event for `tail`. */
export function summarizeEvent(event: AuditEvent): string {
  const parts: string[] = [];
  for (const key of SUMMARY_KEYS) {
    const value = event.data[key];
    if (value === undefined || value === null || value === '' || typeof value === 'object') continue;
    // A duration is measured with performance.now(): microseconds are noise to a reader.
    const text = key === 'durationMs' && typeof value === 'number' ? String(Math.round(value * 100) / 100) : String(value);
    parts.push(`${key}=${/\s/.test(text) ? JSON.stringify(text) : text}`);
  }
  // Ids last: long and rarely what a person scans for, but needed to follow up.
  if (event.approvalId !== null) parts.push(`approval=${event.approvalId}`);
  if (event.actionId !== null) parts.push(`action=${event.actionId}`);
  return parts.join(' ');
}

/** Fixed widths (not measured) so `--follow` lines align with the ones printed before them. */
function tailHeader(): string {
  return `${'SEQ'.padStart(7)}  ${'TIME'.padEnd(19)}  ${'TYPE'.padEnd(20)}  ${'AGENT'.padEnd(20)}  ${'ACTOR'.padEnd(24)}  DETAILS\n`;
}

function tailLine(ctx: CommandContext, event: AuditEvent): string {
  return (
    `${String(event.seq).padStart(7)}  ${formatTime(event.ts).padEnd(19)}  ${event.type.padEnd(20)}  ` +
    `${truncate(event.agentId ?? '-', 20).padEnd(20)}  ${truncate(event.actor, 24).padEnd(24)}  ` +
    `${ctx.style.dim(truncate(summarizeEvent(event), 120))}`.trimEnd() +
    '\n'
  );
}

const tailCommand: CommandSpec = {
  name: 'tail',
  summary: 'show the newest audit events (oldest first); --follow keeps printing new ones',
  details: 'With --json: a JSON array, or with --follow one JSON object per line. --follow stops on Ctrl-C (exit 0).',
  options: {
    n: { type: 'string', short: 'n', valueName: 'N', description: `how many events (default ${DEFAULT_TAIL_COUNT})` },
    agent: { type: 'string', valueName: 'ID', description: 'only events of this agent' },
    follow: { type: 'boolean', short: 'f', description: 'keep printing new events until interrupted' },
  },
  positionals: [],
  examples: ['ascend audit tail -n 50', 'ascend audit tail --follow --agent agent-001'],
  async run(ctx) {
    const countText = ctx.string('n');
    const count = countText === undefined ? DEFAULT_TAIL_COUNT : parseIntegerOption(countText, 'n', { min: 0, max: MAX_TAIL_COUNT }, ctx.commandPath);
    const agentId = ctx.string('agent');
    const follow = ctx.flag('follow');
    const agentFilter: Pick<AuditQuery, 'agentId'> = agentId === undefined ? {} : { agentId };
    const print = (event: AuditEvent): Promise<void> => ctx.out(ctx.json ? jsonLine(event) : tailLine(ctx, event));

    await withStore(ctx, async (store) => {
      const newest = count === 0 ? [] : await store.readAudit({ ...agentFilter, newestFirst: true, limit: count });
      const events = newest.reverse();
      if (!follow) {
        if (ctx.json) await ctx.out(jsonDocument(events));
        else if (events.length === 0) await ctx.out('no audit events\n');
        else await ctx.out(tailHeader() + events.map((e) => tailLine(ctx, e)).join(''));
        return;
      }
      if (!ctx.json) await ctx.out(tailHeader());
      for (const event of events) await print(event);
      // Resume after the newest event of the whole trail, not just the newest one shown.
      let afterSeq = (await store.readAudit({ newestFirst: true, limit: 1 }))[0]?.seq ?? 0;
      if (events.length > 0) afterSeq = Math.max(afterSeq, events[events.length - 1]!.seq);
      await followChanges(store, ctx.io.signal, async () => {
        for (;;) {
          const page = await store.readAudit({ ...agentFilter, afterSeq, limit: AUDIT_PAGE_SIZE });
          for (const event of page) {
            await print(event);
            afterSeq = event.seq;
          }
          if (page.length < AUDIT_PAGE_SIZE) return;
        }
      });
    });
    return ExitCode.OK;
  },
};

const CSV_COLUMNS = ['seq', 'ts', 'type', 'agentId', 'actionId', 'approvalId', 'actor', 'data', 'prevHash', 'hash'] as const;

function csvRow(event: AuditEvent): string {
  return csvRecord([
    String(event.seq),
    event.ts,
    event.type,
    event.agentId ?? '',
    event.actionId ?? '',
    event.approvalId ?? '',
    event.actor,
    JSON.stringify(event.data),
    event.prevHash,
    event.hash,
  ]);
}

/** Stream every matching event, page by page, to `write`. Returns how many were written. */
async function exportPages(store: Store, query: AuditQuery, render: (event: AuditEvent) => string, write: (chunk: string) => Promise<void>): Promise<number> {
  let afterSeq = 0;
  let written = 0;
  for (;;) {
    const page = await store.readAudit({ ...query, afterSeq, limit: AUDIT_PAGE_SIZE });
    if (page.length > 0) {
      await write(page.map(render).join(''));
      written += page.length;
      afterSeq = page[page.length - 1]!.seq;
    }
    if (page.length < AUDIT_PAGE_SIZE) return written;
  }
}

const exportCommand: CommandSpec = {
  name: 'export',
  summary: 'export audit events as JSON lines or CSV, streaming',
  details:
    'JSON lines: one event per line, exactly as stored (seq, ts, type, ids, actor, data, prevHash, hash).\n' +
    'CSV (RFC 4180): a header row, then one row per event; the data column holds the event data as JSON.',
  options: {
    format: { type: 'string', valueName: 'FORMAT', description: 'jsonl|csv (default jsonl)' },
    out: { type: 'string', valueName: 'FILE', description: 'write to FILE instead of stdout' },
    agent: { type: 'string', valueName: 'ID', description: 'only events of this agent' },
    since: { type: 'string', valueName: 'ISO', description: 'only events at or after this time' },
    until: { type: 'string', valueName: 'ISO', description: 'only events at or before this time' },
  },
  positionals: [],
  examples: ['ascend audit export --out audit.jsonl', 'ascend audit export --format csv --since 2025-01-01 --out january.csv'],
  async run(ctx) {
    const format = parseEnumOption(ctx.string('format') ?? 'jsonl', 'format', ['jsonl', 'csv'] as const, ctx.commandPath);
    const agentId = ctx.string('agent');
    const sinceText = ctx.string('since');
    const untilText = ctx.string('until');
    const query: AuditQuery = {
      ...(agentId === undefined ? {} : { agentId }),
      ...(sinceText === undefined ? {} : { since: parseTimeOption(sinceText, 'since', ctx.commandPath) }),
      ...(untilText === undefined ? {} : { until: parseTimeOption(untilText, 'until', ctx.commandPath) }),
    };
    const render = format === 'csv' ? csvRow : jsonLine;
    const header = format === 'csv' ? csvRecord(CSV_COLUMNS) : '';
    const outOption = ctx.string('out');

    if (outOption === undefined) {
      await withStore(ctx, async (store) => {
        if (header !== '') await ctx.out(header);
        await exportPages(store, query, render, (chunk) => ctx.out(chunk));
      });
      return ExitCode.OK;
    }
    const outPath = resolve(ctx.io.cwd, outOption);
    const count = await withStore(ctx, async (store) => {
      const file: FileHandle = await open(outPath, 'w');
      try {
        if (header !== '') await file.write(header);
        return await exportPages(store, query, render, async (chunk) => {
          await file.write(chunk);
        });
      } finally {
        await file.close();
      }
    });
    await ctx.out(ctx.json ? jsonDocument({ exported: count, file: outPath, format }) : `exported ${count} events to ${outOption}\n`);
    return ExitCode.OK;
  },
};

/** Read `--against FILE` checkpoints. */
function checkpointsFrom(ctx: CommandContext): { checkpoint: AuditCheckpoint; source: string }[] {
  return ctx.strings('against').map((file) => {
    const path = resolve(ctx.io.cwd, file);
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new UsageError(`--against ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not JSON (${(err as Error).message})`}`, ctx.commandPath);
    }
    return { checkpoint: parseCheckpoint(value, file), source: file };
  });
}

/**
 * The keys whose checkpoints this verification trusts: each `--public-key KEY|FILE`, and the
 * public half of the checkpoint key file (`--key`, `$ASCEND_CHECKPOINT_KEY`, or the data dir's)
 * when there is one. Never the keys registered in the database.
 */
function publicKeysFrom(ctx: CommandContext): string[] {
  const given = ctx.strings('public-key').map((value) => {
    const path = resolve(ctx.io.cwd, value);
    return existsSync(path) ? parsePublicKey(readFileSync(path, 'utf8'), value) : parsePublicKey(value, '--public-key');
  });
  const keyFile = checkpointKeyPath(ctx);
  return existsSync(keyFile) ? [...given, readCheckpointKey(keyFile).publicKey] : given;
}

function describeStart(result: TrailVerification): string {
  if (result.archives.length > 0) return 'the archives and the live chain, from seq 1';
  if (result.startedFrom === undefined) return result.archivedThrough > 0 ? `the live chain, after seq ${result.archivedThrough}` : 'the whole chain';
  const where = result.startedFrom.source === 'the chain' ? 'the checkpoint' : result.startedFrom.source;
  return `from ${where} at seq ${result.startedFrom.seq}, ${formatTime(result.startedFrom.checkpointedAt)}, key ${result.startedFrom.keyId}; --full checks every event`;
}

const verifyCommand: CommandSpec = {
  name: 'verify',
  summary: 'recompute the hash chain and check that no event is missing (exit 1 naming the first bad one)',
  details:
    'By default the walk starts at the newest checkpoint signed by a trusted key (`ascend audit checkpoint`), so it takes as long as the events since; --full walks from the first event. ' +
      'Trusted keys are held outside the database: the checkpoint key file\'s (--key, $ASCEND_CHECKPOINT_KEY or the data dir\'s checkpoint-key.pem) and each --public-key; a key registered in the database is never trusted for being there. Without one, the whole live chain is walked. ' +
    'Each --against FILE (a checkpoint written by `audit checkpoint --out`, or a webhook copy) must match the chain: a chain cut below it is reported as truncated, a different hash at its seq as forked.',
  options: {
    full: { type: 'boolean', description: 'walk the whole chain, not from the newest checkpoint' },
    against: { type: 'string', valueName: 'FILE', multiple: true, description: 'a checkpoint file the chain must match (repeat for several)' },
    'public-key': { type: 'string', valueName: 'KEY', multiple: true, description: 'trust checkpoints signed by this key (base64, or a file with it); the key file\'s own is trusted too' },
    key: KEY_OPTION,
    archive: { type: 'string', valueName: 'FILE', multiple: true, description: 'an archive (`audit archive --out`): verify the archives and the live chain as one chain from seq 1 (repeat for each)' },
    db: DATABASE_OPTION,
  },
  positionals: [],
  examples: ['ascend audit verify', 'ascend audit verify --full', 'ascend audit verify --against /backup/checkpoint-2026-12-01.json --public-key /backup/checkpoint.pub'],
  async run(ctx) {
    const archives = ctx.strings('archive').map((file) => {
      const path = resolve(ctx.io.cwd, file);
      if (!existsSync(path)) throw new UsageError(`--archive ${file}: no such file`, ctx.commandPath);
      return path;
    });
    const options: TrailVerificationOptions = { full: ctx.flag('full'), against: checkpointsFrom(ctx), publicKeys: publicKeysFrom(ctx), archives };
    if (archives.length > 0 && (ctx.string('api-url') ?? ctx.io.env.ASCEND_API_URL)) {
      throw new UsageError('--archive reads local files: run it on the server database (--db) rather than --api-url', ctx.commandPath);
    }
    const result = await withNamedDatabaseOrStore(ctx, (store) => (store instanceof RemoteStore ? store.verifyTrail(options) : verifyAuditTrail(store, options)));
    if (ctx.json) {
      await ctx.out(jsonDocument(result));
      return result.ok ? ExitCode.OK : ExitCode.CHECK_FAILED;
    }
    let text = '';
    for (const skipped of result.skippedCheckpoints) text += `${ctx.style.yellow('note')}: passed over the checkpoint at seq ${skipped.eventSeq}: ${skipped.reason}\n`;
    if (result.ok) {
      for (const archive of result.archives) text += `ok: ${archive.events} archived events (seq ${archive.afterSeq + 1}–${archive.throughSeq}) in ${archive.file}\n`;
      text += `ok: ${result.checked} event${result.checked === 1 ? '' : 's'} (${describeStart(result)}), head ${result.headSeq} ${result.headHash.slice(0, HASH_PREFIX_CHARS)}\n`;
      if (result.archivedThrough > 0 && result.archives.length === 0 && result.startedFrom === undefined) {
        text += `note: events 1–${result.archivedThrough} are archived; verify them with --archive FILE…\n`;
      }
      for (const given of result.against) text += `ok: matches ${given.source} (seq ${given.seq})\n`;
      await ctx.out(text);
      return ExitCode.OK;
    }
    const bad = result.firstBad;
    text += `${ctx.style.red('BROKEN')} at seq ${bad?.seq ?? '?'}: ${bad?.reason ?? 'chain does not verify'}\n`;
    await ctx.out(text);
    return ExitCode.CHECK_FAILED;
  },
};

const archiveCommand: CommandSpec = {
  name: 'archive',
  summary: 'move the events before a date to a compressed archive file, out of the live store',
  details:
    'Writes the events before --before to FILE (gzip JSON lines: a header with the segment\'s bounds and hashes, then the events as `audit export` writes them), verifying them as it goes, syncs the file, and only then removes them in one transaction that appends `audit.archived`. ' +
    'The cut is held back so that nothing still in use loses its events: an action or approval with events after it, a pending approval, a webhook that has not caught up. Approvals, grants and keys stay in their tables (on PostgreSQL, so do the actions an approval refers to). ' +
    'Keep the archives: `audit verify --archive FILE…` checks them and the live chain as one chain.',
  options: {
    before: { type: 'string', valueName: 'ISO', description: 'archive the events older than this time (required), e.g. 2026-09-01 or 2026-09-01T00:00:00Z' },
    out: { type: 'string', valueName: 'FILE', description: 'the archive to write (required; never overwritten), e.g. audit-2026-08.jsonl.gz' },
    by: { type: 'string', valueName: 'NAME', description: 'who archives (default: user@hostname)' },
    db: DATABASE_OPTION,
  },
  positionals: [],
  examples: ['ascend audit archive --before 2026-09-01 --out /archive/ascend-audit-to-2026-09-01.jsonl.gz'],
  async run(ctx) {
    const beforeText = ctx.string('before');
    const outOption = ctx.string('out');
    if (beforeText === undefined || outOption === undefined) throw new UsageError('--before ISO and --out FILE are both required', ctx.commandPath);
    const before = parseTimeOption(beforeText, 'before', ctx.commandPath);
    const file = resolve(ctx.io.cwd, outOption);
    const summary = await withNamedDatabaseOrStore(ctx, (store) =>
      archiveAudit(store, { before, file, actor: resolveActor(ctx.string('by'), ctx.io), at: new Date(ctx.now()).toISOString() }),
    );
    if (summary === undefined) {
      await ctx.out(ctx.json ? jsonDocument({ archived: 0 }) : `nothing to archive before ${before} (no event that nothing still uses is that old)\n`);
      return ExitCode.OK;
    }
    await ctx.out(
      ctx.json
        ? jsonDocument({ archived: summary.events, afterSeq: summary.afterSeq, throughSeq: summary.throughSeq, throughHash: summary.throughHash, file: summary.file })
        : `archived ${summary.events} events (seq ${summary.afterSeq + 1}–${summary.throughSeq}) to ${outOption}; the live chain now starts after seq ${summary.throughSeq}\n`,
    );
    return ExitCode.OK;
  },
};

const checkpointCommand: CommandSpec = {
  name: 'checkpoint',
  summary: 'verify the chain, then sign its head and record the checkpoint (in the chain, and in --out)',
  details:
    'The checkpoint is appended to the chain as an `audit.checkpoint` event (webhooks subscribed to audit.checkpoint receive it) and, with --out, written to FILE. ' +
    'Keep copies away from the database: `ascend audit verify --against FILE` then proves the chain was neither cut nor rewritten below it. A chain that does not verify is not signed (exit 1).',
  options: {
    out: { type: 'string', valueName: 'FILE', description: 'also write the checkpoint (JSON) to FILE' },
    key: KEY_OPTION,
    by: { type: 'string', valueName: 'NAME', description: 'who takes it (default: user@hostname)' },
    db: DATABASE_OPTION,
  },
  positionals: [],
  examples: ['ascend audit checkpoint --out /backup/checkpoint-$(date +%F).json'],
  async run(ctx) {
    const key = readCheckpointKey(checkpointKeyPath(ctx));
    const outOption = ctx.string('out');
    let checkpoint: AuditCheckpoint;
    try {
      checkpoint = await withNamedDatabaseOrStore(ctx, (store) => takeCheckpoint(store, key, resolveActor(ctx.string('by'), ctx.io), new Date(ctx.now()).toISOString()));
    } catch (err) {
      if (!(err instanceof AuditChainError)) throw err;
      await ctx.out(ctx.json ? jsonDocument({ ok: false, firstBad: err.firstBad }) : `${ctx.style.red('BROKEN')} at seq ${err.firstBad.seq}: ${err.firstBad.reason}\nno checkpoint was signed\n`);
      return ExitCode.CHECK_FAILED;
    }
    if (outOption !== undefined) await writeFile(resolve(ctx.io.cwd, outOption), JSON.stringify(checkpoint, null, 2) + '\n');
    await ctx.out(
      ctx.json
        ? jsonDocument(checkpoint)
        : `checkpoint of seq ${checkpoint.seq} ${checkpoint.hash.slice(0, HASH_PREFIX_CHARS)} signed with ${checkpoint.keyId}` + (outOption === undefined ? '\n' : `, written to ${outOption}\n`),
    );
    return ExitCode.OK;
  },
};

/** `ascend audit …`. */
export const auditGroup: CommandGroup = {
  name: 'audit',
  summary: 'read, export, verify, checkpoint and archive the tamper-evident audit trail',
  commands: [tailCommand, exportCommand, verifyCommand, checkpointCommand, archiveCommand],
};
