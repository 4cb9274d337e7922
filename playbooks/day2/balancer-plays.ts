/**
 * The balancers' side of a rollout: pre-checks (HAProxy running on each, the virtual IP on
 * exactly one), then one balancer at a time with the virtual IP's holder last. The holder
 * first gives the address away (keepalived stopped: the other takes it within an advert),
 * so the balancer being upgraded never carries client traffic; keepalived is started again
 * whatever happens.
 */
import type { RoleContext } from '../../src/engine/role.ts';
import { TaskError } from '../../src/engine/types.ts';
import { definePlay, type GateContext, type HookContext, type HostView } from '../../src/engine/play.ts';
import haproxy from '../../roles/haproxy/index.ts';
import keepalived from '../../roles/keepalived/index.ts';
import { holdsVip } from '../../roles/keepalived/live.ts';
import type { Inventory } from '../../src/inventory/types.ts';
import { clearUndo, recordUndo, stateKey, stepsFor, varsOf, varsOnly, waitUntil } from '../../src/toolkit/index.ts';
import { applyUpgrade, BALANCER_STACK, planUpgrade, requireRoom } from './lib/packages.ts';
import { describeWork, rememberWork, rollStep, staleProcessScript, type MemberWork } from './lib/work.ts';
import { rolloutSteps, type RolloutPlays, type RolloutVars } from './lib/vars.ts';

type Ctx = RoleContext<RolloutVars>;
const step = stepsFor<RolloutVars>();
type Reach = Pick<HookContext, 'delegate'>;

/** The balancers' pre-check verdict (a problem, or null), asked once for the group. */
const BALANCER_VERDICT = stateKey<Promise<string | null>>('rollout:balancers:check');


const stale = (unit: string) => staleProcessScript(`$(systemctl show -p MainPID --value ${unit}.service)`);

function groupOf(ctx: Ctx): string[] {
  const g = ctx.inventory.groups.get(ctx.vars.balancerGroup);
  if (!g?.hosts.includes(ctx.host.name)) throw new TaskError(`${ctx.host.name} is not in group "${ctx.vars.balancerGroup}" (rollout.balancerGroup)`);
  return g.hosts;
}

/** Which balancers hold the virtual IP right now (each asked over its own connection). */
async function holders(ctx: Reach, inv: Inventory, names: string[]): Promise<string[]> {
  const out = await Promise.all(
    names.map(async (n) => {
      const host = inv.hosts.get(n);
      if (!host?.vars['keepalived']) return null;
      const vip = varsOf(keepalived, host, inv).virtualIp;
      return (await holdsVip(await ctx.delegate(n), vip)) ? n : null;
    }),
  );
  return out.filter((n): n is string => n !== null);
}

async function balancerProblem(ctx: Reach, inv: Inventory, names: string[]): Promise<string | null> {
  const down: string[] = [];
  await Promise.all(
    names.map(async (n) => {
      const d = await ctx.delegate(n);
      if ((await d.exec('systemctl is-active --quiet haproxy.service && systemctl is-active --quiet keepalived.service')).code !== 0) down.push(n);
    }),
  );
  if (down.length) return `HAProxy or keepalived not running on ${down.join(', ')}`;
  const h = await holders(ctx, inv, names);
  return h.length === 1 ? null : `the virtual IP is held by ${h.length === 0 ? 'no balancer' : h.join(' and ')}`;
}

const precheck = step({
  name: 'rollout: balancer pre-checks (HAProxy up, the virtual IP on one balancer, what would change)',
  inCheckMode: 'run',
  async run(ctx) {
    // One verdict for the group, asked once: every balancer would ask every balancer the same.
    const p = await ctx.shared.once(BALANCER_VERDICT, () => balancerProblem(ctx, ctx.inventory, groupOf(ctx)));
    if (p) throw new TaskError(`refusing to start: ${p}`);
    const plan = await planUpgrade(ctx, ctx.vars, BALANCER_STACK);
    await requireRoom(ctx, plan, ['/var/cache/apt/archives', '/usr'], ctx.vars.minFreeDiskMiB);
    const sep = '@@RIGGER@@';
    const [ha = '', ka = ''] = (await ctx.exec(`(\n${stale('haproxy')}\n)\necho ${sep}\n(\n${stale('keepalived')}\n)`)).stdout.split(`${sep}\n`).map((s) => s.trim());
    const reasons = [...(ha === 'stale' ? ['HAProxy runs a binary replaced on disk'] : []), ...(ka === 'stale' ? ['keepalived runs a binary replaced on disk'] : [])];
    const work: MemberWork = { upgrades: plan.upgrades, aptArgs: plan.args, restartReasons: reasons };
    rememberWork(ctx, 'balancers', work);
    return { changed: false, message: describeWork(work) };
  },
});

