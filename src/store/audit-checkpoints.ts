/**
 * Signed checkpoints of the audit chain, and verification that starts from one.
 *
 * A checkpoint says "the chain through event `seq` verified, and that event's hash is `hash`",
 * signed with an Ed25519 key whose private half never enters the database. It is appended to
 * the chain as an `audit.checkpoint` event (so webhooks carry it out) and may be written to a
 * file. Two things follow:
 * - verification need not walk the whole chain every time: it starts from the newest checkpoint
 *   signed by a trusted key (`ascend audit verify`; `--full` walks everything), so its cost
 *   follows the events since, not the history's size;
 * - a copy kept elsewhere catches what the database alone cannot: a chain cut below the
 *   checkpoint (truncated), or rewritten and re-hashed (forked), no longer matches it.
 *
 * Trusted keys are only those the verifier holds outside the database: the public keys it is
 * given (the CLI adds the one of its own key file; the server, its `--checkpoint-key`'s). Keys
 * registered in the chain (`audit.checkpoint_key`, written by `ascend keys checkpoint-key create`)
 * announce a key, and are never trusted for being there: whoever can write the database can append
 * a registration of a key of their own.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson } from '../core/canonical.js';
import { AuditChainError, ValidationError, validationIssues } from '../core/errors.js';
import type { AuditCheckpoint, AuditEvent, AuditVerification, ChainStart } from '../core/types.js';
import { auditCheckpointSchema } from '../core/wire-checkpoint.js';
import { CHAIN_BEGINNING } from './chain-walk.js';
import { type ArchiveReport, verifyArchives } from './audit-archives.js';
import type { AuditBase, Store } from './store.js';

/** What the signature covers is prefixed with this, so it can never be read as anything else. */
const SIGNED_PREFIX = 'ascend-audit-checkpoint/v1\n';
/** Stored checkpoints read when looking for the newest one a verification can start from. */
const CHECKPOINTS_CONSIDERED = 50;

/** A checkpoint signing key, loaded. */
export interface CheckpointKey {
  keyId: string;
  /** 32 bytes, base64. */
  publicKey: string;
  privateKey: KeyObject;
}

/** A new key: its private half as PKCS#8 PEM (for a file), and its public half. */
export interface NewCheckpointKey {
  keyId: string;
  publicKey: string;
  privateKeyPem: string;
}

/** The id of a public key (32 bytes, base64): `ck_` and 16 hex digits of its sha256. */
export function checkpointKeyId(publicKey: string): string {
  return 'ck_' + createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 16);
}

function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(String(jwk.x), 'base64url').toString('base64');
}

/** Make a new Ed25519 checkpoint key. */
export function createCheckpointKey(): NewCheckpointKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  return { keyId: checkpointKeyId(raw), publicKey: raw, privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/**
 * Load a private key from its PEM text. `source` names where it came from, for the error.
 * @throws ValidationError when the text is not an Ed25519 private key.
 */
export function loadCheckpointKey(pem: string, source: string): CheckpointKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new ValidationError(`${source} is not a PEM private key`, [{ path: source, message: 'make one with `ascend keys checkpoint-key create`' }]);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new ValidationError(`${source} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key, not Ed25519`, [
      { path: source, message: 'make one with `ascend keys checkpoint-key create`' },
    ]);
  }
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  return { keyId: checkpointKeyId(publicKey), publicKey, privateKey };
}

/**
 * A public key from text: 32 bytes in base64 (as `keys checkpoint-key create` prints it), or a
 * PEM public or private key. Returns its base64 form. `source` names it for the error.
 */
export function parsePublicKey(text: string, source: string): string {
  const trimmed = text.trim();
  if (/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) return trimmed;
  try {
    const key = createPublicKey(trimmed);
    if (key.asymmetricKeyType === 'ed25519') return rawPublicKey(key);
  } catch {
    // reported below
  }
  throw new ValidationError(`${source} is not an Ed25519 public key`, [{ path: source, message: 'give the base64 public key that `ascend keys checkpoint-key create` printed, or a PEM key' }]);
}

function signedBytes(checkpoint: Omit<AuditCheckpoint, 'publicKey' | 'signature'>): Buffer {
  const { v, seq, hash, counts, checkpointedAt, keyId } = checkpoint;
  return Buffer.from(SIGNED_PREFIX + canonicalJson({ v, seq, hash, counts, checkpointedAt, keyId }));
}

