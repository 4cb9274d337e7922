/**
 * The database side of a rollout as plays: pre-checks on every member (all at once, any
 * failure stops the run before anything changes), then the members one at a time in the
 * order live state gives (async replicas, the sync standby, the leader last), a gate after
 * each: the whole cluster healthy again before the next member is touched.
 */
import { TaskError } from '../../src/engine/types.ts';
import { definePlay, type GateContext, type HookContext, type HostView } from '../../src/engine/play.ts';
import patroni from '../../roles/patroni/index.ts';
import { clusterState } from '../../roles/patroni/live.ts';
import { dataDirOf, postgresVersionOf, withRelease } from '../../roles/patroni/render.ts';
import { PATRONI_VERSION_PROBE, splitBrainRisk } from '../../roles/patroni/rules.ts';
import { layoutFor } from './lib/context.ts';
import { stateKey, stepsFor, varsOf, varsOnly } from '../../src/toolkit/index.ts';
import { clusterHealth, leftoversSettled, requireHealthy, rolloutOrder, type Health } from './lib/members.ts';
import { routesNotReady } from './lib/balancers.ts';
import { ETCD_STACK, planUpgrade, requireRoom, stackPackages } from './lib/packages.ts';
import { oldestTransactionSeconds } from './lib/pg.ts';
import { restartNeeded, rollMember } from './lib/rollout.ts';
import { standbyLimitsLowered } from '../../roles/patroni/sql.ts';
import { describeWork, rememberWork, rollStep, type MemberWork } from './lib/work.ts';
import { rolloutSteps, type RolloutPlays, type RolloutVars } from './lib/vars.ts';

const step = stepsFor<RolloutVars>();

/** The standby limits the leader lowers: it restarts first. */
const LEADER_FIRST = stateKey<string[]>('rollout:db:leader-first');
/** The cluster's health before the rollout, asked once for every member. */
const HEALTH = stateKey<Promise<Health>>('rollout:db:health');
/** Temporary states nobody recorded (a hand-made drain, a nosync tag), asked once. */
const LEFTOVERS = stateKey<Promise<string[]>>('rollout:db:leftovers');

/** The database play's share of `packages`: its own stack, or the list without what the etcd play owns. */
function dbPackages(r: RolloutVars): RolloutVars {
  if (!Array.isArray(r.packages)) return r;
  const mine = r.packages.filter((p) => !ETCD_STACK.includes(p));
  return { ...r, packages: mine.length ? mine : 'none' };
}

const precheck = step({
  name: 'rollout: pre-checks (cluster healthy, replication, transactions, disk, what would change)',
  inCheckMode: 'run',
  async run(ctx) {
    const r = ctx.vars;
    const layout = layoutFor(ctx.host, ctx.inventory);
    const v = withRelease(layout.patroni, ctx.facts);
    const names = layout.members.map((h) => h.name);
    const health = await ctx.shared.once(HEALTH, () => clusterHealth(ctx, ctx.host.name, names, v, r.maxLagBytes));
    requireHealthy(health, 'refusing to start: the cluster is not healthy');
    const left = await ctx.shared.once(LEFTOVERS, async () => [...(await leftoversSettled(ctx, health.cluster, v)), ...(await routesNotReady(ctx, layout.balancers, names))]);
    if (left.length) throw new TaskError(`refusing to start: ${left.join('; ')}`);

    // An upgrade is when a Patroni with the split-brain bug should be replaced: say so.
    const risk = splitBrainRisk((await ctx.exec(PATRONI_VERSION_PROBE)).stdout);
    if (risk) ctx.warn(risk);

    const tx = await oldestTransactionSeconds(ctx, v.postgresql.port);
    if (tx.seconds > r.maxTransactionSeconds)
      throw new TaskError(`refusing to start: a transaction has been open for ${tx.seconds} s on ${ctx.host.name} (${tx.who}; bound ${r.maxTransactionSeconds} s)`);

    const rv = dbPackages(r);
    const plan = await planUpgrade(ctx, rv, stackPackages(postgresVersionOf(v)));
    await requireRoom(ctx, plan, ['/var/cache/apt/archives', '/usr', '/var/lib'], r.minFreeDiskMiB);
    const restart = await restartNeeded(ctx, v, dataDirOf(v));
    const work: MemberWork = { upgrades: plan.upgrades, aptArgs: plan.args, restartReasons: restart.reasons };
    rememberWork(ctx, 'database', work);
    if (health.leader.name === ctx.host.name) {
      const lowered = await standbyLimitsLowered(ctx, v.postgresql.port);
      if (lowered.length) {
        ctx.shared.set(LEADER_FIRST, lowered);
        ctx.log(`lowered ${lowered.join(', ')}: the leader restarts first, in place (a standby may not run below its primary)`);
      }
    }
    return { changed: false, message: `${describeWork(work)} [${health.cluster.members.map((m) => `${m.name} ${m.role}`).join(', ')}]` };
  },
});

