/**
 * Starting and stopping `ascend serve`: open the store, load the policy (and watch its file),
 * listen, and on SIGTERM / SIGINT stop taking requests, drain those in flight, flush and close.
 */
import type { Logger } from 'pino';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { LivePolicy } from '../policy/live.js';
import { PushedPolicyFollower } from './policy-follower.js';
import { switchRecord } from '../policy/changes.js';
import { loadPolicyFile } from '../policy/file.js';
import type { CompiledPolicy } from '../engine/index.js';
import { PolicyError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import { buildServer, type AscendServerOptions } from './app.js';
import { openDatabase, openNonceStore, openOutbox, type DatabaseTarget } from './database.js';
import type { WebhookOutbox } from '../store/outbox.js';
import type { NonceStore } from './nonces.js';
import type { CheckpointKey } from '../store/audit-checkpoints.js';
import { CheckpointSchedule } from './checkpoint-schedule.js';

/** Options of {@link startServer}. */
export interface StartServerOptions extends Omit<AscendServerOptions, 'store' | 'policy' | 'publicUrl'> {
  database: DatabaseTarget;
  /** Policy file (YAML or JSON). */
  policyPath: string;
  /** Start without the policy file (`ascend ui`: reviewing, not deciding; evaluations are denied). */
  policyOptional?: boolean;
  /** The address people reach the server at, for one-click approval links. Default: the address it listens on. */
  publicUrl?: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * `group` (default): writes of concurrent requests share one commit (every `flushIntervalMs`,
   * 1 ms), and each request is answered only once its write is committed — sync-mode durability
   * at group-commit throughput. `sync`: one commit per write.
   */
  durability?: 'group' | 'sync';
  logger: Logger;
  /** Checkpoint the audit trail with `key` whenever the newest checkpoint is `everyMs` old. */
  checkpoints?: { key: CheckpointKey; everyMs: number };
}

/** A running server. */
export interface RunningServer {
  /** e.g. `http://127.0.0.1:8080`. */
  url: string;
  store: Store;
  /** Read the policy file again now (SIGHUP); it is also read within a second of a change. */
  reloadPolicy(): boolean;
  close(): Promise<void>;
}

/**
 * Start listening. A policy that does not load stops the start (a server must not deny
 * everything silently) — unless a policy was pushed to the database, which is then in force.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  let policy: CompiledPolicy | PolicyError;
  try {
    policy = options.policyOptional && !existsSync(options.policyPath) ? new PolicyError('no policy file: this server reviews approvals and the audit, and denies every evaluation', { file: options.policyPath }, 'create one with `ascend init`') : loadPolicyFile(options.policyPath);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    policy = err;
  }
  const store = await openDatabase(options.database, options.durability === 'sync' ? { durability: 'sync' } : { durability: 'batched', flushIntervalMs: 1 }, { backgroundCheckpoints: true });
  if (policy instanceof PolicyError) {
    const pushed = await store.latestPolicy().catch(() => undefined);
    if (pushed !== undefined) {
      options.logger.warn({ policy: options.policyPath, reason: policy.message, pushed: pushed.id }, 'the policy file does not load; the policy pushed to the database is in force');
    } else if (!options.policyOptional) {
      await store.close();
      throw policy;
    } else {
      options.logger.warn({ policy: options.policyPath, reason: policy.message }, 'no policy loaded: evaluations through this server are denied');
    }
  }
  const actor = `ascend serve (pid ${process.pid} on ${os.hostname()})`;
  const live = new LivePolicy(options.policyPath, policy, {
    onSwitch: (change) => {
      const record = switchRecord(change, options.policyPath, actor, new Date().toISOString());
      options.logger.info({ from: record.from, to: record.to, cause: record.cause, policy: options.policyPath }, 'policy changed: later decisions use the new version');
      store.recordPolicyChange(record).catch((err: unknown) => options.logger.error({ err }, 'could not record the policy change'));
    },
    onLoadError: (failure) =>
      options.logger.error({ policy: options.policyPath, reason: failure.error.message, cause: failure.cause }, 'the changed policy did not load; the policy in force stays'),
  }).watch();
  const follower = new PushedPolicyFollower(store, live, options.logger);
  const checkpoints = options.checkpoints && new CheckpointSchedule(store, { ...options.checkpoints, actor, logger: options.logger });
  let outbox: WebhookOutbox | undefined;
  let nonces: NonceStore | undefined;
  try {
    nonces = openNonceStore(options.database, { backgroundCheckpoints: true });
    outbox = openOutbox(options.database, { backgroundCheckpoints: true });
    const { database: _db, policyPath: _p, policyOptional: _o, publicUrl, host, port, durability: _d, checkpoints: _c, ...rest } = options;
    let url = '';
    await follower.start();
    const checkpointPublicKeys = options.checkpoints ? [options.checkpoints.key.publicKey] : [];
    const server = await buildServer({ ...rest, store, policy: live, policyFollower: follower, outbox, nonces, checkpointPublicKeys, publicUrl: () => publicUrl ?? url });
    url = await server.app.listen({ host, port });
    options.logger.info({ url, store: store.kind, policy: options.policyPath }, 'ascend serve listening');
    checkpoints?.start();
    return {
      url,
      store,
      reloadPolicy: () => {
        void follower.check();
        return live.reload('signal');
      },
      async close() {
        live.close();
        follower.stop();
        try {
          await checkpoints?.stop();
          await server.close();
        } finally {
          await outbox?.close();
          await nonces?.close();
          await store.close();
        }
      },
    };
  } catch (err) {
    live.close();
    follower.stop();
    await outbox?.close();
    await nonces?.close();
    await store.close();
    throw err;
  }
}
