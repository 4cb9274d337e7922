/**
 * What one host has to do in a rollout, as the pre-checks found it, and the roll step that
 * does it in the host's turn: nothing when there is nothing, "would ..." under --check.
 */
import type { RoleContext } from '../../../src/engine/role.ts';
import { TaskError, type RunTask } from '../../../src/engine/types.ts';
import { shQuote } from '../../../src/transport/types.ts';
import { stateKeys, stepsFor } from '../../../src/toolkit/index.ts';
import { describeUpgrades, type Upgrade } from './packages.ts';
import type { RolloutVars } from './vars.ts';

type Ctx = RoleContext<RolloutVars>;
const step = stepsFor<RolloutVars>();

export interface MemberWork {
  upgrades: Upgrade[];
  /** apt-get arguments of the upgrade (null: nothing to install). */
  aptArgs: string | null;
  /** Why PostgreSQL or Patroni must restart even without an upgrade. */
  restartReasons: string[];
  /** Restart even when the live check in the host's turn finds nothing (a standby following its leader's lowered limits). */
  forceRestart?: boolean;
}

export const hasWork = (w: MemberWork) => w.upgrades.length > 0 || w.restartReasons.length > 0;

export function describeWork(w: MemberWork): string {
  const parts: string[] = [];
  if (w.upgrades.length) parts.push(`upgrade ${describeUpgrades(w.upgrades)}`);
  if (w.restartReasons.length) parts.push(`restart (${w.restartReasons.join('; ')})`);
  return parts.join(', then ') || 'nothing to do';
}

/**
 * A process runs code that was replaced on disk: its executable or a mapped library under
 * /usr or /lib is gone (what needrestart looks at). Prints `stale` or `current`.
 */
export function staleProcessScript(pidExpr: string, since?: { dpkgList: string }): string {
  const lines = [
    `p=${pidExpr}`,
    'if [ -z "$p" ] || [ "$p" = 0 ] || [ ! -d "/proc/$p" ]; then echo none; exit 0; fi',
    `if readlink "/proc/$p/exe" | grep -q ' (deleted)$' || grep -Eq ' /(usr/)?lib[^ ]* \\(deleted\\)$' "/proc/$p/maps"; then echo stale; exit 0; fi`,
  ];
  // Python code is not mapped: compare the package's file list with the process's start.
  if (since)
    lines.push(
      `f=$(stat -c %Y ${shQuote(since.dpkgList)} 2>/dev/null || echo 0); age=$(ps -o etimes= -p "$p" | tr -d ' '); now=$(date +%s)`,
      'if [ -n "$age" ] && [ $((now - age)) -lt "$f" ]; then echo stale; exit 0; fi',
    );
  lines.push('echo current');
  return lines.join('\n');
}

/** (group, host): what the pre-checks found for the host's turn. */
const workKey = stateKeys<MemberWork>('rollout:work');

/** Keeps the pre-checks' finding for the host's turn (`group`: which rollout it belongs to). */
export function rememberWork(ctx: Ctx, group: string, work: MemberWork): void {
  ctx.shared.set(workKey(group, ctx.host.name), work);
}

/** The roll step of one group's rollout: `roll` runs only when the host has work, never under --check. */
export function rollStep(name: string, group: string, roll: (ctx: Ctx, work: MemberWork) => Promise<string>, amend?: (ctx: Ctx, work: MemberWork) => MemberWork): RunTask {
  return step({
    name,
    inCheckMode: 'run',
    async run(ctx) {
      const found = ctx.shared.get(workKey(group, ctx.host.name));
      if (!found) throw new TaskError(`rollout: the ${group} pre-checks did not run on this host`);
      // What the other hosts' pre-checks found may add to this one's (amend).
      const work = amend ? amend(ctx, found) : found;
      if (!hasWork(work)) return { changed: false, message: 'nothing to upgrade or restart' };
      if (ctx.check) return { changed: true, summary: `would ${describeWork(work)}` };
      return { changed: true, summary: await roll(ctx, work) };
    },
  });
}
