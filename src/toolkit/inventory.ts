/**
 * What roles and day-2 steps read of the inventory: a group's hosts, and a role's validated
 * vars for any host (a peer's address, a balancer's socket), never the raw `host.vars`.
 */
import type { z } from 'zod';
import { TaskError } from '../core/errors.ts';
import { resolveRoleVars } from '../engine/vars.ts';
import { defineRole, type Role } from '../engine/role.ts';
import type { Host, Inventory } from '../inventory/types.ts';

/** Who needs the group, for the error when it is missing: `patroni.groups.etcd`. */
export interface GroupNeed {
  /** The var naming the group, e.g. 'haproxy.backendGroup'. */
  varName: string;
  /** An empty group is an error too. */
  nonEmpty?: boolean;
}

/**
 * The hosts of `group` in inventory order. Without `need` a missing group is empty; with it,
 * a missing (or, with nonEmpty, empty) group is a TaskError naming the var that points at it.
 */
export function hostsOf(inv: Inventory, group: string, need?: GroupNeed): Host[] {
  const g = inv.groups.get(group);
  if (need && !g) throw new TaskError(`inventory ${inv.source} has no group "${group}" (${need.varName})`);
  if (need?.nonEmpty && g?.hosts.length === 0) throw new TaskError(`inventory group "${group}" (${need.varName}) is empty`);
  return (g?.hosts ?? []).map((n) => inv.hosts.get(n)).filter((h): h is Host => h !== undefined);
}

/**
 * Hosts the run takes out of the cluster (remove.ts -l HOST; src/engine/departing.ts): in no
 * group, so hostsOf never returns them; reach them with ctx.delegate(host.name).
 */
export function departingHosts(inv: Inventory): Host[] {
  return [...(inv.departing?.values() ?? [])];
}

/** Names of the hosts of `group` in inventory order (a missing group is empty). */
export function hostNamesOf(inv: Inventory, group: string): string[] {
  return inv.groups.get(group)?.hosts ?? [];
}

/** A role, or just its name and schema (where importing the role itself would make a cycle). */
export type VarsSource<S extends z.ZodType> = Pick<Role<S>, 'name' | 'vars'> & { overrides?: Role<S>['overrides'] };

/** One role's validated vars for a host; a problem is a TaskError naming file, host and field. */
export function varsOf<S extends z.ZodType>(role: VarsSource<S>, host: Host, inv: Inventory): z.output<S> {
  const r = resolveRoleVars({ ...role, overrides: role.overrides ?? {} } as unknown as Role, host, inv);
  if (!r.ok) throw new TaskError(r.problems.join('\n'));
  return r.vars as z.output<S>;
}

/**
 * The same role with no tasks: in a day-2 play it makes the engine validate that role's vars
 * for the play's hosts before anything connects, without converging the role.
 */
export function varsOnly<S extends z.ZodType>(role: Role<S>): Role<S> {
  return defineRole({ name: role.name, description: `${role.name} vars (read only)`, vars: role.vars, tasks: () => [] });
}
