/**
 * Plan-time checks between roles and between hosts, once every role's vars validated on its
 * own and before anything connects: what no single role's schema can see.
 *
 *   - postgres.version and patroni.postgresVersion equal on a host (and pgbackrest.pg.port
 *     and pg.path, haproxy's backend ports equal to Patroni's);
 *   - no two services listening on one port of one host (HAProxy, PostgreSQL, Patroni's REST
 *     API, etcd client and peer);
 *   - the etcd group exists and is not empty; an even member count is a warning (it
 *     tolerates no more failures than one member fewer);
 *   - one patroni.scope across the members of a cluster; one virtual IP and router id across
 *     the balancers;
 *   - the virtual IP inside a known subnet (`lab.subnet`): an error; outside the network
 *     virtualIp/prefix would give a balancer's own address: a warning (SSH may reach
 *     it on another network).
 *
 * Reads the validated vars of the roles the playbook plays; a role not in the playbook is not
 * checked. Vars of inventory hosts the plan leaves out (--limit) are resolved with the same
 * role, so a cluster-wide rule still sees every member.
 */
import type { Host, Inventory } from '../inventory/types.ts';
import type { Play } from './play.ts';
import type { Role } from './role.ts';
import { inNetwork, ipVersion, networkOf, parseCidr } from '../core/net.ts';
import { fieldOrigin, resolveRoleVars } from './vars.ts';

export interface PlanWarning {
  hosts: string[];
  message: string;
}

export interface CrossCheckResult {
  problems: string[];
  warnings: PlanWarning[];
}

/** What cross-checks need of a plan: its plays, their hosts and each host's validated vars by role. */
export interface PlanView {
  play: Play;
  hosts: Host[];
  vars: Map<string, Map<string, unknown>>;
}

type Obj = Record<string, unknown>;

