/** Builds an Inventory in memory for engine tests (no file, no loader). */
import type { Connection, Host, Inventory, Vars } from '../../src/inventory/types.ts';

export function memoryInventory(groups: Record<string, string[]>, hostVars: Record<string, Vars> = {}): Inventory {
  const names = [...new Set(Object.values(groups).flat())];
  const connection: Connection = {
    address: '127.0.0.1',
    port: 22,
    user: 'root',
    become: false,
    knownHosts: '/dev/null',
    acceptNewHostKeys: false,
    insecureSkipHostKeyCheck: false,
    connectTimeoutMs: 1000,
    transport: 'ssh',
  };
  const hosts = new Map<string, Host>(
    names.map((name) => [
      name,
      {
        name,
        connection,
        groups: ['all', ...Object.keys(groups).filter((g) => groups[g]!.includes(name))],
        vars: hostVars[name] ?? {},
        origins: Object.fromEntries(Object.keys(hostVars[name] ?? {}).map((k) => [k, `memory/host_vars/${name}.yml`])),
      },
    ]),
  );
  const groupMap = new Map(
    [['all', names] as const, ...Object.entries(groups)].map(([name, members]) => [name, { name, hosts: [...members], children: [], vars: {} }]),
  );
  return { source: 'memory', hosts, groups: groupMap };
}
