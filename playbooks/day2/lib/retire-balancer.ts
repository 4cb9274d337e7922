/**
 * A departing database host that is also a balancer (HAProxy + keepalived on the database
 * hosts): it stops competing for the virtual IP and stops routing. When it holds the address,
 * keepalived stops first and another balancer takes it within an advert, before anything else
 * on the host goes; then keepalived and HAProxy are stopped and disabled for good. The others'
 * configs (keepalived peers, HAProxy backends) are the roles' business: they converge without it.
 */
import type { Host, Inventory } from '../../../src/inventory/types.ts';
import type { TaskContext } from '../../../src/engine/types.ts';
import { hostNamesOf, varsOf, waitUntil, type Remote } from '../../../src/toolkit/index.ts';
import keepalived from '../../../roles/keepalived/index.ts';
import { holdsVip } from '../../../roles/keepalived/live.ts';

type Reach = Pick<TaskContext, 'delegate'>;

/** What was done on `host` (empty: nothing left to do). `group`: the balancers' group, which no longer holds it. */
export async function retireBalancer(ctx: Reach, inv: Inventory, host: Host, remote: Remote, group: string): Promise<string[]> {
  const done: string[] = [];
  const vip = host.vars['keepalived'] ? varsOf(keepalived, host, inv).virtualIp : undefined;
  if (vip && (await holdsVip(remote, vip))) {
    await remote.exec('systemctl stop keepalived.service');
    const others = hostNamesOf(inv, group);
    await waitUntil('another balancer to take the virtual IP', 30_000, async () => {
      const held: string[] = [];
      for (const n of others) if (await holdsVip(await ctx.delegate(n), vip)) held.push(n);
      return held.length === 1 ? { done: true, value: undefined } : { done: false, seen: `held by ${held.join(', ') || 'nobody'}` };
    }, { intervalMs: 200 });
    done.push(`virtual IP handed over by ${host.name}`);
  }
  const r = await remote.exec(
    [
      'for u in keepalived haproxy; do',
      '  if systemctl is-enabled --quiet $u.service 2>/dev/null || systemctl is-active --quiet $u.service; then systemctl disable --now $u.service >/dev/null 2>&1 && echo $u; fi',
      'done',
    ].join('\n'),
  );
  const stopped = r.stdout.split('\n').filter(Boolean);
  if (stopped.length) done.push(`${stopped.map((u) => (u === 'haproxy' ? 'HAProxy' : u)).join(' and ')} stopped and disabled on ${host.name}`);
  return done;
}
