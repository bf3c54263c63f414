/**
 * The remote transports a client is made with: `ascend serve` over HTTP (`apiUrl`), or the hosted
 * ASCEND platform (`protocol: 'ascend-platform'`). Settings that would make every request fail are
 * refused here, when the client is made. The embedded transport is the client's own (it watches
 * the policy file and records its changes).
 */
import type { Logger } from 'pino';
import { ValidationError } from '../core/errors.js';
import { nonEmpty, type AscendClientOptions } from './options.js';
import { HttpTransport } from '../transport/http.js';
import { PlatformTransport } from '../transport/platform.js';
import { PLATFORM_DEFAULT_URL } from '../transport/platform-wire.js';
import type { Transport } from '../transport/transport.js';

/** Which API the client speaks: the option, else `$ASCEND_PROTOCOL`, else `ascend`. */
export function protocolOf(options: AscendClientOptions): 'ascend' | 'ascend-platform' {
  const protocol = options.protocol ?? nonEmpty(process.env.ASCEND_PROTOCOL) ?? 'ascend';
  if (protocol !== 'ascend' && protocol !== 'ascend-platform') {
    throw new ValidationError(`ASCEND_PROTOCOL must be "ascend" or "ascend-platform", got "${protocol}"`, [{ path: 'protocol', message: 'unknown protocol' }]);
  }
  return protocol;
}

/** `ascend serve` at `apiUrl` (or `$ASCEND_API_URL`); undefined when neither is set (embedded). */
export function serverTransport(options: AscendClientOptions, logger: Logger): Transport | undefined {
  const apiUrl = options.apiUrl ?? nonEmpty(process.env.ASCEND_API_URL);
  if (!apiUrl) return undefined;
  const apiKey = options.apiKey ?? nonEmpty(process.env.ASCEND_API_KEY);
  if (!apiKey) {
    throw new ValidationError('apiUrl is set but no API key: pass apiKey or set ASCEND_API_KEY (`ascend keys create` makes one)', [
      { path: 'apiKey', message: 'required with apiUrl' },
    ]);
  }
  const signingSecret = options.signingSecret ?? nonEmpty(process.env.ASCEND_SIGNING_SECRET);
  return new HttpTransport({
    apiUrl,
    apiKey,
    logger,
    ...(signingSecret ? { signingSecret } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
    ...(options.circuitBreaker ? { circuitBreaker: options.circuitBreaker } : {}),
  });
}

/** The hosted ASCEND platform as the decision point. */
export function platformTransport(options: AscendClientOptions, agentName: string, logger: Logger): Transport {
  const apiUrl = options.apiUrl ?? nonEmpty(process.env.ASCEND_API_URL) ?? nonEmpty(process.env.OWKAI_API_URL) ?? PLATFORM_DEFAULT_URL;
  const apiKey = options.apiKey ?? nonEmpty(process.env.ASCEND_API_KEY);
  if (!apiKey) {
    throw new ValidationError('protocol "ascend-platform" needs the platform\'s API key (owkai_…): pass apiKey or set ASCEND_API_KEY', [{ path: 'apiKey', message: 'required' }]);
  }
  checkPlatformUrl(apiUrl);
  const signingSecret = options.signingSecret ?? nonEmpty(process.env.ASCEND_SIGNING_SECRET);
  return new PlatformTransport({
    apiUrl,
    apiKey,
    agentName,
    logger,
    ...(signingSecret ? { signingSecret } : {}),
    ...(options.environment ? { environment: options.environment } : {}),
    ...(options.approvalTimeoutMs !== undefined ? { approvalTimeoutMs: options.approvalTimeoutMs } : {}),
    ...(options.killSwitchPollMs !== undefined ? { killSwitchPollMs: options.killSwitchPollMs } : {}),
    ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
    ...(options.circuitBreaker ? { circuitBreaker: options.circuitBreaker } : {}),
  });
}

/**
 * The platform's address must be https, except on this machine (the original SDK's rule): an
 * API key never crosses a network in clear.
 */
function checkPlatformUrl(apiUrl: string): void {
  let url: URL | undefined;
  try {
    url = new URL(apiUrl);
  } catch {
    url = undefined;
  }
  const local = url !== undefined && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && local))) {
    throw new ValidationError(`apiUrl for the ASCEND platform must be https:// (http:// only on localhost), got "${apiUrl}"`, [{ path: 'apiUrl', message: 'not https' }]);
  }
}