const roll = rollStep(
  'rollout: this member (drain, checkpoint, upgrade, restart, back in the pool)',
  'database',
  async (ctx, work) => {
    const layout = layoutFor(ctx.host, ctx.inventory);
    return rollMember(ctx, layout, work, ctx.vars, dataDirOf(withRelease(layout.patroni, ctx.facts)), ctx.shared.has(LEADER_FIRST));
  },
  // After the leader lowered a standby limit every standby restarts to follow it, whether or
  // not Patroni flagged it yet (it holds standbys at the leader's value until then).
  (ctx, work) => {
    const lowered = ctx.shared.get(LEADER_FIRST);
    return lowered ? { ...work, forceRestart: true, restartReasons: [...work.restartReasons, `the leader lowers ${lowered.join(', ')}`] } : work;
  },
);

/** Live order: async replicas, the sync standby, the leader (first when a lowered limit needs it). */
async function order(hosts: HostView[], ctx: HookContext): Promise<HostView[]> {
  const first = hosts[0];
  if (!first) return hosts;
  const v = varsOf(patroni, first.host, ctx.inventory);
  const cs = await clusterState(first, { port: v.restapi.port });
  const ranked = rolloutOrder(cs.members, ctx.shared.has(LEADER_FIRST)).map((m) => m.name);
  const pos = (h: HostView) => (ranked.indexOf(h.host.name) + ranked.length + 1) % (ranked.length + 1);
  const out = [...hosts].sort((a, b) => pos(a) - pos(b));
  ctx.log(`order: ${out.map((h) => h.host.name).join(', ')} (from live roles: ${cs.members.map((m) => `${m.name} ${m.role}`).join(', ')})`);
  return out;
}

/** After each member: the whole cluster healthy (every member answers, streams, within the bound). */
async function gate(g: GateContext): Promise<void> {
  const at = g.batch[0] ?? g.all[0];
  if (!at) return;
  const v = varsOf(patroni, at.host, g.inventory);
  const r = varsOf(rolloutSteps('gate', () => []), at.host, g.inventory);
  const names = layoutFor(at.host, g.inventory).members.map((h) => h.name);
  const via = g.all.find((h) => names.includes(h.host.name))?.host.name ?? at.host.name;
  const what = `the cluster is not healthy after ${g.batch.map((h) => h.host.name).join(', ')}: rollout stopped (the cluster keeps serving; fix the cause and run again)`;
  // A moment's grace (replicas reconnecting after a restart); a partitioned host stays a problem.
  const end = Date.now() + r.gateGraceSeconds * 1000;
  for (;;) {
    const health = await clusterHealth(g, via, names, v, r.maxLagBytes);
    if (health.problems.length === 0) return;
    if (Date.now() >= end) return requireHealthy(health, what);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

/** The two database plays of a rollout, on the group `hosts` (Patroni's members). */
export function databasePlays(hosts = 'postgres'): RolloutPlays {
  return {
    checks: definePlay({ name: 'pre-checks: database', hosts, roles: [varsOnly(patroni), rolloutSteps('database pre-checks', () => [precheck])], anyErrorsFatal: true }),
    roll: definePlay({ name: 'database: one member at a time, leader last', hosts, roles: [varsOnly(patroni), rolloutSteps('roll database members', () => [roll])], serial: 1, order, gate }),
  };
}