/** Sign the chain head `verified` (a verification that passed) as of `at` (ISO). */
export function signCheckpoint(verified: Pick<AuditVerification, 'headSeq' | 'headHash' | 'counts'>, key: CheckpointKey, at: string): AuditCheckpoint {
  const body = { v: 1 as const, seq: verified.headSeq, hash: verified.headHash, counts: verified.counts, checkpointedAt: at, keyId: key.keyId };
  return { ...body, publicKey: key.publicKey, signature: sign(null, signedBytes(body), key.privateKey).toString('base64') };
}

/**
 * Why `checkpoint` cannot be trusted, or undefined when its signature verifies with one of
 * `trusted` (public keys, base64).
 */
export function checkpointDistrust(checkpoint: AuditCheckpoint, trusted: ReadonlySet<string>): string | undefined {
  if (checkpointKeyId(checkpoint.publicKey) !== checkpoint.keyId) return `its key id ${checkpoint.keyId} is not its public key's`;
  if (!trusted.has(checkpoint.publicKey)) return `it is signed by key ${checkpoint.keyId}, which is not a trusted checkpoint key (pass its public key, or its key file)`;
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(checkpoint.publicKey, 'base64').toString('base64url') }, format: 'jwk' });
  if (!verify(null, signedBytes(checkpoint), publicKey, Buffer.from(checkpoint.signature, 'base64'))) return 'its signature does not verify';
  return undefined;
}

/**
 * Parse a checkpoint (a file's JSON, an event's data). `source` names it for the error.
 * @throws ValidationError naming the member at fault.
 */
export function parseCheckpoint(value: unknown, source: string): AuditCheckpoint {
  const parsed = auditCheckpointSchema().safeParse(value);
  if (!parsed.success) {
    const { issues, summary } = validationIssues(parsed.error.issues, { root: '(root)' });
    throw new ValidationError(`${source} is not an Ascend audit checkpoint: ${summary}`, issues);
  }
  return parsed.data as AuditCheckpoint;
}

/** A stored checkpoint a verification skipped, and why. */
export interface SkippedCheckpoint {
  /** The `audit.checkpoint` event's seq. */
  eventSeq: number;
  reason: string;
}

/**
 * The newest checkpoint in the chain signed by a trusted key (at most
 * {@link CHECKPOINTS_CONSIDERED} are looked at), and the newer ones passed over.
 */
