/**
 * The plays of remove.ts around the roles' converge: the removal (checks, then the departing
 * host taken out of the live cluster) and the check that it is gone everywhere. Both run their
 * steps once, on the first database member that stays (the coordinator); the other members
 * skip them. The departing host is reached by name (ctx.delegate); it is in no play.
 */
import type { RoleContext } from '../../src/engine/role.ts';
import type { RunTask } from '../../src/engine/types.ts';
import { definePlay, type Play } from '../../src/engine/play.ts';
import etcd from '../../roles/etcd/index.ts';
import patroni from '../../roles/patroni/index.ts';
import { departingHosts, stateKey, stepsFor, TaskError, varsOf, varsOnly } from '../../src/toolkit/index.ts';
import { memberList } from '../../roles/etcd/live.ts';
import { clientUrls } from '../../roles/etcd/exports.ts';
import { layoutFor } from './lib/context.ts';
import { waitReadSessionsGone } from './lib/balancers.ts';
import { retireBalancer } from './lib/retire-balancer.ts';
import {
  balancersListing,
  checkRemoval,
  clearDrains,
  coordinator,
  etcdctlHost,
  drainEverywhere,
  forgetPatroniMember,
  removeEtcdMember,
  retireEtcd,
  slotGone,
  stopPatroni,
  survivorsView,
  type Removal,
} from './lib/remove.ts';
import { rolloutSteps, type RolloutVars } from './lib/vars.ts';

type Ctx = RoleContext<RolloutVars>;
const step = stepsFor<RolloutVars>();

/** What the pre-check found, per departing host, for the steps after it. */
const REMOVALS = stateKey<Removal[]>('remove:removals');

const onCoordinator = (c: Ctx) => c.host.name === coordinator(c.inventory, varsOf(patroni, c.host, c.inventory));

function departing(ctx: Ctx) {
  const hosts = departingHosts(ctx.inventory);
  if (hosts.length === 0) throw new TaskError('remove.ts: no departing host (-l HOST names it)');
  return hosts;
}

const precheck: RunTask = step({
  name: 'remove: pre-checks (not the leader, etcd quorum kept, what it is a member of)',
  inCheckMode: 'run',
  when: onCoordinator,
  async run(ctx) {
    const v = varsOf(patroni, ctx.host, ctx.inventory);
    const found: Removal[] = [];
    for (const h of departing(ctx)) found.push(await checkRemoval(ctx, ctx.inventory, h, v));
    ctx.shared.set(REMOVALS, found);
    for (const r of found)
      if (!r.reachable)
        ctx.warn(
          `${r.host.name} does not answer over SSH (${r.unreachableWhy}): it is removed from the other hosts only; Patroni, PostgreSQL and etcd on it were not stopped or disabled. ` +
            `Do not boot it on this network again with its old disk: wipe it (or re-create it) before enroll.ts.`,
        );
    return {
      changed: false,
      message: found
        .map((r) => {
          const of = [r.patroniMember ? 'Patroni' : '', r.etcdMember ? 'etcd' : ''].filter(Boolean);
          return `${r.host.name}: ${of.length ? `member of ${of.join(' and ')}` : 'no longer a member of Patroni or etcd (nothing to take out; the others converge)'}${r.reachable ? '' : ', unreachable'}; leader ${r.leader}`;
        })
        .join('; '),
    };
  },
});

