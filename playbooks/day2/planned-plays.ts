/**
 * The plays of switchover.ts and failover-drill.ts: pre-checks on every member, then one
 * step on whichever member leads right now (learned live; the inventory's order means nothing).
 */
import type { RoleContext } from '../../src/engine/role.ts';
import { TaskError, type RunTask } from '../../src/engine/types.ts';
import { shQuote } from '../../src/transport/types.ts';
import { definePlay, type Play } from '../../src/engine/play.ts';
import patroni from '../../roles/patroni/index.ts';
import { clusterState, describeCluster, isRunning, type Member } from '../../roles/patroni/live.ts';
import { layoutFor, type ClusterLayout } from './lib/context.ts';
import { clearUndo, recordUndo, stateKey, stepsFor, varsOnly, waitUntil } from '../../src/toolkit/index.ts';
import { clusterHealth, leftoversSettled, requireHealthy, type Health } from './lib/members.ts';
import { routesNotReady } from './lib/balancers.ts';
import { writeThrough } from './lib/pg.ts';
import { pickCandidate, switchover } from './lib/switchover.ts';
import { rolloutSteps, type RolloutVars } from './lib/vars.ts';

type Ctx = RoleContext<RolloutVars>;
const step = stepsFor<RolloutVars>();

/** The cluster's health before the step, asked once for every member. */
const HEALTH = stateKey<Promise<Health>>('planned:health');
/** Temporary states nobody recorded (a hand-made drain, a nosync tag), asked once. */
const LEFTOVERS = stateKey<Promise<string[]>>('planned:leftovers');

/** Runs `fn` on the live leader only; the others report who did it. */
function onLeader(name: string, fn: (ctx: Ctx, layout: ClusterLayout, leader: Member, members: Member[]) => Promise<string>): RunTask {
  return step({
    name,
    inCheckMode: 'run',
    async run(ctx) {
      const layout = layoutFor(ctx.host, ctx.inventory);
      const names = layout.members.map((h) => h.name);
      // Learned once, before anyone acts: a member checking while the leader hands over would see it mid-way.
      const health = await ctx.shared.once(HEALTH, () => clusterHealth(ctx, ctx.host.name, names, layout.patroni, ctx.vars.maxLagBytes));
      requireHealthy(health, 'refusing: the cluster is not healthy');
      const left = await ctx.shared.once(LEFTOVERS, async () => [...(await leftoversSettled(ctx, health.cluster, layout.patroni)), ...(await routesNotReady(ctx, layout.balancers, names))]);
      if (left.length) throw new TaskError(`refusing: ${left.join('; ')}`);
      if (health.leader.name !== ctx.host.name) return { changed: false, message: `the leader (${health.leader.name}) does it` };
      const summary = await fn(ctx, layout, health.leader, health.cluster.members);
      return ctx.check ? { changed: true, summary: `would ${summary}` } : { changed: true, summary };
    },
  });
}

const planned = onLeader('switchover: hand the leader role to a healthy synchronous standby', async (ctx, layout, leader, members) => {
  const candidate = pickCandidate(members, leader, ctx.vars.candidate, layout.patroni.dcs.synchronousMode);
  if (ctx.check) return `switch over ${leader.name} -> ${candidate.name}`;
  const s = await switchover(ctx, layout, leader, candidate, ctx.vars.switchoverTimeoutSeconds);
  // Done when the old leader streams from the new one again: the cluster is whole.
  const names = layout.members.map((h) => h.name);
  await waitUntil(
    `${leader.name} to rejoin as a replica of ${candidate.name}`,
    ctx.vars.memberTimeoutSeconds * 1000,
    async () => {
      const h = await clusterHealth(ctx, candidate.name, names, layout.patroni, ctx.vars.maxLagBytes).catch((e: unknown) => String(e));
      return typeof h !== 'string' && h.problems.length === 0 ? { done: true, value: undefined } : { done: false, seen: typeof h === 'string' ? h : h.problems.join('; ') };
    },
    { intervalMs: 1000 },
  );
  return `switched over ${leader.name} -> ${candidate.name}; writes through the virtual IP after ${(s.writableAfterMs / 1000).toFixed(1)} s; ${leader.name} streams from it`;
});

/**
 * Failover drill: the leader's Patroni and PostgreSQL are killed (SIGKILL, as in a crash: no
 * clean handover, the leader key expires after ttl), a replica must take over and take writes
 * through the virtual IP; then the old leader is started again and must rejoin as a replica.
 */