export function crossCheck(plans: Iterable<PlanView>, inv: Inventory): CrossCheckResult {
  const problems: string[] = [];
  const warnings: PlanWarning[] = [];
  const roles = new Map<string, Role>();
  const planned = new Map<string, Map<string, Obj>>(); // host -> role -> vars
  for (const p of plans) {
    for (const r of p.play.roles ?? []) if (!roles.has(r.name)) roles.set(r.name, r);
    for (const h of p.hosts) {
      const mine = planned.get(h.name) ?? new Map<string, Obj>();
      for (const [role, v] of p.vars.get(h.name) ?? []) if (!mine.has(role) && isObj(v)) mine.set(role, v);
      planned.set(h.name, mine);
    }
  }
  const cache = new Map<string, Obj | null>();
  /** A role's vars on any inventory host: from the plan, else resolved now (null when invalid there). */
  const varsOf = (role: string, host: string): Obj | undefined => {
    const p = planned.get(host)?.get(role);
    if (p) return p;
    const r = roles.get(role);
    const h = inv.hosts.get(host);
    if (!r || !h) return undefined;
    const key = `${role}\0${host}`;
    if (!cache.has(key)) {
      const res = resolveRoleVars(r, h, inv);
      cache.set(key, res.ok && isObj(res.vars) ? res.vars : null);
    }
    return cache.get(key) ?? undefined;
  };
  const where = (host: string, field: string) => fieldOrigin(inv.hosts.get(host)!, field, inv);
  /** The file that set `field` (or a parent) on the host; undefined when it is a default. */
  const setBy = (host: string, field: string): string | undefined => {
    const o = inv.hosts.get(host)!.fieldOrigins ?? {};
    for (let f = field; f; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') if (o[f] !== undefined) return o[f];
    return undefined;
  };
  /** The first of these fields set on the host names the file of a mismatch between them. */
  const whereAny = (host: string, ...fields: string[]) => fields.map((f) => setBy(host, f)).find((o) => o !== undefined) ?? where(host, fields[0]!);
  const firstWith = (role: string): string | undefined => [...planned].find(([, m]) => m.has(role))?.[0];

  // ---- on one host ----
  const same = new Map<string, string[]>(); // message -> hosts (one line per mistake)
  const add = (key: string, host: string) => same.set(key, [...(same.get(key) ?? []), host]);
  for (const [host, byRole] of planned) {
    const pg = byRole.get('postgres');
    const pat = byRole.get('patroni');
    const pgb = byRole.get('pgbackrest');
    // Unset versions follow the host's release (facts, at run time): both unset agree, one
    // set and one unset may not (a PGDG 16 next to Debian 13's 17).
    if (pg && pat && pg['version'] !== pat['postgresVersion']) {
      const shown = (x: unknown) => (x === undefined ? "unset (the host release's)" : String(x));
      add(
        `${whereAny(host, 'postgres.version', 'patroni.postgresVersion')}: HOSTS: postgres.version: ${shown(pg['version'])} but patroni.postgresVersion is ${shown(pat['postgresVersion'])}${pat['postgresVersion'] === undefined ? '' : ` (${where(host, 'patroni.postgresVersion')})`}: Patroni would run the binaries of a version not installed; keep them equal (set both or neither)`,
        host,
      );
    }
    const patPort = pat ? num(get(pat, 'postgresql.port')) : undefined;
    if (pgb && patPort !== undefined && num(get(pgb, 'pg.port')) !== patPort && planned.get(host)!.has('patroni')) {
      add(
        `${whereAny(host, 'pgbackrest.pg.port', 'patroni.postgresql.port')}: HOSTS: pgbackrest.pg.port: ${String(get(pgb, 'pg.port'))} but patroni.postgresql.port is ${patPort} (${where(host, 'patroni.postgresql.port')}); keep them equal`,
        host,
      );
    }
    if (pgb && pat) {
      // Unset on both sides, the two paths derive from the same release: equal by construction.
      const version = pat['postgresVersion'];
      const dataDir = typeof pat['dataDir'] === 'string' ? pat['dataDir'] : version === undefined ? undefined : `/var/lib/postgresql/${String(version)}/main`;
      const path = get(pgb, 'pg.path');
      if (path !== dataDir) {
        const how = typeof pat['dataDir'] === 'string' ? `patroni.dataDir (${where(host, 'patroni.dataDir')})` : `Patroni's data directory for PostgreSQL ${version === undefined ? "of the host's release" : String(version)}`;
        add(`${whereAny(host, 'pgbackrest.pg.path', 'patroni.dataDir', 'patroni.postgresVersion')}: HOSTS: pgbackrest.pg.path: ${path === undefined ? "unset (the host release's)" : String(path)} but ${how} is ${dataDir ?? "the host release's"}: backups would read another directory; keep them equal`, host);
      }
    }
    // Ports that services of this host listen on.
    const listens: Array<{ port: number; field: string }> = [];
    const listen = (role: string, field: string, when = true) => {
      const v = byRole.get(role);
      const port = v ? num(get(v, field)) : undefined;
      if (when && port !== undefined) listens.push({ port, field: `${role}.${field}` });
    };
    listen('haproxy', 'primaryPort');
    listen('haproxy', 'replicaPort');
    listen('haproxy', 'stats.port', byRole.has('haproxy') && get(byRole.get('haproxy')!, 'stats.enabled') !== false);
    listen('patroni', 'postgresql.port');
    listen('patroni', 'restapi.port');
    listen('etcd', 'clientPort');
    listen('etcd', 'peerPort');
    const byPort = new Map<number, string[]>();
    for (const l of listens) byPort.set(l.port, [...(byPort.get(l.port) ?? []), l.field]);
    for (const [port, fields] of byPort) {
      if (fields.length < 2) continue;
      add(`${where(host, fields[1]!)}: HOSTS: port ${port}: ${fields.join(' and ')} would both listen on it; give one another port`, host);
    }
  }

  // ---- across hosts ----
  // HAProxy checks and routes to Patroni's ports on the backends.
  const lb = firstWith('haproxy');
  if (lb && roles.has('patroni')) {
    const hv = varsOf('haproxy', lb)!;
    const backends = inv.groups.get(String(hv['backendGroup']))?.hosts ?? [];
    for (const [hField, pField] of [
      ['postgresPort', 'postgresql.port'],
      ['patroniApiPort', 'restapi.port'],
    ] as const) {
      const theirs = inv.hosts.get(lb)!.fieldOrigins?.[`haproxy.${hField}`];
      for (const b of backends) {
        const pv = varsOf('patroni', b);
        if (pv === undefined || num(get(pv, pField)) === num(hv[hField])) continue;
        add(
          `${where(b, `patroni.${pField}`)}: HOSTS: patroni.${pField}: ${String(get(pv, pField))} but haproxy.${hField} is ${String(hv[hField])} on ${lb} (${theirs ?? 'its default'}): HAProxy would check and route to the wrong port`,
          b,
        );
      }
    }
  }

  // The etcd quorum.
  const etcdGroups = new Set<string>();
  for (const [host, byRole] of planned) {
    const e = byRole.get('etcd');
    if (e) etcdGroups.add(JSON.stringify([String(e['group']), `${where(host, 'etcd.group')}`, 'etcd.group']));
    const p = byRole.get('patroni');
    if (p) etcdGroups.add(JSON.stringify([String(get(p, 'groups.etcd')), `${where(host, 'patroni.groups.etcd')}`, 'patroni.groups.etcd']));
  }
  const warnedGroups = new Set<string>();
  for (const entry of etcdGroups) {
    const [group, file, field] = JSON.parse(entry) as [string, string, string];
    const members = inv.groups.get(group)?.hosts ?? [];
    if (members.length === 0) {
      problems.push(`${file}: ${field}: group "${group}" ${inv.groups.has(group) ? 'has no hosts' : 'is not in the inventory'}: etcd needs members (3 or 5)`);
    } else if (members.length % 2 === 0 && !warnedGroups.has(group)) {
      warnedGroups.add(group);
      warnings.push({
        hosts: members,
        message: `etcd group "${group}" has ${members.length} members: an even quorum survives no more failures than ${members.length - 1} members would (use 3 or 5)`,
      });
    }
  }

  // One value across the hosts of a group.
  const agree = (role: string, field: string, groupOf: (v: Obj) => string, why: string) => {
    const first = firstWith(role);
    if (!first) return;
    const group = groupOf(varsOf(role, first)!);
    const members = inv.groups.get(group)?.hosts ?? [];
    const values = new Map<string, string[]>();
    for (const m of members) {
      const v = varsOf(role, m);
      if (!v) continue;
      const val = JSON.stringify(get(v, field));
      values.set(val, [...(values.get(val) ?? []), m]);
    }
    if (values.size < 2) return;
    const parts = [...values].map(([val, hs]) => `${val} on ${hs.join(', ')} (${[...new Set(hs.map((h) => where(h, `${role}.${field}`)))].join(', ')})`);
    problems.push(`${role}.${field}: hosts of group "${group}" disagree: ${parts.join('; ')}: ${why}`);
  };
  agree('patroni', 'scope', (v) => String(get(v, 'groups.postgres')), 'every member of one cluster has the same scope');
  agree('keepalived', 'virtualIp', (v) => String(v['group']), 'the balancers float one virtual IP');
  agree('keepalived', 'virtualRouterId', (v) => String(v['group']), 'the balancers of one VRRP instance share its router id');
  agree('keepalived', 'prefix', (v) => String(v['group']), 'the balancers put the virtual IP on one network');

  // The virtual IP and the balancers' network.
  for (const [host, byRole] of planned) {
    const k = byRole.get('keepalived');
    if (!k) continue;
    const vip = String(k['virtualIp']);
    const prefix = num(k['prefix']) ?? 32;
    const h = inv.hosts.get(host)!;
    const addr = h.connection.address;
    const subnet = get(h.vars, 'lab.subnet');
    if (typeof subnet === 'string') {
      const c = parseCidr(subnet);
      if (typeof c !== 'string' && !inNetwork(vip, c.address, c.prefix))
        add(`${where(host, 'keepalived.virtualIp')}: HOSTS: keepalived.virtualIp: ${vip} is outside the subnet ${subnet} (lab.subnet): no client on it could reach it`, host);
    }
    const owner = [...inv.hosts.values()].find((o) => o.connection.address === vip);
    if (owner) {
      add(`${where(host, 'keepalived.virtualIp')}: HOSTS: keepalived.virtualIp: ${vip} is the address of host ${owner.name}; pick a free address`, host);
    } else if (ipVersion(addr) === 4 && !inNetwork(addr, vip, prefix)) {
      warnings.push({
        hosts: [host],
        message: `keepalived.virtualIp ${vip}/${prefix} (network ${networkOf(vip, prefix)}/${prefix}) does not contain ${host}'s address ${addr}: the virtual IP would sit on another network than the one this host is reached on`,
      });
    }
  }

  for (const [line, hosts] of same) problems.push(line.replace('HOSTS', hosts.length === 1 ? `host ${hosts[0]}` : `hosts ${hosts.join(', ')}`));
  return { problems, warnings };
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function get(v: Obj, path: string): unknown {
  let cur: unknown = v;
  for (const p of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
