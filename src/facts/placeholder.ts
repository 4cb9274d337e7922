import type { Facts } from './types.ts';

/**
 * Facts of a typical Debian 12 host, for what runs without a connection (--list-tasks) and
 * for tests that fake a host. Never used for a real host.
 */
export function placeholderFacts(over: Partial<Facts> = {}): Facts {
  return {
    hostname: 'unknown',
    fqdn: 'unknown',
    os: { family: 'debian', id: 'debian', version: '12', codename: 'bookworm', kernel: '6.1.0' },
    arch: 'x86_64',
    packageManager: 'apt',
    serviceManager: 'systemd',
    virtualization: { type: 'none', container: false },
    cpus: 2,
    memoryMb: 2048,
    interfaces: [],
    defaultIpv4: null,
    user: 'root',
    ...over,
  };
}