const roll = rollStep('rollout: this balancer (virtual IP handed over, upgrade, HAProxy reloaded, keepalived back)', 'balancers', async (ctx, work) => {
  const me = ctx.host.name;
  const group = groupOf(ctx);
  const done: string[] = [];
  const hadVip = (await holders(ctx, ctx.inventory, [me])).length === 1;
  try {
    if (hadVip) {
      await recordUndo(ctx, { id: 'keepalived:stopped', what: `keepalived stopped on ${me} (virtual IP handed over for its upgrade)`, undo: 'systemctl start keepalived.service' });
      await ctx.run('systemctl stop keepalived.service');
      await waitUntil('another balancer to take the virtual IP', 30_000, async () => {
        const h = await holders(ctx, ctx.inventory, group);
        return h.length === 1 && h[0] !== me ? { done: true, value: undefined } : { done: false, seen: `held by ${h.join(', ') || 'nobody'}` };
      }, { intervalMs: 200 });
      done.push('virtual IP handed over');
    }
    if (work.aptArgs && work.upgrades.length) {
      await applyUpgrade(ctx, work.aptArgs);
      done.push('upgraded');
    }
    // A reload re-executes HAProxy's master from disk and keeps the listening sockets.
    if ((await ctx.exec(stale('haproxy'))).stdout.trim() === 'stale') {
      await ctx.run('systemctl reload haproxy.service');
      done.push('HAProxy reloaded onto the new binary');
    }
    if (!hadVip && (await ctx.exec(stale('keepalived'))).stdout.trim() === 'stale') {
      await ctx.run('systemctl restart keepalived.service');
      done.push('keepalived restarted');
    }
  } finally {
    // Whatever failed above, this balancer is a candidate for the address again.
    if ((await ctx.exec('systemctl is-active --quiet keepalived.service')).code !== 0) await ctx.run('systemctl start keepalived.service');
    if (hadVip) await clearUndo(ctx, 'keepalived:stopped');
  }
  return done.join(', ');
});

/** The virtual IP's holder last. */
async function order(hosts: HostView[], ctx: HookContext): Promise<HostView[]> {
  const held = new Set(await holders(ctx, ctx.inventory, hosts.map((h) => h.host.name)));
  return [...hosts.filter((h) => !held.has(h.host.name)), ...hosts.filter((h) => held.has(h.host.name))];
}

async function gate(g: GateContext): Promise<void> {
  const names = g.all.map((h) => h.host.name);
  // keepalived settles within a few adverts after a restart.
  const p = await waitUntil('the balancers settled (HAProxy up, the virtual IP on one)', 30_000, async () => {
    const x = await balancerProblem(g, g.inventory, names);
    return x === null ? { done: true, value: null } : { done: false, seen: x };
  }).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
  if (p) throw new TaskError(`${p}: rollout stopped`);
}

export function balancerPlays(hosts = 'balancers'): RolloutPlays {
  return {
    checks: definePlay({ name: 'pre-checks: balancers', hosts, roles: [varsOnly(haproxy), varsOnly(keepalived), rolloutSteps('balancer pre-checks', () => [precheck])], anyErrorsFatal: true }),
    roll: definePlay({ name: 'balancers: one at a time, the virtual IP holder last', hosts, roles: [varsOnly(haproxy), varsOnly(keepalived), rolloutSteps('roll balancers', () => [roll])], serial: 1, order, gate }),
  };
}