export async function latestTrustedCheckpoint(store: Store, trusted: ReadonlySet<string>): Promise<{ checkpoint?: AuditCheckpoint; skipped: SkippedCheckpoint[] }> {
  const skipped: SkippedCheckpoint[] = [];
  const events: AuditEvent[] = await store.readAudit({ types: ['audit.checkpoint'], newestFirst: true, limit: CHECKPOINTS_CONSIDERED });
  for (const event of events) {
    let reason: string | undefined;
    try {
      const checkpoint = parseCheckpoint(event.data, `the checkpoint at seq ${event.seq}`);
      reason = checkpoint.seq >= event.seq ? `it names seq ${checkpoint.seq}, not before its own` : checkpointDistrust(checkpoint, trusted);
      if (reason === undefined) return { checkpoint, skipped };
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
    skipped.push({ eventSeq: event.seq, reason });
  }
  return { skipped };
}

/** A checkpoint as a place to start verifying from. */
export function startOf(checkpoint: AuditCheckpoint): ChainStart {
  return { seq: checkpoint.seq, hash: checkpoint.hash, counts: checkpoint.counts };
}

/** Options of {@link verifyAuditTrail}. */
export interface TrailVerificationOptions {
  /** Walk the whole live chain, not from the newest trusted checkpoint. */
  full?: boolean;
  /** Checkpoints kept outside the database (files, webhook copies): the chain must match each. */
  against?: { checkpoint: AuditCheckpoint; source: string }[];
  /**
   * The public keys (base64) whose checkpoints are trusted: only these, never keys registered in
   * the chain. Without any, verification walks the whole live chain.
   */
  publicKeys?: string[];
  /**
   * Archive files (`ascend audit archive`): verified as one chain from seq 1 that must end where
   * the live chain starts, which is then walked whole.
   */
  archives?: string[];
}

/** What {@link verifyAuditTrail} found. */
export interface TrailVerification extends AuditVerification {
  /** The stored checkpoint the walk started from, when it started from one. */
  startedFrom?: { seq: number; checkpointedAt: string; keyId: string; source: string };
  /** Stored checkpoints newer than the start that were not trusted, and why. */
  skippedCheckpoints: SkippedCheckpoint[];
  /** The checkpoints given, each matched against the chain. */
  against: { source: string; seq: number; ok: boolean }[];
  /** The events through this seq were archived (0: none). */
  archivedThrough: number;
  /** The archives given, in chain order. */
  archives: ArchiveReport[];
}

/**
 * Verify the audit trail: from the newest trusted checkpoint (or the live chain's start with
 * `full`, or seq 1 through the archives given), and against every checkpoint given. A checkpoint
 * given that is older than the start moves the start back to it; one in the walked range must
 * name an event with exactly its hash; one in the archived part is matched in the archives.
 */
export async function verifyAuditTrail(store: Store, options: TrailVerificationOptions = {}): Promise<TrailVerification> {
  const trusted = new Set(options.publicKeys ?? []);
  const against = options.against ?? [];
  for (const given of against) {
    const distrust = checkpointDistrust(given.checkpoint, trusted);
    if (distrust !== undefined) throw new ValidationError(`${given.source} cannot be trusted: ${distrust}`, [{ path: given.source, message: distrust }]);
  }
  const base = await store.auditBase();
  const archiveFiles = options.archives ?? [];
  const archived = archiveFiles.length > 0 ? await verifyArchives(archiveFiles, new Set(against.map((g) => g.checkpoint.seq))) : undefined;
  const walkAll = options.full === true || archived !== undefined;
  const latest = walkAll ? { skipped: [] } : await latestTrustedCheckpoint(store, trusted);
  let start: ChainStart = CHAIN_BEGINNING;
  let startedFrom: TrailVerification['startedFrom'];
  if (latest.checkpoint !== undefined) {
    start = startOf(latest.checkpoint);
    startedFrom = { seq: latest.checkpoint.seq, checkpointedAt: latest.checkpoint.checkpointedAt, keyId: latest.checkpoint.keyId, source: 'the chain' };
  }
  // The oldest live checkpoint given is checked by starting there (its event must carry its hash).
  // A checkpoint at the base itself is a start too: it ties the base's hash to the walk.
  const live = against.filter((g) => g.checkpoint.seq >= base.seq);
  const oldest = live.reduce<(typeof against)[number] | undefined>((min, g) => (min === undefined || g.checkpoint.seq < min.checkpoint.seq ? g : min), undefined);
  if (!walkAll && oldest !== undefined && oldest.checkpoint.seq <= start.seq) {
    start = startOf(oldest.checkpoint);
    startedFrom = { seq: oldest.checkpoint.seq, checkpointedAt: oldest.checkpoint.checkpointedAt, keyId: oldest.checkpoint.keyId, source: oldest.source };
  }
  if (start.seq <= base.seq) startedFrom = undefined; // the walk starts where the live chain does
  const result = await store.verifyAudit(start);
  let firstBad =
    archived?.firstBad ?? (archived !== undefined ? archivesMeetLiveChain(archived.end, base) : undefined) ?? result.firstBad ?? (await baseUnrecorded(store, base));
  const matched: TrailVerification['against'] = [];
  for (const given of against) {
    const fault = firstBad === undefined ? await mismatchWith(store, given, result.headSeq, base, archived?.found) : undefined;
    matched.push({ source: given.source, seq: given.checkpoint.seq, ok: firstBad === undefined && fault === undefined });
    firstBad ??= fault;
  }
  const archivedEvents = archived?.archives.reduce((sum, a) => sum + a.events, 0) ?? 0;
  const trail: TrailVerification = {
    ...result,
    checked: result.checked + archivedEvents,
    fromSeq: archived !== undefined ? 0 : result.fromSeq,
    ok: firstBad === undefined,
    skippedCheckpoints: latest.skipped,
    against: matched,
    archivedThrough: base.seq,
    archives: archived?.archives ?? [],
  };
  if (firstBad !== undefined) trail.firstBad = firstBad;
  else delete trail.firstBad;
  if (startedFrom !== undefined) trail.startedFrom = startedFrom;
  return trail;
}

/**
 * Why the live chain's start is not vouched for, if it is not: every archive appends
 * `audit.archived` naming where it ended, in the transaction that moves the base, so a base
 * that the newest such event does not name was moved by hand (events deleted without an archive).
 */
async function baseUnrecorded(store: Store, base: AuditBase): Promise<{ seq: number; reason: string } | undefined> {
  if (base.seq === 0) return undefined;
  const [record] = await store.readAudit({ types: ['audit.archived'], newestFirst: true, limit: 1 });
  if (record !== undefined && record.data.throughSeq === base.seq && record.data.throughHash === base.hash) return undefined;
  return {
    seq: base.seq + 1,
    reason:
      `the live chain starts after seq ${base.seq}, but ` +
      (record === undefined ? 'no audit.archived event records an archive' : `the newest audit.archived event (seq ${record.seq}) records an archive ending at seq ${String(record.data.throughSeq)}`) +
      ': events were removed without an archive',
  };
}

/** Why archives ending at `end` do not lead into a live chain starting after `base`, if they do not. */
function archivesMeetLiveChain(end: ChainStart, base: AuditBase): { seq: number; reason: string } | undefined {
  if (end.seq < base.seq) return { seq: end.seq + 1, reason: `missing archive: the archives end at seq ${end.seq}, the live chain starts after seq ${base.seq} (events ${end.seq + 1}–${base.seq} are in none of them)` };
  if (end.seq > base.seq) return { seq: base.seq + 1, reason: `the archives go on to seq ${end.seq}, past where the live chain starts (after seq ${base.seq}): they are not this store's` };
  if (end.hash !== base.hash) return { seq: end.seq, reason: `forked: the archives end with hash ${end.hash} at seq ${end.seq}, but the live chain continues from ${base.hash}` };
  if (canonicalJson(end.counts) !== canonicalJson(base.counts)) {
    return { seq: end.seq, reason: `the archives hold ${JSON.stringify(end.counts)} events, the live store counts ${JSON.stringify(base.counts)} before it` };
  }
  return undefined;
}

/** Why the chain (verified through `headSeq`) does not match a checkpoint given, if it does not. */
async function mismatchWith(
  store: Store,
  given: { checkpoint: AuditCheckpoint; source: string },
  headSeq: number,
  base: AuditBase,
  inArchives: ReadonlyMap<number, string> | undefined,
): Promise<{ seq: number; reason: string } | undefined> {
  const { checkpoint, source } = given;
  if (checkpoint.seq > headSeq) {
    return { seq: headSeq + 1, reason: `truncated: the chain ends at seq ${headSeq} but ${source} names seq ${checkpoint.seq}` };
  }
  let hash: string | undefined;
  if (checkpoint.seq <= base.seq) {
    hash = checkpoint.seq === base.seq ? base.hash : inArchives?.get(checkpoint.seq);
    if (hash === undefined) return { seq: checkpoint.seq, reason: `event ${checkpoint.seq}, named by ${source}, is archived (the live chain starts after seq ${base.seq}): give its archives with --archive` };
  } else {
    const [event] = await store.readAudit({ afterSeq: checkpoint.seq - 1, limit: 1 });
    if (event === undefined || event.seq !== checkpoint.seq) return { seq: checkpoint.seq, reason: `event ${checkpoint.seq}, named by ${source}, is missing` };
    hash = event.hash;
  }
  if (hash !== checkpoint.hash) {
    return { seq: checkpoint.seq, reason: `forked: event ${checkpoint.seq} has hash ${hash} but ${source} names ${checkpoint.hash} (the chain was rewritten or reordered at or before it)` };
  }
  return undefined;
}

/**
 * Verify the chain from the newest checkpoint signed by `key` itself, then sign its head and
 * append the checkpoint (`audit.checkpoint`).
 * @throws AuditChainError when the chain does not verify: nothing is signed.
 */
export async function takeCheckpoint(store: Store, key: CheckpointKey, actor: string, at: string): Promise<AuditCheckpoint> {
  const trail = await verifyAuditTrail(store, { publicKeys: [key.publicKey] });
  if (!trail.ok) {
    const bad = trail.firstBad ?? { seq: trail.headSeq, reason: 'the chain does not verify' };
    throw new AuditChainError(`the audit chain does not verify (seq ${bad.seq}: ${bad.reason}); no checkpoint was signed`, bad);
  }
  if (trail.headSeq === 0) throw new ValidationError('the audit trail is empty: there is nothing to checkpoint yet', [{ path: 'seq', message: 'checkpoint once events exist' }]);
  const checkpoint = signCheckpoint(trail, key, at);
  await store.recordCheckpoint(checkpoint, actor, at);
  return checkpoint;
}
