/**
 * `ascend ui`: the approval dashboard over this project's embedded database (`.ascend/`), on
 * 127.0.0.1. It prints a sign-in link holding a token made for this run only (like a notebook
 * server): whoever can read this terminal can open it. Approver and admin keys of the same
 * database sign in too.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createLogger } from '../../client/logging.js';
import { startServer } from '../../server/serve.js';
import { defaultDbPath } from '../../store/sqlite.js';
import { resolveActor } from '../actor.js';
import type { CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { untilStopped } from '../until-stopped.js';

export const uiCommand: CommandSpec = {
  name: 'ui',
  summary: "open the approval dashboard over this project's embedded database",
  details:
    'Serves the dashboard on 127.0.0.1 and prints a sign-in link valid while it runs. Agents in other processes keep using the same .ascend database; their pending calls appear live, and an approval given here wakes them.',
  options: {
    port: { type: 'string', valueName: 'PORT', description: 'port (default 4100; 0 picks a free one)' },
    host: { type: 'string', valueName: 'HOST', description: 'interface to listen on (default 127.0.0.1)' },
    policy: { type: 'string', valueName: 'FILE', description: 'policy file (default ./ascend.policy.yaml, optional here)' },
    by: { type: 'string', valueName: 'NAME', description: 'who the sign-in link signs in as (default user@host)' },
  },
  positionals: [],
  examples: ['ascend ui', 'ascend ui --port 0 --data-dir ./.ascend'],
  async run(ctx) {
    const portText = ctx.string('port') ?? '4100';
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0–65535, got "${portText}"`, ctx.commandPath);
    const logger = createLogger({ logLevel: (ctx.io.env.ASCEND_LOG_LEVEL as 'info' | undefined) ?? 'warn' });
    const token = randomBytes(24).toString('base64url');
    const server = await startServer({
      database: { kind: 'sqlite', path: defaultDbPath(ctx.dataDir) },
      policyPath: resolve(ctx.io.cwd, ctx.string('policy') ?? 'ascend.policy.yaml'),
      policyOptional: true,
      host: ctx.string('host') ?? '127.0.0.1',
      port,
      // Reviewing people, not serving agents: each write its own commit.
      durability: 'sync',
      logger,
      dashboard: { localSignIn: { token, name: resolveActor(ctx.string('by'), ctx.io) } },
    });
    const host = ctx.string('host') ?? '127.0.0.1';
    if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
      // The link signs in whoever has it, over plain http: fine on this machine, not on a network.
      ctx.err(`warning: listening on ${host}, not loopback: the sign-in link below travels unencrypted and signs in anyone who has it\n`);
    }
    await ctx.out(`ascend ui listening on ${server.url}\nOpen the dashboard (signs you in): ${server.url}/ui/login?token=${token}\n`);
    await untilStopped(ctx.io.signal);
    await server.close();
    logger.flush();
    return ExitCode.OK;
  },
};