const drill = onLeader('failover drill: kill the leader, a replica takes over, the old leader rejoins', async (ctx, layout, leader, members) => {
  const v = layout.patroni;
  // In synchronous mode Patroni promotes only a synchronous standby: without one, killing the
  // leader is an outage until it comes back, not a drill.
  if (v.dcs.synchronousMode && !members.some((m) => m.role === 'sync_standby' && isRunning(m)))
    throw new TaskError(`refusing the drill: no synchronous standby right now (${describeCluster({ members })}), so no replica could take over`);
  if (ctx.check) return `kill Patroni and PostgreSQL on ${leader.name} and wait for a failover`;
  const unit = shQuote(`${v.serviceName}.service`);
  const t0 = Date.now();
  // The whole unit's cgroup: Patroni and every PostgreSQL process, like a crash; then stopped,
  // or systemd restarts it (Restart=on-failure) and it takes its still-valid leader key back.
  await recordUndo(ctx, { id: 'patroni:drill-stopped', what: `${leader.name}: Patroni killed and stopped by a failover drill`, undo: `systemctl start -- ${unit}` });
  await ctx.run(`systemctl kill --signal=SIGKILL -- ${unit}; systemctl stop -- ${unit}`);
  let elected = 0;
  let writable = 0;
  try {
    const others = layout.members.filter((h) => h.name !== leader.name);
    const peer = await ctx.delegate(others[0]!.name);
    const fresh = await waitUntil(
      `a new leader after killing ${leader.name}`,
      (v.dcs.ttl * 3 + 30) * 1000,
      async () => {
        const cs = await clusterState(peer, { port: v.restapi.port }).catch(() => null);
        const l = cs?.members.find((m) => m.role === 'leader' && m.name !== leader.name && isRunning(m));
        return l ? { done: true, value: l } : { done: false, seen: cs ? describeCluster(cs) : 'no answer' };
      },
      { intervalMs: 500 },
    );
    elected = Date.now() - t0;
    if (layout.vip) {
      const vip = layout.vip;
      const onNew = await ctx.delegate(fresh.name);
      await waitUntil(`writes through ${vip} on ${fresh.name}`, 120_000, async () => {
        const w = await writeThrough(onNew, vip, layout.writePort, v.authentication.superuser.username, v.authentication.superuser.password).catch((e: unknown) => String(e));
        return typeof w !== 'string' && w.server === fresh.host && !w.inRecovery ? { done: true, value: undefined } : { done: false, seen: typeof w === 'string' ? w : `landed on ${w.server}` };
      }, { intervalMs: 200 });
      writable = Date.now() - t0;
    }
    ctx.log(`new leader ${fresh.name} after ${(elected / 1000).toFixed(1)} s; writes through the virtual IP after ${(writable / 1000).toFixed(1)} s`);
  } finally {
    // Whatever happened, the old leader's Patroni runs again.
    await ctx.run(`systemctl start -- ${unit}`);
    await clearUndo(ctx, 'patroni:drill-stopped');
  }
  await waitUntil(
    `${leader.name} to rejoin as a replica`,
    v.startTimeoutSeconds * 1000,
    async () => {
      const cs = await clusterState(ctx, { port: v.restapi.port }).catch(() => null);
      const me = cs?.members.find((m) => m.name === leader.name);
      return me && me.role !== 'leader' && isRunning(me) ? { done: true, value: undefined } : { done: false, seen: cs ? describeCluster(cs) : 'no answer' };
    },
    { intervalMs: 1000 },
  );
  if (elected === 0) throw new TaskError('no failover observed');
  return `failover from ${leader.name}: new leader after ${(elected / 1000).toFixed(1)} s, writes through the virtual IP after ${(writable / 1000).toFixed(1)} s; ${leader.name} rejoined as a replica`;
});

export function switchoverPlay(hosts = 'postgres'): Play {
  return definePlay({ name: 'switchover', hosts, roles: [varsOnly(patroni), rolloutSteps('planned switchover', () => [planned])], anyErrorsFatal: true });
}

export function failoverDrillPlay(hosts = 'postgres'): Play {
  return definePlay({ name: 'failover drill', hosts, roles: [varsOnly(patroni), rolloutSteps('failover drill', () => [drill])], anyErrorsFatal: true });
}
