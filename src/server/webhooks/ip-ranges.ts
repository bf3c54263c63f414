/**
 * Which IP addresses are public unicast addresses. IPv6 spellings that carry an IPv4 address
 * (mapped, compatible, translated, NAT64, 6to4, Teredo, ISATAP) are judged by the IPv4 address
 * they carry, so `[::ffff:7f00:1]` or `[2002:7f00:1::]` cannot stand in for 127.0.0.1.
 */
import { isIP } from 'node:net';

type Range4 = readonly [base: string, prefixBits: number, name: string];

// Most specific first: the first match names the range.
const IPV4_RANGES: readonly Range4[] = [
  ['255.255.255.255', 32, 'broadcast'],
  ['0.0.0.0', 8, '"this network"'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const IPV4_TABLE = IPV4_RANGES.map(([base, bits, name]) => ({ base: ipv4ToNumber(base), mask: bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0, name }));

type Range6 = readonly [base: string, prefixBits: number, name: string];

// Checked after the forms that carry an IPv4 address. Global unicast is 2000::/3 (RFC 4291);
// everything outside it is refused as "not global unicast".
const IPV6_RANGES: readonly Range6[] = [
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['fc00::', 7, 'unique-local'],
  ['ff00::', 8, 'multicast'],
  ['100::', 64, 'discard-only'],
  ['2001:db8::', 32, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['2001::', 23, 'IETF protocol assignments'],
  ['5f00::', 16, 'SRv6 segment identifiers'],
];

const IPV6_TABLE = IPV6_RANGES.map(([base, bits, name]) => ({ base: ipv6ToBigInt(base), mask: prefixMask(bits), name }));
const GLOBAL_UNICAST = { base: ipv6ToBigInt('2000::'), mask: prefixMask(3) };
const LOCAL_USE_NAT64 = { base: ipv6ToBigInt('64:ff9b:1::'), mask: prefixMask(48) };
const WELL_KNOWN_NAT64 = ipv6ToBigInt('64:ff9b::');

/**
 * Why `address` is not a public unicast address — e.g. `"loopback"`, `"IPv4-mapped 127.0.0.1
 * (loopback)"` — or undefined when it is public. Anything that is not an IP address is refused.
 */
export function nonPublicRange(address: string): string | undefined {
  if (address.includes('%')) return 'scoped (zone) address';
  const family = isIP(address);
  if (family === 4) return ipv4Range(ipv4ToNumber(address));
  if (family === 6) return ipv6Range(ipv6ToBigInt(address));
  return 'not an IP address';
}

function ipv4Range(value: number): string | undefined {
  return IPV4_TABLE.find((r) => ((value & r.mask) >>> 0) === r.base)?.name;
}

function ipv6Range(value: bigint): string | undefined {
  if (value === 0n) return 'unspecified';
  if (value === 1n) return 'loopback';
  const { carried, isIpv4Spelling } = carriedIpv4(value);
  for (const { form, ipv4 } of carried) {
    const range = ipv4Range(ipv4);
    if (range !== undefined) return `${form} ${numberToIpv4(ipv4)} (${range})`;
  }
  // Another spelling of a public IPv4 address: that address is where a connection goes.
  if (isIpv4Spelling) return undefined;
  if (inPrefix(value, LOCAL_USE_NAT64.base, LOCAL_USE_NAT64.mask)) return 'local-use NAT64';
  const range = IPV6_TABLE.find((r) => inPrefix(value, r.base, r.mask));
  // Teredo (2001::/32) lies inside the IETF block; its IPv4 addresses were public (checked above).
  if (range && !isTeredo(value)) return range.name;
  if (!inPrefix(value, GLOBAL_UNICAST.base, GLOBAL_UNICAST.mask)) return 'not global unicast';
  return undefined;
}

interface CarriedIpv4 {
  /** The IPv4 addresses carried, each with the name of the form that carries it. */
  carried: Array<{ form: string; ipv4: number }>;
  /** True when the IPv6 address only re-spells the IPv4 one (mapped, translated, compatible, NAT64). */
  isIpv4Spelling: boolean;
}

/** The IPv4 addresses an IPv6 address carries. */
function carriedIpv4(value: bigint): CarriedIpv4 {
  const low32 = Number(value & 0xffffffffn);
  const high96 = value >> 32n;
  const spelling = (form: string): CarriedIpv4 => ({ carried: [{ form, ipv4: low32 }], isIpv4Spelling: true });
  if (high96 === 0xffffn) return spelling('IPv4-mapped'); // ::ffff:0:0/96
  if (high96 === 0xffff0000n) return spelling('IPv4-translated'); // ::ffff:0:0:0/96
  if (high96 === 0n) return spelling('IPv4-compatible'); // ::/96 (deprecated)
  if (high96 === WELL_KNOWN_NAT64 >> 32n) return spelling('NAT64'); // 64:ff9b::/96
  if (value >> 112n === 0x2002n) return { carried: [{ form: '6to4', ipv4: Number((value >> 80n) & 0xffffffffn) }], isIpv4Spelling: false };
  if (isTeredo(value)) {
    return {
      carried: [
        { form: 'Teredo server', ipv4: Number((value >> 64n) & 0xffffffffn) },
        { form: 'Teredo client', ipv4: (low32 ^ 0xffffffff) >>> 0 }, // stored inverted
      ],
      isIpv4Spelling: false,
    };
  }
  // ISATAP interface identifier: 0000:5efe or 0200:5efe, then the IPv4 address.
  const interfaceHigh = Number((value >> 32n) & 0xffffffffn);
  if (interfaceHigh === 0x00005efe || interfaceHigh === 0x02005efe) return { carried: [{ form: 'ISATAP', ipv4: low32 }], isIpv4Spelling: false };
  return { carried: [], isIpv4Spelling: false };
}

function isTeredo(value: bigint): boolean {
  return value >> 96n === 0x20010000n;
}

function inPrefix(value: bigint, base: bigint, mask: bigint): boolean {
  return (value & mask) === base;
}

function prefixMask(bits: number): bigint {
  return ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits);
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

/** An IPv6 address (already known valid, as `isIP` says) as a 128-bit number. */
function ipv6ToBigInt(address: string): bigint {
  let text = address.toLowerCase();
  // A dotted IPv4 tail stands for the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4ToNumber(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].reduce((n, group) => (n << 16n) | BigInt(parseInt(group, 16)), 0n);
}
