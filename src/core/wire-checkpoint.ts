/**
 * The audit checkpoint's wire schema, apart from the rest of `wire.ts`: the audit tools read
 * checkpoints on every path, and the other wire schemas only load with a remote client or the
 * server. Built on first use: a governed call never reads a checkpoint, and its date-time check
 * alone is a millisecond of a start (docs/architecture.md, "Performance budgets": the cold
 * start). `wire.ts` exports it with the others.
 */
import * as z from './zod.js';
import { lazily } from './lazily.js';
import type { AuditCheckpoint } from './types.js';

/** A sha256 digest as 64 lowercase hex characters; `message` when it is not. */
export const hexDigest = (message: string) => z.string().check(z.regex(/^[0-9a-f]{64}$/, message));

/** An Ed25519 public key: 32 bytes in base64. */
export const publicKeyBase64 = z.string().check(z.regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes in base64'));

/** The schema of an {@link AuditCheckpoint}, as files, events and the API carry it (built on first use). */
export const auditCheckpointSchema = lazily(() =>
  z.object({
    v: z.literal(1),
    seq: z.int().check(z.gte(1)),
    hash: hexDigest('must be 64 lowercase hex digits'),
    counts: z.record(z.string(), z.int().check(z.gte(0))),
    checkpointedAt: z.iso.datetime({ offset: true }),
    keyId: z.string().check(z.regex(/^ck_[0-9a-f]{16}$/, 'must be ck_ and 16 hex digits')),
    publicKey: publicKeyBase64,
    signature: z.string().check(z.regex(/^[A-Za-z0-9+/]{86}==$/, 'must be 64 bytes in base64')),
  }),
);
