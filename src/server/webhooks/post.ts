/**
 * One webhook POST over node:http(s), optionally pinned to addresses checked beforehand: the
 * connection goes to one of those addresses while the Host header and the TLS server name stay
 * the URL's host name, so certificates are still verified against the name.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { resolvePublicTarget, type CheckedAddress, type HostResolver } from './address-guard.js';

/** What to send. */
export interface WebhookPost {
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
  /** Connect only to these (the name is not resolved again). Default: resolve the name as usual. */
  pinnedAddresses?: readonly CheckedAddress[];
}

/** POST `url`; resolves with the response status once the response body has been read (and discarded). */
export function postWebhook(url: string, post: WebhookPost): Promise<number> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: { ...post.headers, 'content-length': String(Buffer.byteLength(post.body)) },
        signal: post.signal,
        // A fresh connection per delivery: a pooled one may lead to an address checked for another.
        agent: false,
        ...(post.pinnedAddresses ? { lookup: pinnedLookup(post.pinnedAddresses) } : {}),
      },
      (response) => {
        let ended = false;
        response.on('end', () => {
          ended = true;
          resolve(response.statusCode ?? 0);
        });
        response.on('error', reject);
        response.on('close', () => {
          if (!ended) reject(new Error('connection closed before the response ended'));
        });
        response.resume();
      },
    );
    request.on('error', reject);
    request.end(post.body);
  });
}

/** A `lookup` that answers with the checked addresses only, whatever DNS says now. */
function pinnedLookup(addresses: readonly CheckedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) {
      callback(null, addresses.map(({ address, family }) => ({ address, family })));
      return;
    }
    const pick = addresses.find((a) => a.family === options.family) ?? addresses[0]!;
    callback(null, pick.address, pick.family);
  };
}

/** A target the address guard refused (not a public address). */
export class RefusedTarget extends Error {}

/** How an outgoing POST is guarded: the operator's choice, and the resolver. */
export interface TargetGuard {
  /** Post to private, loopback and link-local addresses too. */
  allowPrivateTargets: boolean;
  resolveHost?: HostResolver;
}

/**
 * {@link postWebhook}, after resolving the target and refusing it ({@link RefusedTarget}) when any
 * of its addresses is not public, unless the guard allows it; the connection then goes to the
 * addresses checked now, not to a second answer of the name (no DNS rebinding).
 */
export async function postToTarget(url: string, post: Omit<WebhookPost, 'pinnedAddresses'>, guard: TargetGuard): Promise<number> {
  if (guard.allowPrivateTargets) return postWebhook(url, post);
  const check = await resolvePublicTarget(url, guard.resolveHost);
  if ('refused' in check) throw new RefusedTarget(check.refused);
  return postWebhook(url, { ...post, pinnedAddresses: check.addresses });
}
