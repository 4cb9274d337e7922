/**
 * A planned switchover with a short write gap: the leader checkpoints first (its shutdown has
 * little left to write), every balancer watches the candidate and moves the write route the
 * moment it is promoted (instead of waiting inter x rise for its health checks), and the
 * switchover counts as done only when a write through the virtual IP lands on the new leader.
 */
import { TaskError, type TaskContext } from '../../../src/engine/types.ts';
import { waitUntil } from '../../../src/toolkit/index.ts';
import { api, apiBaseOf, describeCluster, isRunning, type ApiAuth, type Member } from '../../../roles/patroni/live.ts';
import { followPromotion, setRouteState } from './balancers.ts';
import type { ClusterLayout } from './context.ts';
import { checkpoint, writeThrough } from './pg.ts';

type Ctx = Pick<TaskContext, 'delegate' | 'log' | 'warn'>;

export interface SwitchoverResult {
  /** From the switchover request to the first write through the virtual IP on the new leader. */
  writableAfterMs: number;
  moved: string[];
}

/** The candidate Patroni would accept: the named one, else the synchronous standby (else a running replica when sync mode is off). */
export function pickCandidate(members: Member[], leader: Member, named: string | undefined, synchronous: boolean): Member {
  const others = members.filter((m) => m.name !== leader.name && isRunning(m));
  if (named !== undefined) {
    const m = others.find((x) => x.name === named);
    if (!m) throw new TaskError(`switchover candidate ${named} is not a replica of this cluster (members: ${members.map((x) => x.name).join(', ')})`);
    if (synchronous && m.role !== 'sync_standby') throw new TaskError(`switchover candidate ${named} is ${m.role}; in synchronous mode only the synchronous standby can take over without losing acknowledged writes`);
    return m;
  }
  const pick = others.find((m) => m.role === 'sync_standby') ?? (synchronous ? undefined : others.find((m) => m.role === 'replica'));
  if (!pick) throw new TaskError(`no healthy synchronous standby to switch over to: ${describeCluster({ members })}`);
  return pick;
}

export async function switchover(ctx: Ctx, layout: ClusterLayout, leader: Member, candidate: Member, timeoutS: number): Promise<SwitchoverResult> {
  const v = layout.patroni;
  const auth: ApiAuth = { username: v.restapi.username, password: v.restapi.password };
  const onLeader = await ctx.delegate(leader.name);
  const onCandidate = await ctx.delegate(candidate.name);
  await checkpoint(onLeader, v.postgresql.port);
  // Reads leave the candidate before it stops being a replica.
  await setRouteState(ctx, layout.balancers, candidate.name, 'drain');
  const t0 = Date.now();
  const following = followPromotion(ctx, layout.balancers, apiBaseOf(candidate), candidate.name, leader.name, timeoutS);
  following.catch(() => undefined);
  // New connections stop going to the leader about to shut down: refused at once, a client
  // retries onto the new leader the moment the route moves, instead of sitting in HAProxy's
  // connect retries against a dying server. Its open sessions write on until the shutdown.
  await setRouteState(ctx, layout.balancers, leader.name, 'drain', 'write');
  // The API answers a while after the promotion (Patroni polls for the result): the route
  // moves, and the write probe starts, on the promotion itself; a refusal ends the wait.
  const request = api(onLeader, { port: v.restapi.port, method: 'POST', path: '/switchover', body: { leader: leader.name, candidate: candidate.name }, auth, timeoutS }).then((r) => {
    if (!r.ok || r.status !== 200) throw new TaskError(`switchover ${leader.name} -> ${candidate.name} refused: ${r.ok ? `HTTP ${r.status}: ${r.body.slice(0, 300)}` : r.error}`);
  });
  request.catch(() => undefined);
  let moved: string[] = [];
  let failure: unknown;
  try {
    moved = await Promise.race([following, request.then(() => following)]);
  } catch (e) {
    failure = e;
  }
  // Admin states back to normal, both whatever happens to the other; health keeps each where its role says.
  const restored = await Promise.allSettled([setRouteState(ctx, layout.balancers, leader.name, 'ready', 'write'), setRouteState(ctx, layout.balancers, candidate.name, 'ready')]);
  const failed = restored.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
  if (failure !== undefined) {
    if (failed.length) ctx.warn(`putting the routes back after the switchover failed too (the next run puts them back): ${failed.join('; ')}`);
    throw failure;
  }
  if (failed.length) throw new TaskError(`putting the routes back after the switchover failed (the next run puts them back): ${failed.join('; ')}`);
  if (!layout.vip) {
    await request;
    return { writableAfterMs: Date.now() - t0, moved };
  }
  const vip = layout.vip;
  const candidateAddress = candidate.host;
  await waitUntil(
    `a write through ${vip}:${layout.writePort} to land on the new leader ${candidate.name}`,
    timeoutS * 1000,
    async () => {
      try {
        const w = await writeThrough(onCandidate, vip, layout.writePort, v.authentication.superuser.username, v.authentication.superuser.password);
        return w.server === candidateAddress && !w.inRecovery ? { done: true, value: undefined } : { done: false, seen: `write landed on ${w.server}${w.inRecovery ? ' (in recovery)' : ''}` };
      } catch (e) {
        return { done: false, seen: e instanceof Error ? e.message : String(e) };
      }
    },
    { intervalMs: 200 },
  );
  const writableAfterMs = Date.now() - t0;
  await request;
  ctx.log(`switchover ${leader.name} -> ${candidate.name}: writes through ${vip} land on ${candidate.name} after ${(writableAfterMs / 1000).toFixed(1)} s (${moved.join('; ')})`);
  return { writableAfterMs, moved };
}
