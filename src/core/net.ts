/**
 * Typed addresses and networks for inventory and role vars: IPv4/IPv6 addresses (node:net
 * isIP), DNS host names (RFC 1123), CIDR networks with the host bits clear, and containment
 * (node:net BlockList). No dependency beyond node.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** 4 or 6 for an IP address, 0 otherwise (no brackets, no zone index, no blanks). */
export function ipVersion(s: string): 0 | 4 | 6 {
  return isIP(s) as 0 | 4 | 6;
}

/**
 * A DNS host name: labels of letters, digits and hyphens (not at either end), 1-63 characters
 * each, 253 in all, a trailing dot allowed. The last label may not be all digits, so a
 * mistyped IPv4 address (`10.0.1`, `10.0.1.300`) is not taken for a name.
 */
export function isHostname(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (!labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l))) return false;
  return !/^\d+$/.test(labels[labels.length - 1]!);
}

/** An IP address or a host name. */
export function isAddress(s: string): boolean {
  return ipVersion(s) !== 0 || isHostname(s);
}

export interface Cidr {
  address: string;
  prefix: number;
  version: 4 | 6;
}

/**
 * `10.0.2.0/24` -> its parts; an error text for anything else: blanks, a bad address or
 * prefix, or host bits set (`10.0.2.5/24` names its network, `10.0.2.0/24`).
 */
export function parseCidr(s: string): Cidr | string {
  if (/\s/.test(s)) return `expected a network like 10.0.2.0/24 without blanks, got ${JSON.stringify(s)}`;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return `expected a network like 10.0.2.0/24 (address/prefix), got ${JSON.stringify(s)}`;
  const version = ipVersion(m[1]!);
  if (version === 0) return `${JSON.stringify(m[1])} is not an IP address (in ${JSON.stringify(s)})`;
  const prefix = Number(m[2]);
  const max = version === 4 ? 32 : 128;
  if (prefix > max) return `prefix /${prefix} is longer than /${max} (in ${JSON.stringify(s)})`;
  const network = networkOf(m[1]!, prefix, version);
  if (!sameAddress(network, m[1]!, version)) return `host bits set in ${s}: the network is ${network}/${prefix}`;
  return { address: m[1]!, prefix, version };
}

/** The network address of `address/prefix` (host bits cleared), in canonical text. */
export function networkOf(address: string, prefix: number, version: 4 | 6 = ipVersion(address) as 4 | 6): string {
  const bits = version === 4 ? 32 : 128;
  const n = toBigInt(address, version);
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return fromBigInt(n & mask, version);
}

/** Whether `ip` lies in `network/prefix` (same family only). */
export function inNetwork(ip: string, network: string, prefix: number): boolean {
  const v = ipVersion(ip);
  const nv = ipVersion(network);
  if (v === 0 || v !== nv) return false;
  const list = new BlockList();
  list.addSubnet(networkOf(network, prefix, nv), prefix, nv === 4 ? 'ipv4' : 'ipv6');
  return list.check(ip, v === 4 ? 'ipv4' : 'ipv6');
}

function sameAddress(a: string, b: string, version: 4 | 6): boolean {
  return toBigInt(a, version) === toBigInt(b, version);
}

function toBigInt(address: string, version: 4 | 6): bigint {
  if (version === 4) return address.split('.').reduce((acc, o) => (acc << 8n) + BigInt(Number(o)), 0n);
  let s = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const n = toBigInt(v4[1]!, 4);
    s = s.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
}

function fromBigInt(n: bigint, version: 4 | 6): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((n >> BigInt((7 - i) * 16)) & 0xffffn).toString(16));
  // Longest run of zero groups (two or more) becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

// ---- zod schemas ----

/** An IPv4 or IPv6 address. */
export const IpAddress = z.string().refine((s) => ipVersion(s) !== 0, { message: 'expected an IPv4 or IPv6 address' });

/** An IPv4 address. */
export const Ipv4Address = z.string().refine((s) => ipVersion(s) === 4, { message: 'expected an IPv4 address' });

/** An IP address or a DNS host name (validated as one). */
export const HostAddress = z.string().refine(isAddress, {
  message: 'expected an IPv4/IPv6 address or a DNS host name (letters, digits, -, dots between labels)',
});

/** A listen address: an IP address (0.0.0.0 and :: for all), `*`, or a host name. */
export const ListenAddress = z.string().refine((s) => s === '*' || isAddress(s), {
  message: 'expected an IP address, * or a host name',
});

/** A CIDR network with its host bits clear: `10.0.2.0/24`, `fd00::/64`. */
export const Network = z.string().superRefine((s, ctx) => {
  const r = parseCidr(s);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

/** A network, or one address (a /32 or /128). */
export const NetworkOrAddress = z.string().superRefine((s, ctx) => {
  if (!s.includes('/') && ipVersion(s) !== 0) return;
  if (!s.includes('/') && !/\s/.test(s)) {
    ctx.addIssue({ code: 'custom', message: `expected a network like 10.0.2.0/24 or an IP address, got ${JSON.stringify(s)}` });
    return;
  }
  const r = parseCidr(s);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

/** Comma-separated listen addresses, as PostgreSQL's listen_addresses (`0.0.0.0`, `127.0.0.1,10.0.1.11`, `*`). */
export const ListenAddresses = z.string().refine((s) => s.split(',').every((a) => a === '*' || isAddress(a.trim())), {
  message: 'expected IP addresses, * or host names, separated by commas',
});
