/**
 * Hosts a run takes out of the cluster (remove.ts -l HOST). They stay in the operator's
 * inventory while the run goes, but the run plans and runs against the inventory as it will
 * be once they are gone: no group and no play holds them, so every role renders what it
 * renders from a group (HAProxy backends, pg_hba, etcd and Patroni's etcd hosts, pgBackRest
 * hosts, keepalived peers) without them, and --limit names them instead of selecting the
 * hosts to run on. Steps still reach them by name through ctx.delegate and read who they
 * are in `inventory.departing`. The membership record (membership.ts) forgets them.
 */
import { InputError } from '../core/errors.ts';
import { selectHosts } from '../inventory/pattern.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import type { Playbook } from './play.ts';

/** The inventory without `names`: gone from `hosts` and every group, kept in `departing`. */
export function withoutHosts(inv: Inventory, names: ReadonlySet<string>): Inventory {
  const departing = new Map<string, Host>([...(inv.departing ?? new Map<string, Host>())]);
  const hosts = new Map<string, Host>();
  for (const [n, h] of inv.hosts) (names.has(n) ? departing : hosts).set(n, h);
  const groups = new Map([...inv.groups].map(([n, g]) => [n, { ...g, hosts: g.hosts.filter((h) => !names.has(h)) }]));
  return { ...inv, hosts, groups, departing };
}

/**
 * The inventory and limit a playbook runs with: unchanged, or for a playbook whose limit names
 * the departing hosts, the inventory without them and no limit (every play runs on the rest).
 */
export function runScope(pb: Playbook, inv: Inventory, limit: string | undefined): { inv: Inventory; limit?: string } {
  if (pb.departing !== 'limit' || inv.departing) return { inv, ...(limit !== undefined ? { limit } : {}) };
  if (limit === undefined || limit.trim() === '') throw new InputError([`${pb.name}: -l/--limit must name the host(s) to take out of the cluster`]);
  const names = new Set(selectHosts(inv, 'all', limit).map((h) => h.name));
  if (names.size === 0) throw new InputError([`-l/--limit ${JSON.stringify(limit)}: matches no host of ${inv.source}`]);
  if (names.size === inv.hosts.size) throw new InputError([`${pb.name}: -l/--limit ${JSON.stringify(limit)} names every host of ${inv.source}: nothing would be left`]);
  return { inv: withoutHosts(inv, names) };
}
