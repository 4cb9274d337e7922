/**
 * Who holds the virtual IP right now, and the cross-host wait until exactly one balancer
 * does. Each balancer reports for itself into the run's shared store; a barrier per round
 * makes every host decide from the same complete round.
 */
import { TaskError, type RunTask, type TaskContext } from '../../src/engine/types.ts';
import { shQuote } from '../../src/transport/types.ts';
import { stateKey } from '../../src/toolkit/index.ts';

/** Read-only: prints the interface holding `vip`, or nothing. */
export function holderScript(vip: string): string {
  return `ip -o -4 addr show to ${shQuote(`${vip}/32`)} | awk '{print $2}'`;
}

export async function holdsVip(ctx: Pick<TaskContext, 'exec'>, vip: string): Promise<boolean> {
  const r = await ctx.exec(holderScript(vip));
  return r.code === 0 && r.stdout.trim() !== '';
}

export type RoundVerdict =
  | { kind: 'settled'; holder: string }
  | { kind: 'partial'; holder: string | null; outside: string[] }
  | { kind: 'pending'; holders: string[] };

/**
 * One round: `reports` maps the balancers of this run to "holds the VIP"; `group` is every
 * balancer of the inventory. Exactly one holder settles it. When some balancers are not in
 * this run (--limit), their state is unknown: at most one holder among ours is all we can say.
 */
export function judgeRound(reports: Map<string, boolean>, group: string[]): RoundVerdict {
  const holders = [...reports].filter(([, v]) => v).map(([h]) => h);
  const outside = group.filter((h) => !reports.has(h));
  if (outside.length === 0) return holders.length === 1 ? { kind: 'settled', holder: holders[0]! } : { kind: 'pending', holders };
  return holders.length <= 1 ? { kind: 'partial', holder: holders[0] ?? null, outside } : { kind: 'pending', holders };
}

export interface VipWait {
  vip: string;
  group: string[];
  rounds: number;
  intervalMs: number;
}

/** RunTask: every balancer of the play runs it; all finish in the same round with the same verdict. */
export function waitSingleHolder(w: VipWait): RunTask {
  return {
    kind: 'run',
    name: `virtual IP ${w.vip} held by exactly one balancer`,
    inCheckMode: 'skip',
    async run(ctx) {
      const key = (round: number, host: string) => stateKey<boolean>(`keepalived:vip:${w.vip}:${round}:${host}`);
      let last: RoundVerdict | null = null;
      for (let round = 0; round < w.rounds; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, w.intervalMs));
        ctx.shared.set(key(round, ctx.host.name), await holdsVip(ctx, w.vip));
        await ctx.barrier(`keepalived:vip:${w.vip}:${round}`);
        const reports = new Map<string, boolean>();
        for (const h of w.group) {
          const v = ctx.shared.get(key(round, h));
          if (typeof v === 'boolean') reports.set(h, v);
        }
        last = judgeRound(reports, w.group);
        if (last.kind === 'settled') return { changed: false, message: `held by ${last.holder}` };
        if (last.kind === 'partial') {
          return { changed: false, message: `${last.holder ? `held by ${last.holder}` : 'not held by the balancers of this run'}; not checked: ${last.outside.join(', ')}` };
        }
      }
      const holders = last?.kind === 'pending' ? last.holders : [];
      let journal = '';
      if (ctx.host.name === (holders[0] ?? w.group[0])) {
        const j = await ctx.exec('journalctl -u keepalived --no-pager -n 10 2>&1 | tail -n 10');
        journal = `\nlast keepalived log lines on ${ctx.host.name}:\n${j.stdout.trim()}`;
      }
      throw new TaskError(
        `virtual IP ${w.vip}: after ${Math.round((w.rounds * w.intervalMs) / 1000)} s it is held by ${holders.length === 0 ? 'no balancer' : holders.join(' and ')} (want exactly one)${journal}`,
      );
    },
  };
}
