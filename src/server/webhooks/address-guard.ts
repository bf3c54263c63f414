/**
 * Webhook targets must be on the public internet unless the operator allows private ones: an
 * organisation's admin must not be able to make the server call its own network (cloud metadata,
 * databases, admin ports) and read back what happened. Checked when a webhook is registered and
 * again before each delivery, which then connects only to the addresses it checked: a name that
 * resolves elsewhere a moment later (DNS rebinding) is never looked up a second time.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { nonPublicRange } from './ip-ranges.js';

export { nonPublicRange };

/** Resolves a host name to all its addresses. */
export type HostResolver = (hostname: string) => Promise<string[]>;

/** The system resolver (`getaddrinfo`, as every other client on the machine sees names). */
export const systemResolver: HostResolver = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** An address a delivery may connect to. */
export interface CheckedAddress {
  address: string;
  family: 4 | 6;
}

/** The outcome of checking a target: the addresses to connect to, or why not. */
export type TargetCheck = { addresses: CheckedAddress[] } | { refused: string };

/** True for every address that is not public unicast (loopback, private, link-local, reserved, and IPv6 spellings of those). */
export function isPrivateAddress(address: string): boolean {
  return nonPublicRange(address) !== undefined;
}

/**
 * Resolve `url`'s host once and check every address: refused when any is not public (a name
 * that also resolves to 127.0.0.1 could be connected there), else the addresses to connect to.
 */
export async function resolvePublicTarget(url: string, resolve: HostResolver = systemResolver): Promise<TargetCheck> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const name = host.replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return { refused: `${host} is this machine` };
  if (isIP(host) !== 0) {
    const range = nonPublicRange(host);
    return range === undefined ? { addresses: [checked(host)] } : { refused: `${host} is not public (${range})` };
  }
  const addresses = await resolve(host).catch(() => [] as string[]);
  if (addresses.length === 0) return { refused: `${host} does not resolve` };
  for (const address of addresses) {
    const range = nonPublicRange(address);
    if (range !== undefined) return { refused: `${host} resolves to ${address} (${range})` };
  }
  return { addresses: addresses.map(checked) };
}

/** Why `url` may not be called (not a public address), or undefined when it may. */
export async function privateTargetReason(url: string, resolve?: HostResolver): Promise<string | undefined> {
  const check = await resolvePublicTarget(url, resolve);
  return 'refused' in check ? check.refused : undefined;
}

function checked(address: string): CheckedAddress {
  return { address, family: isIP(address) === 6 ? 6 : 4 };
}
