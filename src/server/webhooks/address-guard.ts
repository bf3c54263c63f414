/**
 * Webhook targets must be on the public internet unless the operator allows private ones: an
 * organisation's admin must not be able to make the server call its own network (cloud metadata,
 * databases, admin ports) and read back what happened. Checked when a webhook is registered and
 * again before each delivery (the name may resolve elsewhere by then).
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) PRIVATE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) PRIVATE.addSubnet(net, prefix, 'ipv6');

/** True for loopback, private, link-local, shared and reserved addresses (IPv4-mapped IPv6 included). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true; // not an address at all: refuse
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Why `url` may not be called (a private address), or undefined when it may. */
export async function privateTargetReason(url: string): Promise<string | undefined> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is this machine`;
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [] as Array<{ address: string }>)).map((a) => (typeof a === 'string' ? a : a.address));
  if (addresses.length === 0) return `${host} does not resolve`;
  const blocked = addresses.find(isPrivateAddress);
  return blocked === undefined ? undefined : `${host} resolves to the private address ${blocked}`;
}
