/**
 * status: read-only. Prints the cluster as it is now — Patroni members (role, state,
 * timeline, lag), where HAProxy routes writes (5000) and reads (5001) on each balancer, and
 * which balancer holds the virtual IP. Changes nothing; safe at any time.
 *
 *   npx rigger run playbooks/status.ts -i inventories/lab
 */
import type { RunTask } from '../src/engine/types.ts';
import { definePlay, definePlaybook, parallel } from '../src/engine/play.ts';
import { clusterState, type ClusterState } from '../roles/patroni/exports.ts';
import { routedTo, serverStates } from '../roles/haproxy/live.ts';
import { holdsVip } from '../roles/keepalived/live.ts';
import haproxy from '../roles/haproxy/index.ts';
import keepalived from '../roles/keepalived/index.ts';
import { TaskError, stateKey, varsOf } from '../src/toolkit/index.ts';

/** What each database host read of the cluster: its state, or why it could not say. */
const membersRead = stateKey<Map<string, ClusterState | string>>('status:members-read');

const members: RunTask = {
  kind: 'run',
  name: 'patroni members',
  inCheckMode: 'run',
  // Every reachable member asks; the first in inventory order that got an answer prints it,
  // so the table is there exactly when a member (even the first one) is down.
  run: async (ctx) => {
    let reads = ctx.shared.get(membersRead);
    if (!reads) ctx.shared.set(membersRead, (reads = new Map()));
    reads.set(ctx.host.name, await clusterState(ctx).catch((e: unknown) => (e instanceof Error ? e.message : String(e))));
    await ctx.barrier('status: members read');
    const order = (ctx.inventory.groups.get('postgres')?.hosts ?? []).filter((n) => reads.has(n));
    const teller = order.find((n) => typeof reads.get(n) !== 'string') ?? order[0];
    if (teller !== ctx.host.name) return { changed: false };
    const c = reads.get(ctx.host.name)!;
    if (typeof c === 'string') throw new TaskError(`no member could tell the cluster's state; ${ctx.host.name}: ${c}`);
    for (const m of c.members)
      ctx.log(
        `${m.name.padEnd(8)} ${m.role.padEnd(12)} ${m.state.padEnd(10)} tl ${m.timeline ?? '?'}  lag ${m.role === 'leader' ? '-' : (m.lagBytes ?? 'unknown')}${m.pendingRestart ? '  pending restart' : ''}`,
      );
    const absent = (ctx.inventory.groups.get('postgres')?.hosts ?? []).filter((n) => !c.members.some((m) => m.name === n));
    if (absent.length) ctx.log(`not a member now: ${absent.join(', ')}`);
    return { changed: false };
  },
};

const routes: RunTask = {
  kind: 'run',
  name: 'haproxy routes and virtual IP',
  inCheckMode: 'run',
  run: async (ctx) => {
    const hv = varsOf(haproxy, ctx.host, ctx.inventory);
    const states = await serverStates(ctx, hv.adminSocket);
    // Asked of keepalived itself: a configured VIP with keepalived stopped is no standby.
    const kv = ctx.host.vars['keepalived'] !== undefined ? varsOf(keepalived, ctx.host, ctx.inventory) : undefined;
    const running = kv ? (await ctx.exec('systemctl is-active --quiet keepalived.service')).code === 0 : false;
    const holds = kv && running ? await holdsVip(ctx, kv.virtualIp) : false;
    const out = states.filter((x) => (x.backend === hv.primaryName || x.backend === hv.replicaName) && x.admin !== 'ready').map((x) => `${x.server} ${x.admin.toUpperCase()} in ${x.backend}`);
    ctx.log(
      `${hv.primaryPort} (writes) -> ${routedTo(states, hv.primaryName).join(', ') || 'NONE'}; ` +
        `${hv.replicaPort} (reads) -> ${routedTo(states, hv.replicaName).join(', ') || 'NONE'}` +
        (out.length ? `; OUT OF POOL: ${out.join(', ')}` : '') +
        (kv ? `; ${!running ? `keepalived NOT RUNNING (virtual IP ${kv.virtualIp})` : holds ? `holds the virtual IP ${kv.virtualIp}` : 'standby for the virtual IP'}` : ''),
    );
    return { changed: false };
  },
};

// readOnly: runs without the run lock, alongside a run that holds it (an upgrade in progress).
export default definePlaybook(
  { name: 'status', readOnly: true },
  parallel(
    definePlay({ name: 'cluster', hosts: 'postgres', tasks: () => [members] }),
    definePlay({ name: 'routing', hosts: 'balancers', tasks: () => [routes] }),
  ),
);
