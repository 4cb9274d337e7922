/**
 * Taking a database (and etcd) member out of the cluster for good: what remove.ts checks
 * first, and the steps that act on the departing host and on the live cluster (the read pool
 * drain, Patroni's member key, the etcd membership). The hosts' configs are not written here:
 * the roles converge the other hosts against the inventory without the departing one
 * (src/engine/departing.ts), so they render exactly what a run after its deletion from the
 * inventory renders.
 */
import type { Host, Inventory } from '../../../src/inventory/types.ts';
import type { TaskContext } from '../../../src/engine/types.ts';
import { shQuote } from '../../../src/transport/types.ts';
import { TaskError, clearUndo, hostsOf, recordUndo, varsOf, waitUntil, type Remote } from '../../../src/toolkit/index.ts';
import etcd from '../../../roles/etcd/index.ts';
import haproxy from '../../../roles/haproxy/index.ts';
import { clientUrls } from '../../../roles/etcd/exports.ts';
import { etcdctl, healthAndMembers, healthyEndpoints, type EtcdMemberInfo } from '../../../roles/etcd/live.ts';
import { httpUrl, memberAddress } from '../../../roles/etcd/render.ts';
import { clusterState, type ClusterState } from '../../../roles/patroni/live.ts';
import { runtimeScript, serverStates, setServerState } from '../../../roles/haproxy/live.ts';
import type { PatroniVars } from '../../../roles/patroni/vars.ts';
import type { Balancer } from './context.ts';

type Reach = Pick<TaskContext, 'delegate'>;

