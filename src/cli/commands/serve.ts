/**
 * `ascend serve`: the HTTP API v1 over the engine and a shared store. Runs until SIGTERM /
 * SIGINT, then drains in-flight requests, flushes and closes.
 */
import { join, resolve } from 'node:path';
import { durationMs } from '../../engine/policy.js';
import type { CheckpointKey } from '../../store/audit-checkpoints.js';
import { CHECKPOINT_KEY_FILE, readCheckpointKey } from '../checkpoint-key-file.js';
import { createLogger } from '../../client/logging.js';
import { parseDatabaseTarget } from '../../server/database.js';
import { startServer } from '../../server/serve.js';
import { defaultDbPath } from '../../store/sqlite.js';
import type { CommandSpec } from '../command.js';
import type { SlackAppOptions } from '../../server/slack/interactions.js';
import { SLACK_GROUP_ID, SLACK_USER_ID } from '../../server/slack/approvers.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { untilStopped } from '../until-stopped.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'run the Ascend server (HTTP API v1) for a team: shared policy, approvals and audit',
  details:
    'Every flag has an environment variable: ASCEND_DB, ASCEND_POLICY, ASCEND_HOST, ASCEND_PORT (or PORT), ASCEND_REQUIRE_SIGNING=1, ASCEND_LOG_LEVEL, ASCEND_PUBLIC_METRICS=1, ASCEND_ALLOW_PRIVATE_WEBHOOKS=1, ASCEND_PUBLIC_URL, ASCEND_CHECKPOINT_EVERY, ASCEND_CHECKPOINT_KEY. The dashboard is at / (sign in with an approver or admin key); replicas share sign-ins when they share ASCEND_SESSION_SECRET (environment only, never a flag). Make keys with `ascend keys create` against the same --db.',
  options: {
    db: { type: 'string', valueName: 'DB', description: "sqlite:PATH or postgres://… (default: the data dir's ascend.db)" },
    policy: { type: 'string', valueName: 'FILE', description: 'policy file (default ./ascend.policy.yaml)' },
    host: { type: 'string', valueName: 'HOST', description: 'interface to listen on (default 127.0.0.1)' },
    port: { type: 'string', valueName: 'PORT', description: 'port (default 8080; 0 picks a free one)' },
    'require-signing': { type: 'boolean', description: 'refuse every unsigned request' },
    durability: { type: 'string', valueName: 'MODE', description: 'group (default: decisions share commits; each answered once committed) or sync (a commit per write)' },
    'body-limit': { type: 'string', valueName: 'BYTES', description: 'largest request body (default 1048576)' },
    'log-level': { type: 'string', valueName: 'LEVEL', description: 'fatal … trace, silent (default info)' },
    'webhook-attempts': { type: 'string', valueName: 'N', description: 'delivery attempts before a webhook delivery is dead-lettered (default 8)' },
    'webhook-retry-ms': { type: 'string', valueName: 'MS', description: 'first webhook retry delay, doubling each attempt (default 1000)' },
    'public-metrics': { type: 'boolean', description: 'serve /metrics without a key (default: an admin key is needed)' },
    'public-url': { type: 'string', valueName: 'URL', description: 'the address people reach this server at, for one-click approval links in webhooks (default: the listen address)' },
    'allow-private-webhooks': { type: 'boolean', description: 'let webhooks target private, loopback and link-local addresses (default: public only)' },
    'checkpoint-every': { type: 'string', valueName: 'DURATION', description: 'checkpoint the audit trail when the newest checkpoint is this old, e.g. 1h (default: never)' },
    'checkpoint-key': { type: 'string', valueName: 'FILE', description: `the key that signs them (default: $ASCEND_CHECKPOINT_KEY, else ${CHECKPOINT_KEY_FILE} in the data dir)` },
    'smtp-url': {
      type: 'string',
      valueName: 'URL',
      description: 'the SMTP server for email webhooks: smtp://host:587 (STARTTLS when offered) or smtps://host:465; credentials belong in $ASCEND_SMTP_URL, not the command line (default: $ASCEND_SMTP_URL)',
    },
    'smtp-from': { type: 'string', valueName: 'ADDRESS', description: 'the From of those emails (default: $ASCEND_SMTP_FROM, else "Ascend <ascend@localhost>")' },
    'slack-approvers': {
      type: 'string',
      valueName: 'IDS',
      description:
        'who may decide with the buttons of interactive Slack webhooks: Slack user ids (U…) and user group ids (S…), a comma list; the Slack app\'s signing secret comes from $ASCEND_SLACK_SIGNING_SECRET, and its bot token for user groups from $ASCEND_SLACK_BOT_TOKEN (default: $ASCEND_SLACK_APPROVERS)',
    },
  },
  positionals: [],
  examples: ['ascend serve --db sqlite:/var/lib/ascend/ascend.db --policy ascend.policy.yaml --port 8080'],
  async run(ctx) {
    const env = ctx.io.env;
    const opt = (flag: string, envName: string): string | undefined => ctx.string(flag) ?? (env[envName] || undefined);
    const portText = ctx.string('port') ?? (env.ASCEND_PORT || env.PORT || '8080');
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0–65535, got "${portText}"`, ctx.commandPath);
    const durability = ctx.string('durability') ?? 'group';
    if (durability !== 'sync' && durability !== 'group') throw new UsageError('--durability must be group or sync', ctx.commandPath);
    const logLevel = opt('log-level', 'ASCEND_LOG_LEVEL') ?? 'info';
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`, ctx.commandPath);
    const bodyLimitText = ctx.string('body-limit');
    const bodyLimitBytes = bodyLimitText === undefined ? undefined : Number(bodyLimitText);
    if (bodyLimitBytes !== undefined && !(Number.isInteger(bodyLimitBytes) && bodyLimitBytes >= 1024)) {
      throw new UsageError('--body-limit must be a whole number of bytes, at least 1024', ctx.commandPath);
    }

    const webhookAttempts = positiveInt(ctx.string('webhook-attempts'), '--webhook-attempts', ctx.commandPath);
    const webhookRetryMs = positiveInt(ctx.string('webhook-retry-ms'), '--webhook-retry-ms', ctx.commandPath);

    const publicUrl = opt('public-url', 'ASCEND_PUBLIC_URL');
    if (publicUrl !== undefined && !/^https?:\/\/[^/]+/.test(publicUrl)) throw new UsageError(`--public-url must be an http(s) URL, got "${publicUrl}"`, ctx.commandPath);
    const checkpointEvery = opt('checkpoint-every', 'ASCEND_CHECKPOINT_EVERY');
    let checkpoints: { key: CheckpointKey; everyMs: number } | undefined;
    if (checkpointEvery !== undefined) {
      const everyMs = durationMs(checkpointEvery);
      if (everyMs === null || everyMs < 60_000) throw new UsageError(`--checkpoint-every must be a duration of at least 1m such as 15m, 1h or 1d, got "${checkpointEvery}"`, ctx.commandPath);
      const keyOption = opt('checkpoint-key', 'ASCEND_CHECKPOINT_KEY');
      checkpoints = { everyMs, key: readCheckpointKey(keyOption === undefined ? join(ctx.dataDir, CHECKPOINT_KEY_FILE) : resolve(ctx.io.cwd, keyOption)) };
    }
    const smtpUrl = opt('smtp-url', 'ASCEND_SMTP_URL');
    if (smtpUrl !== undefined && !/^smtps?:\/\/[^/]+/.test(smtpUrl)) throw new UsageError('--smtp-url must be smtp://host[:port] or smtps://host[:port]', ctx.commandPath);
    const email = smtpUrl === undefined ? undefined : { smtpUrl, from: opt('smtp-from', 'ASCEND_SMTP_FROM') ?? 'Ascend <ascend@localhost>' };
    const slack = slackApp(opt('slack-approvers', 'ASCEND_SLACK_APPROVERS'), env, ctx.commandPath);
    const logger = createLogger({ logLevel: logLevel as (typeof LOG_LEVELS)[number] });
    const server = await startServer({
      database: parseDatabaseTarget(opt('db', 'ASCEND_DB') ?? `sqlite:${defaultDbPath(ctx.dataDir)}`, ctx.io.cwd),
      policyPath: resolve(ctx.io.cwd, opt('policy', 'ASCEND_POLICY') ?? 'ascend.policy.yaml'),
      host: opt('host', 'ASCEND_HOST') ?? '127.0.0.1',
      port,
      durability,
      requireSigning: ctx.flag('require-signing') || env.ASCEND_REQUIRE_SIGNING === '1',
      publicMetrics: ctx.flag('public-metrics') || env.ASCEND_PUBLIC_METRICS === '1',
      logger,
      ...(bodyLimitBytes !== undefined ? { bodyLimitBytes } : {}),
      ...(publicUrl !== undefined ? { publicUrl } : {}),
      ...(checkpoints !== undefined ? { checkpoints } : {}),
      ...(slack !== undefined ? { slack } : {}),
      ...(email !== undefined ? { email } : {}),
      dashboard: { ...(env.ASCEND_SESSION_SECRET ? { sessionSecret: env.ASCEND_SESSION_SECRET } : {}) },
      webhooks: {
        allowPrivateTargets: ctx.flag('allow-private-webhooks') || env.ASCEND_ALLOW_PRIVATE_WEBHOOKS === '1',
        ...(webhookAttempts !== undefined ? { maxAttempts: webhookAttempts } : {}),
        ...(webhookRetryMs !== undefined ? { retryBaseDelayMs: webhookRetryMs, pollIntervalMs: Math.min(500, webhookRetryMs) } : {}),
      },
    });
    await ctx.out(`ascend serve listening on ${server.url}\n`);
    // SIGHUP: read the policy file now (it is also read within a second of a change).
    const onHangup = (): void => {
      logger.info('SIGHUP: reading the policy file again');
      server.reloadPolicy();
    };
    process.on('SIGHUP', onHangup);
    try {
      await untilStopped(ctx.io.signal);
    } finally {
      process.off('SIGHUP', onHangup);
    }
    logger.info('shutting down: draining in-flight requests');
    await server.close();
    logger.info('stopped');
    logger.flush();
    return ExitCode.OK;
  },
};

