import { describe, expect, it } from 'vitest';
import { HostAddress, Ipv4Address, ListenAddresses, Network, NetworkOrAddress, inNetwork, isHostname, networkOf, parseCidr } from '../../src/core/net.ts';

describe('addresses and networks (src/core/net.ts)', () => {
  it('host names are RFC 1123 names; a mistyped IPv4 address is not one', () => {
    for (const ok of ['pg1', 'db1.example.net', 'db-1.example.net.', 'a.b-c.d']) expect(isHostname(ok), ok).toBe(true);
    for (const bad of ['192.0.2', '192.0.2.300', 'db_1', '-db', 'db-', 'a..b', 'pg 1', '', 'x'.repeat(64)]) expect(isHostname(bad), bad).toBe(false);
    expect(HostAddress.safeParse('192.0.2.11').success).toBe(true);
    expect(HostAddress.safeParse('fd00::11').success).toBe(true);
    expect(HostAddress.safeParse('192.0.2.311').success).toBe(false);
    expect(Ipv4Address.safeParse('fd00::1').success).toBe(false);
    expect(ListenAddresses.safeParse('127.0.0.1, 192.0.2.11').success).toBe(true);
    expect(ListenAddresses.safeParse('127.0.0.1;192.0.2.11').success).toBe(false);
  });

  it('CIDR: blanks, bad prefixes and host bits are refused, naming the right network', () => {
    expect(parseCidr('10.0.2.0/24')).toEqual({ address: '10.0.2.0', prefix: 24, version: 4 });
    expect(parseCidr('fd00::/64')).toEqual({ address: 'fd00::', prefix: 64, version: 6 });
    expect(parseCidr('10.0.2.0 /24')).toMatch(/without blanks/);
    expect(parseCidr('10.0.2.0/33')).toMatch(/longer than \/32/);
    expect(parseCidr('10.0.2.5/24')).toBe('host bits set in 10.0.2.5/24: the network is 10.0.2.0/24');
    expect(parseCidr('fd00::1/64')).toBe('host bits set in fd00::1/64: the network is fd00::/64');
    expect(parseCidr('10.0.2/24')).toMatch(/not an IP address/);
    expect(Network.safeParse('10.0.2.0').success).toBe(false);
    expect(NetworkOrAddress.safeParse('10.0.2.7').success).toBe(true);
    expect(NetworkOrAddress.safeParse('intranet').success).toBe(false);
  });

  it('network of an address and containment', () => {
    expect(networkOf('10.213.7.100', 24)).toBe('10.213.7.0');
    expect(networkOf('10.213.7.100', 0)).toBe('0.0.0.0');
    expect(networkOf('fd00:1:2:3::1', 48)).toBe('fd00:1:2::');
    expect(inNetwork('10.213.7.21', '10.213.7.100', 24)).toBe(true);
    expect(inNetwork('10.213.8.21', '10.213.7.100', 24)).toBe(false);
    expect(inNetwork('fd00::5', 'fd00::', 64)).toBe(true);
    expect(inNetwork('198.51.100.1', 'fd00::', 64)).toBe(false);
  });
});