/** Runs a script; a non-zero exit is a TaskError with its output. */
async function must(remote: Remote, script: string): Promise<string> {
  const r = await remote.exec(script, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new TaskError(`exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
  return r.stdout;
}

/** What the pre-check learned about one departing host; the later steps act on it. */
export interface Removal {
  host: Host;
  /** It answered over SSH (a dead host is removed from the others only). */
  reachable: boolean;
  /** Why it did not answer. */
  unreachableWhy?: string;
  /** Listed by Patroni (its member key is in the DCS). */
  patroniMember: boolean;
  /** Its etcd member as the cluster lists it, when it is one. */
  etcdMember?: EtcdMemberInfo;
  /** The leader when the check ran (never the departing host). */
  leader: string;
}

/** The first host of the database group that stays: the one that does the removal's steps. */
export function coordinator(inv: Inventory, v: PatroniVars): string | undefined {
  return hostsOf(inv, v.groups.postgres)[0]?.name;
}

/**
 * Where etcdctl runs: the first host of the etcd group that stays and answers with etcdctl
 * installed (the etcd role's). Not the coordinator: with etcd on hosts of its own, the database
 * hosts have no etcdctl.
 */
export async function etcdctlHost(ctx: Reach, inv: Inventory, v: PatroniVars): Promise<Remote> {
  const tried: string[] = [];
  for (const h of hostsOf(inv, v.groups.etcd)) {
    try {
      const remote = await ctx.delegate(h.name);
      const r = await remote.exec('command -v etcdctl >/dev/null', { timeoutMs: 10_000 });
      if (r.code === 0) return remote;
      tried.push(`${h.name}: no etcdctl`);
    } catch (e) {
      tried.push(`${h.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new TaskError(`no etcd host that stays answers with etcdctl (${tried.join('; ') || `group ${v.groups.etcd} is empty`})`);
}

/**
 * Whether removing a member keeps the etcd quorum (null) or why not. `members`: the cluster's
 * member count now; `healthyOthers`: healthy members that stay; `departingHealthy`: the
 * departing member answers healthy. The removal itself needs a quorum of the cluster as it is,
 * and the cluster after it needs a quorum of its smaller size among the members that stay.
 */
export function etcdRemovalProblem(members: number, healthyOthers: number, departingHealthy: boolean): string | null {
  const now = healthyOthers + (departingHealthy ? 1 : 0);
  if (now * 2 <= members) return `the etcd cluster has no quorum now (${now} of ${members} members healthy): member remove cannot commit`;
  const after = members - 1;
  if (after === 0) return 'it is the last etcd member';
  if (healthyOthers * 2 <= after)
    return `the ${after} members left would have ${healthyOthers} healthy, short of a quorum (${Math.floor(after / 2) + 1}): bring the unhealthy members back first`;
  return null;
}

/** The etcd client URLs of the members that stay. */
function survivorsEtcd(inv: Inventory, v: PatroniVars): string[] {
  return clientUrls(inv, v.groups.etcd);
}

/** The departing host's etcd peer URL from its own vars. */
function peerUrlOf(host: Host, inv: Inventory): string {
  const ev = varsOf(etcd, host, inv);
  return httpUrl(memberAddress(host, ev), ev.peerPort);
}

/** The cluster as the first stay-member whose Patroni answers sees it. */
export async function survivorsView(ctx: Reach, inv: Inventory, v: PatroniVars): Promise<ClusterState> {
  const errors: string[] = [];
  for (const h of hostsOf(inv, v.groups.postgres)) {
    try {
      return await clusterState(await ctx.delegate(h.name), { port: v.restapi.port });
    } catch (e) {
      errors.push(`${h.name}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
  }
  throw new TaskError(`no remaining database member's Patroni answers: ${errors.join('; ')}`);
}

/**
 * Everything checked before anything changes: the host is not the leader, the cluster has
 * one, removing its etcd member keeps the quorum, and it is a host remove.ts knows how to take
 * out (a database member, an etcd member, or both; not a balancer or the backup repository).
 */
export async function checkRemoval(ctx: TaskContext, inv: Inventory, host: Host, v: PatroniVars, sshTimeoutMs = 10_000): Promise<Removal> {
  const g = v.groups;
  // A balancer on a database host goes with it (retire-balancer.ts); a balancer alone does not.
  const other = host.groups.filter((x) => x === g.backup || (x === g.balancers && !host.groups.includes(g.postgres)));
  if (other.length)
    throw new TaskError(
      `refusing: ${host.name} is in group(s) ${other.join(', ')}; remove.ts takes out database and etcd members (and a balancer on a database host) only ` +
        '(a balancer alone or the backup repository: take it out of the inventory and run site.ts)',
    );
  if (!host.groups.includes(g.postgres) && !host.groups.includes(g.etcd)) throw new TaskError(`refusing: ${host.name} is neither in group ${g.postgres} nor in group ${g.etcd}`);
  if (hostsOf(inv, g.postgres).length === 0) throw new TaskError(`refusing: no database member would be left in group ${g.postgres}`);

  let reachable = false;
  let unreachableWhy: string | undefined;
  try {
    const r = await (await ctx.delegate(host.name)).exec('true', { timeoutMs: sshTimeoutMs });
    reachable = r.code === 0;
    if (!reachable) unreachableWhy = `exit ${r.code}`;
  } catch (e) {
    unreachableWhy = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }

  const cluster = await survivorsView(ctx, inv, v);
  const leaders = cluster.members.filter((m) => m.role === 'leader');
  if (leaders.some((m) => m.name === host.name))
    throw new TaskError(
      `refusing: ${host.name} is the Patroni leader. Hand the role over first (npx rigger run playbooks/switchover.ts -i INVENTORY, or -e rollout.candidate=HOST), then run remove.ts again`,
    );
  if (leaders.length !== 1) throw new TaskError(`refusing: the cluster has ${leaders.length} leaders (${cluster.members.map((m) => `${m.name} ${m.role} ${m.state}`).join(', ')}); wait for a failover to finish`);

  // Asked whatever its groups say: an etcd member left out of the group is still a member.
  let etcdMember: EtcdMemberInfo | undefined;
  {
    const urls = survivorsEtcd(inv, v);
    if (urls.length === 0) throw new TaskError(`refusing: no etcd member would be left in group ${g.etcd}`);
    const { health, members } = await healthAndMembers(await etcdctlHost(ctx, inv, v), urls);
    if (!members.ok) throw new TaskError(`refusing: cannot read the etcd member list: ${members.error}`);
    const peer = host.groups.includes(g.etcd) ? peerUrlOf(host, inv) : undefined;
    etcdMember = members.members.find((m) => m.name === host.name || (peer !== undefined && m.peerUrls.includes(peer)));
    if (etcdMember) {
      const up = healthyEndpoints(health.summary);
      const healthy = (m: EtcdMemberInfo) => health.healthy || m.clientUrls.some((u) => up.has(u));
      const others = members.members.filter((m) => m.id !== etcdMember!.id);
      const problem = etcdRemovalProblem(members.members.length, others.filter(healthy).length, healthy(etcdMember));
      if (problem) throw new TaskError(`refusing to remove etcd member ${host.name}: ${problem} [${members.members.map((m) => `${m.name || '(unstarted)'} ${healthy(m) ? 'healthy' : 'unhealthy'}`).join(', ')}]`);
    }
  }
  return {
    host,
    reachable,
    ...(unreachableWhy !== undefined ? { unreachableWhy } : {}),
    patroniMember: cluster.members.some((m) => m.name === host.name),
    ...(etcdMember ? { etcdMember } : {}),
    leader: leaders[0]!.name,
  };
}

const undoId = (backend: string, member: string) => `haproxy:${backend}:${member}`;

/**
 * Out of the read pool on every balancer that still lists it (drain: no new sessions, the
 * open ones finish), each recorded on the balancer first. Its undo sets it ready only while
 * the balancer's config still names it: once HAProxy is reloaded without it, nothing is owed.
 */
export async function drainEverywhere(ctx: Reach, inv: Inventory, balancers: Balancer[], member: string): Promise<string[]> {
  const done: string[] = [];
  await Promise.all(
    balancers.map(async (lb) => {
      const d = await ctx.delegate(lb.name);
      const rows = (await serverStates(d, lb.adminSocket)).filter((s) => s.server === member && s.backend === lb.replicaBackend);
      if (rows.length === 0) return;
      const cfg = varsOf(haproxy, d.host, inv).configPath;
      if (rows.every((r) => r.admin !== 'ready')) return;
      await recordUndo(d, {
        id: undoId(lb.replicaBackend, member),
        what: `${member} drained in ${lb.replicaBackend} on ${lb.name} (remove.ts)`,
        undo: `if grep -Eq ${shQuote(`^[[:space:]]*server[[:space:]]+${member}[[:space:]]`)} ${shQuote(cfg)}; then\n${runtimeScript(`set server ${lb.replicaBackend}/${member} state ready`, lb.adminSocket)}\nfi`,
      });
      await setServerState(d, lb.replicaBackend, member, 'drain', lb.adminSocket);
      done.push(lb.name);
    }),
  );
  return done.sort();
}

/** Balancers whose HAProxy still lists the member (config not reloaded yet, or a failed reload). */
export async function balancersListing(ctx: Reach, balancers: Balancer[], member: string): Promise<string[]> {
  const out: string[] = [];
  for (const lb of balancers) if ((await serverStates(await ctx.delegate(lb.name), lb.adminSocket)).some((s) => s.server === member)) out.push(lb.name);
  return out;
}

/** The drain records go once no balancer lists the member any more. */
export async function clearDrains(ctx: Reach, balancers: Balancer[], member: string): Promise<void> {
  for (const lb of balancers) await clearUndo(await ctx.delegate(lb.name), undoId(lb.replicaBackend, member));
}

/** Patroni stopped and disabled on the departing host (PostgreSQL stops with it). */
export async function stopPatroni(remote: Remote, v: PatroniVars): Promise<boolean> {
  const unit = shQuote(`${v.serviceName}.service`);
  const r = await remote.exec(`if systemctl is-enabled --quiet ${unit} || systemctl is-active --quiet ${unit}; then systemctl disable --now ${unit} >/dev/null 2>&1 && echo stopped; fi; systemctl is-active --quiet ${unit} && echo still-running; true`, { timeoutMs: 180_000 });
  if (r.stdout.includes('still-running')) throw new TaskError(`${v.serviceName} is still running after systemctl disable --now: ${r.stderr.trim()}`);
  return r.stdout.includes('stopped');
}

/** The DCS key of a Patroni member. */
export function memberKey(v: PatroniVars, member: string): string {
  return `${v.namespace.replace(/\/$/, '')}/${v.scope}/members/${member}`;
}

/**
 * The member gone from Patroni's member list: its key deleted (its Patroni is stopped, or its
 * host is dead), then waited for in the stay-members' view.
 */
export async function forgetPatroniMember(ctx: Reach, inv: Inventory, v: PatroniVars, member: string, timeoutMs: number): Promise<void> {
  const at = await etcdctlHost(ctx, inv, v);
  const r = await at.exec(etcdctl(survivorsEtcd(inv, v), `del ${shQuote(memberKey(v, member))}`));
  if (r.code !== 0) throw new TaskError(`etcdctl del ${memberKey(v, member)}: ${(r.stderr || r.stdout).trim()}`);
  await waitUntil(`${member} gone from Patroni's member list`, timeoutMs, async () => {
    const c = await survivorsView(ctx, inv, v);
    return c.members.some((m) => m.name === member) ? { done: false, seen: c.members.map((m) => m.name).join(', ') } : { done: true, value: undefined };
  });
}

/** `etcdctl member remove`, through the members that stay. */
export async function removeEtcdMember(ctx: Reach, inv: Inventory, v: PatroniVars, m: EtcdMemberInfo): Promise<void> {
  const at = await etcdctlHost(ctx, inv, v);
  const r = await at.exec(etcdctl(survivorsEtcd(inv, v), `member remove ${shQuote(m.id)}`, 15));
  if (r.code !== 0 && !/member not found/i.test(r.stderr + r.stdout)) throw new TaskError(`etcdctl member remove ${m.id} (${m.name}): ${(r.stderr || r.stdout).trim()}`);
}

/**
 * On the departing host, once it is no member any more: etcd stopped and disabled (a removed
 * member exits by itself; systemd would start it again), its data moved aside so that the host
 * can be enrolled again as a new member.
 */
export async function retireEtcd(remote: Remote, dataDir: string): Promise<string[]> {
  const dir = shQuote(dataDir);
  const out = await must(
    remote,
    [
      'if systemctl is-enabled --quiet etcd.service || systemctl is-active --quiet etcd.service; then systemctl disable --now etcd.service >/dev/null 2>&1; echo stopped; fi',
      `if [ -d ${dir}/member ]; then mv ${dir} ${dir}.removed-$(date +%Y%m%dT%H%M%S) && echo moved; fi`,
    ].join('\n'),
  );
  return [out.includes('stopped') ? 'etcd stopped and disabled' : '', out.includes('moved') ? 'its etcd data moved aside' : ''].filter(Boolean);
}

/** Slot name Patroni gives a member (its name, lower case, other characters as _). */
export function slotName(member: string): string {
  return member.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/**
 * Waits for the leader's Patroni to drop the member's replication slot (it does on its next
 * loop once the member key is gone); after the deadline an inactive slot is dropped here.
 * Returns what happened, for the summary.
 */
export async function slotGone(ctx: Reach, leader: string, v: PatroniVars, member: string, timeoutMs: number): Promise<string> {
  const d = await ctx.delegate(leader);
  const q = (sql: string) => `cd / && runuser -u postgres -- psql -X -A -t -p ${v.postgresql.port} -c ${shQuote(sql)}`;
  const slot = slotName(member);
  const present = async () => (await must(d, q(`select active from pg_replication_slots where slot_name = '${slot}'`))).trim();
  try {
    await waitUntil(`slot ${slot} dropped on ${leader}`, timeoutMs, async () => {
      const p = await present();
      return p === '' ? { done: true, value: undefined } : { done: false, seen: `slot ${slot} present (active: ${p})` };
    });
    return `slot ${slot} gone on ${leader}`;
  } catch {
    if ((await present()) === 't') throw new TaskError(`replication slot ${slot} on ${leader} is still active after ${timeoutMs / 1000} s`);
    await must(d, q(`select pg_drop_replication_slot('${slot}') from pg_replication_slots where slot_name = '${slot}'`));
    return `slot ${slot} dropped on ${leader} (Patroni had not)`;
  }
}