function positiveInt(text: string | undefined, flag: string, commandPath: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a whole number ≥ 1, got "${text}"`, commandPath);
  return n;
}

/**
 * The Slack app of `--slack-approvers` and `$ASCEND_SLACK_SIGNING_SECRET`: both, or neither; a
 * user group among the approvers needs `$ASCEND_SLACK_BOT_TOKEN` to read its members.
 */
function slackApp(approversText: string | undefined, env: NodeJS.ProcessEnv, commandPath: string): SlackAppOptions | undefined {
  const signingSecret = env.ASCEND_SLACK_SIGNING_SECRET || undefined;
  if (approversText === undefined && signingSecret === undefined) return undefined;
  if (signingSecret === undefined) throw new UsageError('--slack-approvers needs the Slack app\'s signing secret in $ASCEND_SLACK_SIGNING_SECRET', commandPath);
  if (approversText === undefined) throw new UsageError('$ASCEND_SLACK_SIGNING_SECRET is set but nobody may decide in Slack: name them with --slack-approvers U…,S…', commandPath);
  const approvers = approversText.split(',').map((id) => id.trim()).filter((id) => id !== '');
  const bad = approvers.find((id) => !SLACK_USER_ID.test(id) && !SLACK_GROUP_ID.test(id));
  if (approvers.length === 0 || bad !== undefined) {
    throw new UsageError(`--slack-approvers takes Slack user ids such as U024BE7LH and user group ids such as S0614TZR7, got "${bad ?? approversText}"`, commandPath);
  }
  const botToken = env.ASCEND_SLACK_BOT_TOKEN || undefined;
  if (botToken === undefined && approvers.some((id) => SLACK_GROUP_ID.test(id))) {
    throw new UsageError('--slack-approvers names a user group: its members are read with the Slack app\'s bot token (scope usergroups:read) in $ASCEND_SLACK_BOT_TOKEN', commandPath);
  }
  const apiUrl = env.ASCEND_SLACK_API_URL || undefined;
  return { signingSecret, approvers, ...(botToken ? { botToken } : {}), ...(apiUrl ? { apiUrl } : {}) };
}
