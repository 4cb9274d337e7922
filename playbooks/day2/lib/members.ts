/**
 * The database cluster as a rollout must see it: roles from live state (never from the
 * inventory), the order members go in, and what "healthy" means before a member is touched
 * and after it is back — every member answering over SSH, one leader, every replica
 * streaming with a fresh report and within the lag bound.
 */
import { TaskError, type TaskContext } from '../../../src/engine/types.ts';
import { clusterState, describeCluster, isRunning, leaderOf, type ClusterState, type Member } from '../../../roles/patroni/live.ts';
import type { PatroniVars } from '../../../roles/patroni/vars.ts';
import { replicationLinks, type ReplicaLink } from './pg.ts';

type Reach = Pick<TaskContext, 'delegate'>;

/** Seconds without a report from a replica after which it does not count as streaming (3 x the default status interval). */
export const STALE_REPLY_SECONDS = 30;

/** Async replicas first, then the synchronous standby, the leader last (ties by name). */
export function rolloutOrder(members: Member[], leaderFirst = false): Member[] {
  const rank = (m: Member) => (m.role === 'leader' ? (leaderFirst ? -1 : 2) : m.role === 'sync_standby' ? 1 : 0);
  return [...members].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

/** Why a replica is not fit (not streaming, stale, lagging), or null. */
export function replicaProblem(name: string, links: ReplicaLink[], maxLagBytes: number): string | null {
  const l = links.find((x) => x.name === name);
  if (!l) return `${name} is not connected to the leader`;
  if (l.state !== 'streaming') return `${name} is ${l.state}, not streaming`;
  if (l.replyAgeSeconds > STALE_REPLY_SECONDS) return `${name} last reported ${l.replyAgeSeconds} s ago`;
  if (l.lagBytes < 0 || l.lagBytes > maxLagBytes) return `${name} lags ${l.lagBytes < 0 ? 'an unknown amount' : `${l.lagBytes} bytes`} (bound ${maxLagBytes})`;
  return null;
}

export interface Health {
  cluster: ClusterState;
  leader: Member;
  links: ReplicaLink[];
  problems: string[];
}

/**
 * The whole cluster, checked through the run's connections: each expected member answers over
 * SSH within `sshTimeoutMs` (a partitioned host fails here in seconds, long before its DCS key
 * or walsender times out), Patroni agrees on one leader with every member running, and the
 * leader streams to every other member within the bound.
 */
export async function clusterHealth(ctx: Reach, via: string, expected: string[], v: PatroniVars, maxLagBytes: number, sshTimeoutMs = 10_000): Promise<Health> {
  const problems: string[] = [];
  const answering: string[] = [];
  await Promise.all(
    [...new Set([via, ...expected])].map(async (name) => {
      try {
        const d = await ctx.delegate(name);
        const r = await d.exec('true', { timeoutMs: sshTimeoutMs });
        if (r.code === 0) answering.push(name);
        else if (expected.includes(name)) problems.push(`${name} does not run commands (exit ${r.code})`);
      } catch (e) {
        if (expected.includes(name)) problems.push(`${name} does not answer over SSH: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
    }),
  );
  // Ask Patroni on every member that answers (a partitioned one would hang the question), and
  // judge by the leader's own view: a member just healed from a partition answers from its stale
  // cache of the DCS (still listing its expired member key, or itself as leader), while the
  // leader's is fresh, since it must renew the leader key every loop or step down. Members that
  // disagree on who leads are a problem in themselves: the cluster is not settled.
  const asked = [...new Set([via, ...expected])].filter((n) => answering.includes(n));
  if (asked.length === 0) throw new TaskError(`no member answers over SSH: ${problems.join('; ')}`);
  const views = new Map<string, ClusterState>();
  await Promise.all(
    asked.map(async (name) => {
      try {
        views.set(name, await clusterState(await ctx.delegate(name), { port: v.restapi.port }));
      } catch (e) {
        if (expected.includes(name)) problems.push(`${name} Patroni does not answer: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
    }),
  );
  const named = new Map([...views].sort(([a], [b]) => a.localeCompare(b)).map(([name, c]) => [name, leaderOf(c).name]));
  if (named.size === 0) throw new TaskError(`no member's Patroni answers: ${problems.join('; ')}`);
  if (new Set(named.values()).size > 1) problems.push(`members disagree on the leader (${[...named].map(([n, l]) => `${n} says ${l}`).join(', ')})`);
  // The view of a member that names itself leader, else the first by name.
  const [pick] = [...named].find(([name, l]) => name === l) ?? [...named][0]!;
  const cluster = views.get(pick)!;
  const leader = leaderOf(cluster);
  // Set by a DBA (or left by a run that died): a rollout or switchover must not go around it.
  if (cluster.paused) problems.push(`the cluster is paused (maintenance mode, set with patronictl pause): resume it first (patronictl -c ${v.configFile} resume)`);
  for (const name of expected) {
    const m = cluster.members.find((x) => x.name === name);
    if (!m) problems.push(`${name} is not a member of cluster ${v.scope}`);
    else if (!isRunning(m)) problems.push(`${name} is ${m.state}`);
  }
  let links: ReplicaLink[] = [];
  if (!problems.some((p) => p.startsWith(`${leader.name} `))) {
    links = await replicationLinks(await ctx.delegate(leader.name), v.postgresql.port);
    for (const name of expected.filter((n) => n !== leader.name)) {
      const p = replicaProblem(name, links, maxLagBytes);
      if (p && !problems.some((x) => x.startsWith(`${name} `))) problems.push(p);
    }
  }
  return { cluster, leader, links, problems };
}

/**
 * Before a rollout or switchover starts: temporary states nobody recorded (someone's hand, or a
 * run older than undo records) that it must not go around. A rollout's own nosync is recorded
 * and put back before the pre-checks run, so any tag seen here is not the inventory's.
 */
export function leftoverProblems(c: ClusterState, v: PatroniVars): string[] {
  if (v.tags.nosync) return [];
  return c.members
    .filter((m) => m.nosync)
    .map((m) => `${m.name} has tags.nosync set, which the inventory does not: run site.ts (it writes ${v.configFile} back), or remove the tag and reload Patroni`);
}

/**
 * leftoverProblems, given Patroni a few loops to publish a tag a run just put back (its undo,
 * or the rollout before this one, reloaded the file; the member key changes a loop later).
 */
export async function leftoversSettled(remote: Parameters<typeof clusterState>[0], c: ClusterState, v: PatroniVars): Promise<string[]> {
  let problems = leftoverProblems(c, v);
  for (const end = Date.now() + (v.dcs.loopWait * 2 + 5) * 1000; problems.length && Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 1000));
    problems = leftoverProblems(await clusterState(remote, { port: v.restapi.port }), v);
  }
  return problems;
}

/** Throws a TaskError listing every problem, with the cluster as Patroni reports it. */
export function requireHealthy(h: Health, what: string): void {
  if (h.problems.length) throw new TaskError(`${what}: ${h.problems.join('; ')} [${describeCluster(h.cluster)}]`);
}
