/**
 * The last play of an enrollment: a new member counts as enrolled when it streams from the
 * leader within the lag bound and every balancer routes reads to it — not merely when Patroni
 * says "running" (its replication slot appears on the leader's next loop, then it streams).
 */
import { definePlay, type Play } from '../../src/engine/play.ts';
import patroni from '../../roles/patroni/index.ts';
import { describeCluster } from '../../roles/patroni/live.ts';
import { waitInReadPool } from './lib/balancers.ts';
import { layoutFor } from './lib/context.ts';
import { stepsFor, varsOnly, waitUntil } from '../../src/toolkit/index.ts';
import { clusterHealth } from './lib/members.ts';
import { rolloutSteps, type RolloutVars } from './lib/vars.ts';

const step = stepsFor<RolloutVars>();

const serving = step({
  name: 'enrolled: streams from the leader and serves reads',
  async run(ctx) {
    const layout = layoutFor(ctx.host, ctx.inventory);
    const me = ctx.host.name;
    await waitUntil(
      `${me} to stream from the leader within ${ctx.vars.maxLagBytes} bytes`,
      ctx.vars.memberTimeoutSeconds * 1000,
      async () => {
        const h = await clusterHealth(ctx, me, [me], layout.patroni, ctx.vars.maxLagBytes).catch((e: unknown) => String(e));
        return typeof h !== 'string' && h.problems.length === 0 ? { done: true, value: undefined } : { done: false, seen: typeof h === 'string' ? h : `${h.problems.join('; ')} [${describeCluster(h.cluster)}]` };
      },
      { intervalMs: 1000 },
    );
    if (!layout.patroni.tags.noloadbalance) await waitInReadPool(ctx, layout.balancers, me, ctx.vars.memberTimeoutSeconds * 1000);
    return { changed: false, message: `${me} streams${layout.patroni.tags.noloadbalance ? '' : ' and serves reads on every balancer'}` };
  },
});

export function enrolledPlay(hosts = 'postgres'): Play {
  return definePlay({ name: 'enrolled: streaming and in the read pool', hosts, roles: [varsOnly(patroni), rolloutSteps('enrollment check', () => [serving])], anyErrorsFatal: true });
}
