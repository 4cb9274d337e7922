/**
 * What every day-2 step needs to know about the cluster, from the inventory and the roles'
 * own schemas (so the values are exactly the ones the roles deployed): the members, the
 * balancers with their HAProxy names, the virtual IP, the credentials.
 */
import { hostsOf, varsOf } from '../../../src/toolkit/index.ts';
import type { Host, Inventory } from '../../../src/inventory/types.ts';
import haproxy from '../../../roles/haproxy/index.ts';
import keepalived from '../../../roles/keepalived/index.ts';
import patroni from '../../../roles/patroni/index.ts';
import type { HaproxyVars } from '../../../roles/haproxy/vars.ts';
import type { PatroniVars } from '../../../roles/patroni/vars.ts';

export interface Balancer {
  name: string;
  adminSocket: string;
  primaryBackend: string;
  replicaBackend: string;
}

export interface ClusterLayout {
  /** Patroni vars of the member the step runs on. */
  patroni: PatroniVars;
  /** Inventory hosts of the postgres group, in inventory order. */
  members: Host[];
  balancers: Balancer[];
  /** keepalived's virtual IP (clients' address), when the balancers run keepalived. */
  vip?: string;
  /** HAProxy's write port on the virtual IP. */
  writePort: number;
}

export function layoutFor(host: Host, inv: Inventory): ClusterLayout {
  const p = varsOf(patroni, host, inv);
  const lbs = hostsOf(inv, p.groups.balancers);
  const hv = (h: Host): HaproxyVars => varsOf(haproxy, h, inv);
  const balancers = lbs.map((h) => {
    const v = hv(h);
    return { name: h.name, adminSocket: v.adminSocket, primaryBackend: v.primaryName, replicaBackend: v.replicaName };
  });
  const first = lbs[0];
  const vip = first && first.vars['keepalived'] !== undefined ? varsOf(keepalived, first, inv).virtualIp : undefined;
  return {
    patroni: p,
    members: hostsOf(inv, p.groups.postgres),
    balancers,
    ...(vip ? { vip } : {}),
    writePort: first ? hv(first).primaryPort : 5000,
  };
}
