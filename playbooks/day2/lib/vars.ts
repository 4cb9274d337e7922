/**
 * The knobs of the day-2 playbooks (inventory key `rollout:`, or `rollout.with({...})` in a
 * playbook). Defaults are the bounds the reference projects use: lag under 10 MiB, no
 * transaction older than 15 s, before a member is touched and after it is back.
 */
import { z } from 'zod';
import { defineRole, type Role, type RoleContext } from '../../../src/engine/role.ts';
import type { Task } from '../../../src/engine/types.ts';
import type { Play } from '../../../src/engine/play.ts';

const MiB = 1024 * 1024;

export const RolloutVarsSchema = z.strictObject({
  /**
   * What an upgrade installs: `stack` (the PostgreSQL server and client of the running major,
   * libpq, Patroni and its DCS client; on etcd members etcd; on balancers HAProxy and
   * keepalived), `all` (every upgradable package, `apt-get upgrade`), `none` (restart only what
   * needs it: pending_restart, binaries replaced on disk), or an explicit package list.
   */
  packages: z.union([z.enum(['stack', 'all', 'none']), z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/, 'a Debian package name')).min(1)]).default('stack'),
  /** Refresh the package lists (apt-get update) before deciding what is upgradable. */
  refreshPackageLists: z.boolean().default(true),
  /** Replication lag a replica may have before it is touched and after it is back (bytes). */
  maxLagBytes: z.number().int().min(0).default(10 * MiB),
  /** No client transaction older than this on a member before a rollout starts. */
  maxTransactionSeconds: z.number().int().min(1).default(15),
  /** Free space the package upgrade must leave on /var and /usr (MiB), on top of its own size. */
  minFreeDiskMiB: z.number().int().min(0).default(256),
  /** How long a drained member's read sessions may take to finish before it restarts anyway. */
  drainTimeoutSeconds: z.number().int().min(0).default(30),
  /** Deadline for a restarted member to be running, streaming and within the lag bound. */
  memberTimeoutSeconds: z.number().int().min(10).default(300),
  /** How long a gate may wait for the cluster to be whole again before it stops the rollout (a replica reconnecting is not a failure). */
  gateGraceSeconds: z.number().int().min(0).default(20),
  /** Deadline for the new leader to take writes through the virtual IP after a switchover. */
  switchoverTimeoutSeconds: z.number().int().min(5).default(60),
  /** Inventory group of the balancers (HAProxy + keepalived) the rollout goes through. */
  balancerGroup: z.string().default('balancers'),
  /** Switchover candidate (switchover.ts); unset: the healthy synchronous standby. */
  candidate: z.string().min(1).optional(),
});
export type RolloutVars = z.output<typeof RolloutVarsSchema>;


/** A day-2 step list typed by the `rollout` vars (one name: one place in the inventory). */
export function rolloutSteps(description: string, tasks: (ctx: RoleContext<RolloutVars>) => Task[]): Role<typeof RolloutVarsSchema> {
  return defineRole({ name: 'rollout', description, vars: RolloutVarsSchema, tasks });
}

/** A rollout of one group: pre-checks (all hosts at once, any failure stops the run), then the roll (one host at a time). */
export interface RolloutPlays {
  checks: Play;
  roll: Play;
}
