/**
 * A database member's place in HAProxy on every balancer at once (through the run's
 * connections to them): out of the read pool and back, sessions drained, health as HAProxy
 * sees it, and the write route moved the instant a new leader is promoted.
 */
import { TaskError, type Delegate, type TaskContext } from '../../../src/engine/types.ts';
import { shQuote } from '../../../src/transport/types.ts';
import { runtimeScript, serverStates, type AdminState, type ServerState } from '../../../roles/haproxy/live.ts';
import { waitUntil } from '../../../src/toolkit/index.ts';
import { setPoolState } from '../../../roles/haproxy/exports.ts';
import type { Balancer } from './context.ts';

type Reach = Pick<TaskContext, 'delegate'>;

/**
 * `fn` on every balancer at once. Each one is tried whatever happens to the others (a drain
 * undone on one balancer must not be skipped because another is unreachable); then a failure
 * names every balancer that failed.
 */
async function onEach<T>(ctx: Reach, balancers: Balancer[], fn: (lb: Balancer, d: Delegate) => Promise<T>): Promise<T[]> {
  const results = await Promise.allSettled(balancers.map(async (lb) => fn(lb, await ctx.delegate(lb.name))));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${balancers[i]!.name}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
  if (failed.length) throw new TaskError(failed.join('; '));
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Sets the member's admin state in the read pool (or the write route) on every balancer. Any
 * state but ready is temporary: recorded on the balancer first (the next run puts the member
 * back if this one dies), the record cleared when the member is ready again.
 */
export async function setRouteState(ctx: Reach, balancers: Balancer[], member: string, state: AdminState, route: 'read' | 'write' = 'read'): Promise<void> {
  await onEach(ctx, balancers, (lb, d) => setPoolState(d, lb.adminSocket, route === 'read' ? lb.replicaBackend : lb.primaryBackend, member, state));
}

/**
 * Database members that no balancer should hold out of a pool before a rollout starts (drained
 * or in MAINT by hand, or by a run older than undo records), each with the command that fixes it.
 */
export async function routesNotReady(ctx: Reach, balancers: Balancer[], members: string[]): Promise<string[]> {
  const all = await onEach(ctx, balancers, async (lb, d) => ({ lb, rows: await serverStates(d, lb.adminSocket) }));
  return all.flatMap(({ lb, rows }) =>
    rows
      .filter((r) => members.includes(r.server) && (r.backend === lb.replicaBackend || r.backend === lb.primaryBackend) && r.admin !== 'ready')
      .map((r) => `${r.server} is ${r.admin.toUpperCase()} in ${r.backend} on ${lb.name} (set it back: echo 'set server ${r.backend}/${r.server} state ready' | socat stdio ${lb.adminSocket}; or run site.ts)`),
  );
}

/** Per balancer: the member's rows in its two backends. */
async function rowsOf(ctx: Reach, balancers: Balancer[], member: string): Promise<Array<{ lb: Balancer; rows: ServerState[] }>> {
  return onEach(ctx, balancers, async (lb, d) => ({ lb, rows: (await serverStates(d, lb.adminSocket)).filter((s) => s.server === member) }));
}

/**
 * Waits until no balancer holds a session to the member in its read pool; on the deadline it
 * says how many were left (the caller decides whether to go on).
 */
export async function waitReadSessionsGone(ctx: Reach, balancers: Balancer[], member: string, timeoutMs: number): Promise<{ left: number }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const all = await rowsOf(ctx, balancers, member);
    const left = all.reduce((n, { lb, rows }) => n + rows.filter((r) => r.backend === lb.replicaBackend).reduce((m, r) => m + r.sessions, 0), 0);
    if (left === 0 || Date.now() >= end) return { left };
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Waits until every balancer routes reads to the member again (health up, admin ready). */
export async function waitInReadPool(ctx: Reach, balancers: Balancer[], member: string, timeoutMs: number): Promise<void> {
  await waitUntil(
    `every balancer to route reads to ${member} again`,
    timeoutMs,
    async () => {
      const all = await rowsOf(ctx, balancers, member);
      const notYet = all.filter(({ lb, rows }) => !rows.some((r) => r.backend === lb.replicaBackend && r.up && r.admin === 'ready'));
      return notYet.length === 0
        ? { done: true, value: undefined }
        : { done: false, seen: notYet.map(({ lb, rows }) => `${lb.name}: ${rows.map((r) => `${r.backend} ${r.status} ${r.admin}`).join(', ') || 'no such server'}`).join('; ') };
    },
    { intervalMs: 500 },
  );
}

/**
 * Shell for one balancer: wait (bounded) until `candidate` answers 200 on Patroni's /primary,
 * then at once tell HAProxy the write route's health — candidate up, old leader down — rather
 * than waiting for its checks (inter x rise). Started before the switchover, it moves writes
 * within a poll interval of the promotion. Exit 3: the candidate never became primary.
 */
export function followPromotionScript(lb: Balancer, candidateApi: string, candidate: string, old: string, deadlineS: number): string {
  const url = shQuote(`${candidateApi}/primary`);
  // The new leader also leaves the read pool now, not after its /replica checks fail (fall x inter).
  const flip = `set server ${lb.primaryBackend}/${candidate} health up; set server ${lb.primaryBackend}/${old} health down; set server ${lb.replicaBackend}/${candidate} health down`;
  return [
    `end=$(( $(date +%s) + ${deadlineS} ))`,
    'while :; do',
    `  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 ${url})`,
    '  [ "$code" = 200 ] && break',
    '  if [ "$(date +%s)" -ge "$end" ]; then echo "candidate never answered 200 on /primary" >&2; exit 3; fi',
    '  sleep 0.05',
    'done',
    runtimeScript(flip, lb.adminSocket),
  ].join('\n');
}

/** Runs followPromotionScript on every balancer; resolves when each has moved (or failed). */
export function followPromotion(ctx: Reach, balancers: Balancer[], candidateApi: string, candidate: string, old: string, deadlineS: number): Promise<string[]> {
  return onEach(ctx, balancers, async (lb, d) => {
    const r = await d.exec(followPromotionScript(lb, candidateApi, candidate, old, deadlineS), { timeoutMs: (deadlineS + 20) * 1000 });
    if (r.code === 3) return `${lb.name}: left to its health checks (${r.stderr.trim()})`;
    if (r.code !== 0) throw new TaskError(`${lb.name}: moving the write route failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
    const answer = r.stdout.trim();
    if (answer !== '') throw new TaskError(`${lb.name}: haproxy refused the write-route change: ${answer}`);
    return `${lb.name}: writes -> ${candidate}`;
  });
}
