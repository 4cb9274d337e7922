/** Addresses as the stack's config files want them: IPv6 literals in brackets. */

/** host:port (etcd3.hosts, HAProxy server lines, Patroni connect addresses). */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** http://host:port. */
export function httpUrl(address: string, port: number): string {
  return `http://${hostPort(address, port)}`;
}
