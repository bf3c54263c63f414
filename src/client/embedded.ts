/**
 * The embedded transport a client is made with when no `apiUrl` is set: the policy file (watched
 * for changes, each switch recorded in the audit trail) and a SQLite store under the data dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { type AscendError, PolicyError } from '../core/errors.js';
import { parsePolicy, STARTER_POLICY_YAML, type CompiledPolicy } from '../engine/index.js';
import { switchRecord } from '../policy/changes.js';
import { loadPolicyFile } from '../policy/file.js';
import { LivePolicy, type PolicySwitch } from '../policy/live.js';
import { defaultDbPath, openSqliteStore } from '../store/sqlite.js';
import { LocalTransport } from '../transport/local.js';
import { nonEmpty, type AscendClientOptions } from './options.js';

/** The embedded transport, and the policy file it watches (closed with the client). */
export interface Embedded {
  transport: LocalTransport;
  livePolicy: LivePolicy | undefined;
}

/** Engine + SQLite in this process, for the agent `agentId`, keeping its files under `dataDir`. */
export function embeddedTransport(options: AscendClientOptions, dataDir: string, agentId: string, logger: Logger): Embedded {
  const audit = options.audit ?? {};
  const loaded = loadPolicy(options.policy, dataDir, logger);
  let policy: CompiledPolicy | Error | LivePolicy = loaded.policy;
  let livePolicy: LivePolicy | undefined;
  if (loaded.file !== undefined && options.watchPolicy !== false) {
    const live = new LivePolicy(loaded.file, loaded.policy, {
      cacheDir: dataDir,
      onSwitch: (change) => policySwitched(change),
      onLoadError: (failure) =>
        logger.error({ err: { message: failure.error.message, code: (failure.error as AscendError).code } }, 'The changed policy did not load; the policy in force stays'),
    });
    livePolicy = policy = live.watch();
  }
  const transport = new LocalTransport({
    policy,
    openStore: () =>
      openSqliteStore(defaultDbPath(dataDir), {
        durability: audit.durability ?? 'sync',
        ...(audit.flushIntervalMs ? { flushIntervalMs: audit.flushIntervalMs } : {}),
        ...(audit.maxBatchSize ? { maxBatchSize: audit.maxBatchSize } : {}),
        onFlushError: (err) => logger.error({ err: { code: err.code, message: err.message } }, 'group commit failed'),
      }),
  });

  /** The policy file changed and loaded: say so, and record it in the audit trail. */
  function policySwitched(change: PolicySwitch): void {
    const record = switchRecord(change, change.to.file, `${agentId} (pid ${process.pid})`, new Date().toISOString());
    logger.info({ from: record.from, to: record.to, file: record.source }, 'policy changed: later decisions use the new version');
    void Promise.resolve()
      .then(() => transport.getStore().recordPolicyChange(record))
      .catch((err: unknown) => logger.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'could not record the policy change'));
  }

  return { transport, livePolicy };
}

/** The policy, and the file it comes from (watched for changes; also when it does not exist yet). */
function loadPolicy(option: string | CompiledPolicy | undefined, dataDir: string, logger: Logger): { policy: CompiledPolicy | Error; file?: string } {
  if (option !== undefined && typeof option !== 'string') return { policy: option };
  // As `ascend serve` does: the option, then ASCEND_POLICY, then ./ascend.policy.yaml.
  const policy = option ?? nonEmpty(process.env.ASCEND_POLICY);
  const file = path.resolve(policy ?? 'ascend.policy.yaml');
  try {
    if (policy === undefined && !fs.existsSync(file)) {
      logger.warn({ file }, 'No policy file found: using the starter policy (run `ascend init` to write one)');
      return { policy: parsePolicy(STARTER_POLICY_YAML, '<starter policy>'), file };
    }
    return { policy: loadPolicyFile(file, { cacheDir: dataDir }), file };
  } catch (err) {
    // A policy that does not load never allows: every call is denied with this error as reason.
    const error = err instanceof Error ? err : new PolicyError(String(err), { file });
    logger.error({ err: { message: error.message, code: (error as AscendError).code } }, 'Policy failed to load; every call will be denied');
    return { policy: error, file };
  }
}
