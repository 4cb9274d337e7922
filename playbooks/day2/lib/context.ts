/**
 * What every day-2 step needs to know about the cluster, from the inventory and the roles'
 * own schemas (so the values are exactly the ones the roles deployed): the members, the
 * balancers with their HAProxy names, the virtual IP, the credentials.
 */
import type { z } from 'zod';
import { defineRole, type Role } from '../../src/engine/role.ts';
import { TaskError } from '../../src/engine/types.ts';
import { resolveRoleVars } from '../../src/engine/vars.ts';
import type { Host, Inventory } from '../../src/inventory/types.ts';
import haproxy from '../../roles/haproxy/index.ts';
import keepalived from '../../roles/keepalived/index.ts';
import patroni from '../../roles/patroni/index.ts';
import type { HaproxyVars } from '../../roles/haproxy/vars.ts';
import type { PatroniVars } from '../../roles/patroni/vars.ts';

/**
 * The same role with no tasks: in a day-2 play it makes the engine validate that role's vars
 * for the play's hosts before anything connects, without converging the role.
 */
export function varsOnly<S extends z.ZodType>(role: Role<S>): Role<S> {
  return defineRole({ name: role.name, description: `${role.name} vars (read only)`, vars: role.vars, tasks: () => [] });
}

/** One role's validated vars for a host; a problem is a TaskError naming file, host and field. */
export function varsOf<S extends z.ZodType>(role: Role<S>, host: Host, inv: Inventory): z.output<S> {
  const r = resolveRoleVars(role as unknown as Role, host, inv);
  if (!r.ok) throw new TaskError(r.problems.join('\n'));
  return r.vars as z.output<S>;
}

/** Once per run, shared by every host that asks: the first caller computes it, the others wait for it. */
export function sharedOnce<T>(shared: Map<string, unknown>, key: string, fn: () => Promise<T>): Promise<T> {
  let p = shared.get(key) as Promise<T> | undefined;
  if (!p) {
    p = fn();
    p.catch(() => undefined); // awaited by every caller; never an unhandled rejection
    shared.set(key, p);
  }
  return p;
}

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

function groupHosts(inv: Inventory, group: string): Host[] {
  return (inv.groups.get(group)?.hosts ?? []).map((n) => inv.hosts.get(n)).filter((h): h is Host => h !== undefined);
}

export function layoutFor(host: Host, inv: Inventory): ClusterLayout {
  const p = varsOf(patroni, host, inv);
  const lbs = groupHosts(inv, p.groups.balancers);
  const hv = (h: Host): HaproxyVars => varsOf(haproxy, h, inv);
  const balancers = lbs.map((h) => {
    const v = hv(h);
    return { name: h.name, adminSocket: v.adminSocket, primaryBackend: v.primaryName, replicaBackend: v.replicaName };
  });
  const first = lbs[0];
  const vip = first && first.vars['keepalived'] !== undefined ? varsOf(keepalived, first, inv).virtualIp : undefined;
  return {
    patroni: p,
    members: groupHosts(inv, p.groups.postgres),
    balancers,
    ...(vip ? { vip } : {}),
    writePort: first ? hv(first).primaryPort : 5000,
  };
}
