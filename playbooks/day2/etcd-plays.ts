/**
 * The etcd side of a rollout: pre-checks (quorum healthy, every member started, what would
 * change), then one member at a time with the leader last — its leadership handed to an
 * already rolled member first — and the quorum healthy again before the next.
 */
import { TaskError } from '../../src/engine/types.ts';
import { shQuote } from '../../src/transport/types.ts';
import { definePlay, type GateContext, type HookContext, type HostView } from '../../src/engine/play.ts';
import etcd from '../../roles/etcd/index.ts';
import { etcdctl, healthAndMembers, quorum } from '../../roles/etcd/live.ts';
import { type Remote, stepsFor, waitUntil } from '../../src/toolkit/index.ts';
import { httpUrl, inventoryMembers } from '../../roles/etcd/render.ts';
import type { EtcdVars } from '../../roles/etcd/vars.ts';
import { varsOf, varsOnly } from '../../src/toolkit/index.ts';
import { applyUpgrade, ETCD_STACK, planUpgrade, requireRoom } from './lib/packages.ts';
import { describeWork, rememberWork, rollStep, staleProcessScript, type MemberWork } from './lib/work.ts';
import { rolloutSteps, type RolloutPlays, type RolloutVars } from './lib/vars.ts';

const step = stepsFor<RolloutVars>();


/** On a host that is also a database member, the database play owns every other package. */
function etcdShare(r: RolloutVars, alsoDatabase: boolean): RolloutVars {
  if (r.packages === 'none') return r;
  if (Array.isArray(r.packages)) {
    const mine = r.packages.filter((p) => ETCD_STACK.includes(p));
    return { ...r, packages: mine.length ? mine : 'none' };
  }
  if (r.packages === 'all' && !alsoDatabase) return r;
  return { ...r, packages: ETCD_STACK };
}

const local = (v: EtcdVars) => [httpUrl('127.0.0.1', v.clientPort)];

/** Every member of the group started and the cluster healthy (null), or what was seen instead. */
async function quorumProblem(remote: Remote, ctx: { inventory: GateContext['inventory'] }, v: EtcdVars): Promise<string | null> {
  const q = await quorum(remote, local(v), inventoryMembers(ctx.inventory, v.group));
  return q.ok ? null : `etcd: ${q.seen}`;
}

/** `endpoint status` of this member: its id and the leader's, as hex (etcdctl's form). */
export function parseEndpointStatus(json: string): { id: string; leader: string } | null {
  const id = /"member_id"\s*:\s*(\d+)/.exec(json);
  const leader = /"leader"\s*:\s*(\d+)/.exec(json);
  return id && leader ? { id: BigInt(id[1]!).toString(16), leader: BigInt(leader[1]!).toString(16) } : null;
}

