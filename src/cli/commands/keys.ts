/**
 * `ascend keys create|list|revoke`: API keys of `ascend serve`, stored hashed in the server's
 * database. A new key (and its signing secret) is printed once and never again.
 */
import { generateApiKey, type NewApiKey } from '../../server/api-keys.js';
import { ValidationError } from '../../core/errors.js';
import { DEFAULT_ORG } from '../../server/tenant-store.js';
import type { ApiKeyRecord, ApiKeyRole } from '../../core/types.js';
import { resolveActor } from '../actor.js';
import type { CommandGroup, CommandSpec } from '../command.js';
import { DATABASE_OPTION, withNamedDatabaseOrStore, withServerDatabase } from '../store-access.js';
import { checkpointKeyPath, KEY_OPTION, writeCheckpointKey } from '../checkpoint-key-file.js';
import { createCheckpointKey } from '../../store/audit-checkpoints.js';
import { rmSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { formatTime, jsonDocument, renderTable, styleStatus } from '../format.js';

const ROLES: readonly ApiKeyRole[] = ['agent', 'approver', 'admin'];
const ORG_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

function publicView(key: ApiKeyRecord): Omit<ApiKeyRecord, 'secretHash' | 'signingSecret'> & { signs: boolean } {
  const { secretHash: _hash, signingSecret, ...rest } = key;
  return { ...rest, signs: signingSecret !== undefined };
}

const createCommand: CommandSpec = {
  name: 'create',
  summary: 'make an API key (printed once: store it now)',
  details:
    'Roles: agent (evaluate and record its own calls; can never approve), approver (list and decide approvals, grants), admin (everything, incl. the kill switch and audit verify). Keys of one --org never see another\'s agents, actions or approvals.',
  options: {
    role: { type: 'string', valueName: 'ROLE', description: 'agent | approver | admin (required)' },
    org: { type: 'string', valueName: 'ORG', description: `organisation (default "${DEFAULT_ORG}")` },
    name: { type: 'string', valueName: 'NAME', description: 'a label; approvals decided with the key are recorded under it (default: the role)' },
    signing: { type: 'boolean', description: 'also make a request-signing secret (HMAC)' },
    'require-signing': { type: 'boolean', description: 'refuse this key\'s unsigned requests (implies --signing)' },
    agent: {
      type: 'string',
      valueName: 'ID',
      multiple: true,
      description: 'an agent key acts only as these agent ids (repeat it, or a comma list; globs such as billing-*; default: any agent of its org)',
    },
    by: { type: 'string', valueName: 'NAME', description: 'who makes it (default: user@hostname)' },
    db: DATABASE_OPTION,
  },
  positionals: [],
  examples: [
    'ascend keys create --role agent --org acme --name billing-bot --signing',
    'ascend keys create --role agent --name billing-bot --agent billing-bot --agent "billing-worker-*"',
    'ascend keys create --role approver --name alice',
  ],
  async run(ctx) {
    const role = ctx.string('role');
    if (role === undefined || !ROLES.includes(role as ApiKeyRole)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`, ctx.commandPath);
    const org = ctx.string('org') ?? DEFAULT_ORG;
    if (!ORG_PATTERN.test(org)) throw new UsageError('--org must be 1–64 characters of a–z, 0–9, ".", "_" or "-", starting with a letter or digit', ctx.commandPath);
    const agents = ctx.strings('agent');
    let made: NewApiKey;
    try {
      made = generateApiKey({
        name: ctx.string('name') ?? role,
        role: role as ApiKeyRole,
        org,
        createdBy: resolveActor(ctx.string('by'), ctx.io),
        signing: ctx.flag('signing'),
        requireSigning: ctx.flag('require-signing'),
        ...(agents.length > 0 ? { agentIds: agents } : {}),
        now: new Date(ctx.now()).toISOString(),
      });
    } catch (err) {
      if (err instanceof ValidationError) throw new UsageError(err.message, ctx.commandPath);
      throw err;
    }
    await withServerDatabase(ctx, (store) => store.createApiKey(made.record));
    if (ctx.json) {
      await ctx.out(jsonDocument({ ...publicView(made.record), apiKey: made.apiKey, ...(made.signingSecret ? { signingSecret: made.signingSecret } : {}) }));
    } else {
      const bound = made.record.agentIds ? `, acting only as agent ${made.record.agentIds.join(', ')}` : '';
      let text = `created ${role} key ${made.record.keyId} for org ${org} (${made.record.name})${bound}\n\n  ASCEND_API_KEY=${made.apiKey}\n`;
      if (made.signingSecret) text += `  ASCEND_SIGNING_SECRET=${made.signingSecret}\n`;
      text += '\nShown once: store it now. Ascend keeps only a hash of the key.\n';
      await ctx.out(text);
    }
    return ExitCode.OK;
  },
};

const listCommand: CommandSpec = {
  name: 'list',
  summary: 'list API keys (ids, roles, organisations; never secrets)',
  options: { db: DATABASE_OPTION },
  positionals: [],
  async run(ctx) {
    const keys = (await withServerDatabase(ctx, (store) => store.listApiKeys())).map(publicView);
    if (ctx.json) {
      await ctx.out(jsonDocument(keys));
    } else if (keys.length === 0) {
      await ctx.out('no API keys (make one: ascend keys create --role agent)\n');
    } else {
      await ctx.out(
        renderTable(
          keys,
          [
            { header: 'ID', cell: (k) => k.keyId },
            { header: 'NAME', cell: (k) => k.name, maxChars: 24 },
            { header: 'ROLE', cell: (k) => k.role },
            { header: 'ORG', cell: (k) => k.org, maxChars: 24 },
            { header: 'AGENTS', cell: (k) => (k.agentIds ? k.agentIds.join(',') : k.role === 'agent' ? 'any' : '—'), maxChars: 32 },
            { header: 'SIGNING', cell: (k) => (k.requireSigning ? 'required' : k.signs ? 'yes' : 'no') },
            { header: 'STATUS', cell: (k) => styleStatus(ctx.style, k.revokedAt ? 'revoked' : 'active') },
            { header: 'CREATED', cell: (k) => formatTime(k.createdAt) },
            { header: 'BY', cell: (k) => k.createdBy, maxChars: 24 },
          ],
          ctx.style,
        ),
      );
    }
    return ExitCode.OK;
  },
};

const revokeCommand: CommandSpec = {
  name: 'revoke',
  summary: 'revoke an API key (refused within about a second on every server)',
  options: { by: { type: 'string', valueName: 'NAME', description: 'who revokes (default: user@hostname)' }, db: DATABASE_OPTION },
  positionals: [{ name: 'ID', description: 'key id (the part after ak_, or the whole key)' }],
  async run(ctx) {
    const given = ctx.arg('ID');
    const keyId = /^ak_([0-9a-f]{16})_/.exec(given)?.[1] ?? given;
    const key = await withServerDatabase(ctx, (store) => store.revokeApiKey(keyId, resolveActor(ctx.string('by'), ctx.io), new Date(ctx.now()).toISOString()));
    await ctx.out(ctx.json ? jsonDocument(publicView(key)) : `revoked ${key.keyId} (${key.role}, org ${key.org}, ${key.name})\n`);
    return ExitCode.OK;
  },
};

const checkpointKeyCommand: CommandSpec = {
  name: 'checkpoint-key',
  summary: 'create or list the Ed25519 keys that sign audit checkpoints',
  details:
    'create: writes a new private key to --key (default: $ASCEND_CHECKPOINT_KEY, else checkpoint-key.pem in the data dir; never overwritten, readable by its owner only) and announces its public half in the database (an `audit.checkpoint_key` event: an announcement, never a reason to trust it). `ascend audit verify` trusts the key file\'s own public key and each --public-key: keep a copy of the printed public key away from the database.\n' +
    'list: the registered public keys.',
  options: { key: KEY_OPTION, by: { type: 'string', valueName: 'NAME', description: 'who registers it (default: user@hostname)' }, db: DATABASE_OPTION },
  positionals: [{ name: 'ACTION', description: 'create | list' }],
  examples: ['ascend keys checkpoint-key create', 'ascend keys checkpoint-key create --key /etc/ascend/checkpoint-key.pem --db postgres://ascend@db/ascend'],
  async run(ctx) {
    const action = ctx.arg('ACTION');
    if (action !== 'create' && action !== 'list') throw new UsageError(`ACTION must be create or list, got "${action}"`, ctx.commandPath);
    if (action === 'list') {
      const events = await withNamedDatabaseOrStore(ctx, (store) => store.readAudit({ types: ['audit.checkpoint_key'] }));
      const keys = events.map((e) => ({ keyId: String(e.data.keyId), publicKey: String(e.data.publicKey), registeredAt: e.ts, registeredBy: e.actor }));
      if (ctx.json) await ctx.out(jsonDocument(keys));
      else if (keys.length === 0) await ctx.out('no checkpoint keys (make one: ascend keys checkpoint-key create)\n');
      else {
        await ctx.out(
          renderTable(
            keys,
            [
              { header: 'KEY ID', cell: (k) => k.keyId },
              { header: 'PUBLIC KEY', cell: (k) => k.publicKey },
              { header: 'REGISTERED', cell: (k) => formatTime(k.registeredAt) },
              { header: 'BY', cell: (k) => k.registeredBy, maxChars: 24 },
            ],
            ctx.style,
          ),
        );
      }
      return ExitCode.OK;
    }
    const path = checkpointKeyPath(ctx);
    const made = createCheckpointKey();
    writeCheckpointKey(path, made.privateKeyPem);
    try {
      await withNamedDatabaseOrStore(ctx, (store) => store.registerCheckpointKey(made, resolveActor(ctx.string('by'), ctx.io), new Date(ctx.now()).toISOString()));
    } catch (err) {
      rmSync(path, { force: true }); // an unregistered key would only be refused later
      throw err;
    }
    if (ctx.json) await ctx.out(jsonDocument({ keyId: made.keyId, publicKey: made.publicKey, file: path }));
    else {
      await ctx.out(
        `created checkpoint key ${made.keyId}\n  private key: ${path} (keep it off the database's machine if you can)\n  public key:  ${made.publicKey}\n\n` +
          'Keep the public key somewhere the database is not: `ascend audit verify --public-key KEY` trusts it whatever the database says.\n',
      );
    }
    return ExitCode.OK;
  },
};

/** `ascend keys …`. */
export const keysGroup: CommandGroup = {
  name: 'keys',
  summary: 'API keys of ascend serve (create, list, revoke) and audit checkpoint keys',
  commands: [createCommand, listCommand, revokeCommand, checkpointKeyCommand],
};
