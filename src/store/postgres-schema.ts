/**
 * Naming for one PostgreSQL store: which schema holds its tables, the advisory-lock key that
 * serialises its writers, the LISTEN/NOTIFY channel, how its values are parsed, and option checks.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { invalid } from './records.js';

/** Schema used when none is given. */
export const DEFAULT_PG_SCHEMA = 'ascend';

/**
 * Lower-case letters, digits and `_`, not starting with a digit: needs no quoting rules beyond
 * double quotes, and leaves room for the channel prefix within PostgreSQL's 63-byte names.
 */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,55}$/;

/** Everything derived from the schema name. */
export interface PgSchema {
  /** The schema name as given. */
  name: string;
  /** The name quoted for SQL, e.g. `"ascend"`. */
  quoted: string;
  /**
   * Key of the transaction-level advisory lock every write transaction takes first (a signed
   * 64-bit integer as SQL text): one lock per schema, so all replicas append to one chain.
   */
  lockKey: string;
  /** The NOTIFY channel writers signal on, quoted for LISTEN. */
  channel: string;
  /** The channel as a string literal, for `pg_notify`. */
  channelLiteral: string;
}

/** Validate `name` and derive the lock key and channel. Throws ValidationError. */
export function pgSchema(name: string): PgSchema {
  if (typeof name !== 'string' || !SCHEMA_NAME.test(name)) {
    throw invalid('schema', `must be lower-case letters, digits and _ (at most 56, not starting with a digit), got ${JSON.stringify(name)}`);
  }
  const digest = createHash('sha256').update(`ascend-sdk/audit-chain/${name}`).digest('hex');
  const lockKey = BigInt.asIntN(64, BigInt(`0x${digest.slice(0, 16)}`)).toString();
  const channel = `ascend_${name}`;
  return { name, quoted: `"${name}"`, lockKey, channel: `"${channel}"`, channelLiteral: `'${channel}'` };
}

const INT8_OID = 20;

function parseInt8(value: string): number {
  // seq, version and identity values: far below 2^53.
  return Number(value);
}

/** Type parsers of the store's connections: BIGINT as number (pg's default is string). Not global. */
export const PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * A label for messages: host, port, database and schema (never the user or password of the URL).
 */
export function describeTarget(url: string, schema: string): string {
  try {
    const parsed = new URL(url);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || '(default database)';
    return `PostgreSQL store ${parsed.host || 'localhost'}/${database} (schema ${schema})`;
  } catch {
    return `PostgreSQL store (schema ${schema})`;
  }
}