async function endpointStatus(remote: Remote, v: EtcdVars): Promise<{ id: string; leader: string }> {
  const r = await remote.exec(etcdctl(local(v), 'endpoint status -w json'));
  const s = r.code === 0 ? parseEndpointStatus(r.stdout) : null;
  if (!s) throw new TaskError(`etcdctl endpoint status: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  return s;
}

const precheck = step({
  name: 'rollout: etcd pre-checks (quorum healthy, what would change)',
  inCheckMode: 'run',
  async run(ctx) {
    const v = varsOf(etcd, ctx.host, ctx.inventory);
    // A member that just came back (a partition healed, a restart) needs some seconds to catch
    // up and answer healthy: up to a minute (or the role's health deadline) before refusing.
    const waitS = Math.min(v.healthTimeoutSeconds, 60);
    let problem = await quorumProblem(ctx, ctx, v);
    for (const end = Date.now() + waitS * 1000; problem && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 1000));
      problem = await quorumProblem(ctx, ctx, v);
    }
    if (problem) throw new TaskError(`refusing to start: ${problem} (still so after ${waitS} s)`);
    const alsoDb = ctx.host.groups.includes('postgres');
    const plan = await planUpgrade(ctx, etcdShare(ctx.vars, alsoDb), ETCD_STACK);
    await requireRoom(ctx, plan, ['/var/cache/apt/archives', '/usr', v.dataDir], ctx.vars.minFreeDiskMiB);
    const stale = (await ctx.exec(staleProcessScript('$(systemctl show -p MainPID --value etcd.service)'))).stdout.trim() === 'stale';
    const work: MemberWork = { upgrades: plan.upgrades, aptArgs: plan.args, restartReasons: stale ? ['etcd runs a binary replaced on disk'] : [] };
    rememberWork(ctx, 'etcd', work);
    return { changed: false, message: describeWork(work) };
  },
});

const roll = rollStep('rollout: this etcd member (leadership handed over, upgrade, restart, quorum healthy)', 'etcd', async (ctx, work) => {
  const v = varsOf(etcd, ctx.host, ctx.inventory);
  const done: string[] = [];
  const me = await endpointStatus(ctx, v);
  if (me.id === me.leader) {
    const { members } = await healthAndMembers(ctx, local(v));
    const other = members.ok ? members.members.find((m) => m.id !== me.id && m.name !== '') : undefined;
    if (other) {
      await ctx.run(etcdctl(local(v), `move-leader ${shQuote(other.id)}`));
      done.push(`leadership moved to ${other.name}`);
    }
  }
  if (work.aptArgs && work.upgrades.length) {
    await applyUpgrade(ctx, work.aptArgs);
    done.push('upgraded etcd');
  }
  // Debian's postinst may have restarted it already; restart only what still runs old code.
  if ((await ctx.exec(staleProcessScript('$(systemctl show -p MainPID --value etcd.service)'))).stdout.trim() === 'stale') {
    await ctx.run('systemctl restart etcd.service');
    done.push('restarted etcd');
  }
  const active = await ctx.exec('systemctl is-active --quiet etcd.service');
  if (active.code !== 0) await ctx.run('systemctl start etcd.service');
  await waitUntil(`the etcd quorum healthy after ${ctx.host.name}`, v.healthTimeoutSeconds * 1000, async () => {
    const p = await quorumProblem(ctx, ctx, v);
    return p === null ? { done: true, value: undefined } : { done: false, seen: p };
  });
  return done.join(', ') || 'nothing left to do';
});

/** The leader last: each member says whether it leads. */
async function order(hosts: HostView[], ctx: HookContext): Promise<HostView[]> {
  const leads = await Promise.all(
    hosts.map(async (h) => {
      const s = await endpointStatus(h, varsOf(etcd, h.host, ctx.inventory)).catch(() => null);
      return s !== null && s.id === s.leader;
    }),
  );
  return [...hosts.filter((_, i) => !leads[i]), ...hosts.filter((_, i) => leads[i])];
}

async function gate(g: GateContext): Promise<void> {
  const at = g.all[0];
  if (!at) return;
  const v = varsOf(etcd, at.host, g.inventory);
  const grace = varsOf(rolloutSteps('gate', () => []), at.host, g.inventory).gateGraceSeconds;
  await waitUntil('the etcd quorum whole again', grace * 1000, async () => {
    const p = await quorumProblem(at, g, v);
    return p === null ? { done: true, value: undefined } : { done: false, seen: p };
  }).catch((e: unknown) => {
    throw new TaskError(`${e instanceof Error ? e.message : String(e)}: rollout stopped (the quorum must be whole before the next member)`);
  });
}

export function etcdPlays(hosts = 'etcd'): RolloutPlays {
  return {
    checks: definePlay({ name: 'pre-checks: etcd', hosts, roles: [varsOnly(etcd), rolloutSteps('etcd pre-checks', () => [precheck])], anyErrorsFatal: true }),
    roll: definePlay({ name: 'etcd: one member at a time, leader last', hosts, roles: [varsOnly(etcd), rolloutSteps('roll etcd members', () => [roll])], serial: 1, order, gate }),
  };
}