const takeOut: RunTask = step({
  name: 'remove: out of the read pools, out of Patroni, out of etcd',
  when: onCoordinator,
  async run(ctx) {
    const v = varsOf(patroni, ctx.host, ctx.inventory);
    const layout = layoutFor(ctx.host, ctx.inventory);
    const done: string[] = [];
    for (const r of ctx.shared.get(REMOVALS) ?? []) {
      const me = r.host.name;
      const remote = r.reachable ? await ctx.delegate(me) : undefined;
      // First: a balancer on the leaving host gives the virtual IP away and stops routing.
      if (remote && r.host.groups.includes(v.groups.balancers)) done.push(...(await retireBalancer(ctx, ctx.inventory, r.host, remote, v.groups.balancers)));
      const drained = await drainEverywhere(ctx, ctx.inventory, layout.balancers, me);
      if (drained.length) {
        const { left } = await waitReadSessionsGone(ctx, layout.balancers, me, ctx.vars.drainTimeoutSeconds * 1000);
        if (left > 0) ctx.warn(`${me} still had ${left} read session(s) after ${ctx.vars.drainTimeoutSeconds} s of drain; they end with it`);
        done.push(`${me} drained on ${drained.join(', ')}`);
      }
      if (remote && r.host.groups.includes(v.groups.postgres) && (await stopPatroni(remote, varsOf(patroni, r.host, ctx.inventory)))) done.push(`Patroni stopped and disabled on ${me}`);
      if (r.patroniMember) {
        await forgetPatroniMember(ctx, ctx.inventory, v, me, (v.dcs.ttl + 30) * 1000);
        done.push(`${me} gone from Patroni's members`);
      }
      if (r.etcdMember) {
        // Before its etcd stops: a member stopped first would count against the quorum.
        await removeEtcdMember(ctx, ctx.inventory, v, r.etcdMember);
        done.push(`etcd member ${r.etcdMember.id} (${me}) removed`);
      }
      if (remote && r.host.groups.includes(v.groups.etcd)) {
        const retired = await retireEtcd(remote, varsOf(etcd, r.host, ctx.inventory).dataDir);
        if (retired.length) done.push(`on ${me}: ${retired.join(', ')}`);
      }
    }
    return done.length ? { changed: true, summary: done.join('; ') } : { changed: false, message: 'nothing left to take out' };
  },
});

const verify: RunTask = step({
  name: 'remove: gone from Patroni, etcd, every balancer and the leader\'s slots',
  when: onCoordinator,
  async run(ctx) {
    const v = varsOf(patroni, ctx.host, ctx.inventory);
    const layout = layoutFor(ctx.host, ctx.inventory);
    const out: string[] = [];
    for (const h of departing(ctx)) {
      const me = h.name;
      const listing = await balancersListing(ctx, layout.balancers, me);
      if (listing.length) throw new TaskError(`${me} is still in HAProxy on ${listing.join(', ')} (its config was not reloaded)`);
      await clearDrains(ctx, layout.balancers, me);
      const c = await survivorsView(ctx, ctx.inventory, v);
      if (c.members.some((m) => m.name === me)) throw new TaskError(`${me} is still listed by Patroni`);
      const list = await memberList(await etcdctlHost(ctx, ctx.inventory, v), clientUrls(ctx.inventory, v.groups.etcd));
      if (!list.ok) throw new TaskError(`etcd member list: ${list.error}`);
      if (list.members.some((m) => m.name === me)) throw new TaskError(`${me} is still an etcd member`);
      const leader = c.members.find((m) => m.role === 'leader')?.name;
      if (!leader) throw new TaskError('no leader to check replication slots on');
      out.push(`${me} gone from HAProxy, Patroni and etcd; ${await slotGone(ctx, leader, v, me, (v.dcs.loopWait * 3 + 10) * 1000)}`);
    }
    return { changed: false, message: out.join('; ') };
  },
});

/** Checks, then the departing hosts taken out of the live cluster; any failure stops the run. */
export function removalPlay(hosts = 'postgres'): Play {
  return definePlay({ name: 'remove: checks, then out of the live cluster', hosts, roles: [varsOnly(patroni), rolloutSteps('remove', () => [precheck, takeOut])], anyErrorsFatal: true });
}

/** After the others converged without them: gone everywhere. */
export function removedPlay(hosts = 'postgres'): Play {
  return definePlay({ name: 'remove: gone everywhere', hosts, roles: [varsOnly(patroni), rolloutSteps('removed check', () => [verify])], anyErrorsFatal: true });
}
