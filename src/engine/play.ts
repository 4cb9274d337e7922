/**
 * Plays and playbooks. A playbook file default-exports `definePlaybook(...)`.
 */
import type { Role } from './role.ts';
import type { RunState } from './run-state.ts';
import type { Delegate, HostView, Task, TaskContext } from './types.ts';
import type { Inventory } from '../inventory/types.ts';

export type { HostView };

/** What play-level hooks (order, gate) may use besides the hosts. */
export interface HookContext {
  inventory: Inventory;
  shared: RunState;
  log(message: string): void;
  /** Any inventory host over the run's connection to it (see TaskContext.delegate). */
  delegate(host: string): Promise<Delegate>;
}

export interface GateContext extends HookContext {
  /** Hosts of the batch that just finished. */
  batch: HostView[];
  /** Every host of the play still active. */
  all: HostView[];
}

export interface Play {
  kind: 'play';
  name: string;
  /** Group pattern: 'postgres', 'etcd:balancers' (union), 'postgres:&etcd' (intersection), 'all:!backup' (exclusion). */
  hosts: string;
  /**
   * Hosts of `hosts` that join the play even when --limit leaves them out: for plays that
   * must follow a change to the limited hosts elsewhere (enrolling pg4 with `-l pg4` reloads
   * HAProxy on every balancer). A host pattern; 'all' ignores the limit for this play.
   */
  beyondLimit?: string;
  roles?: Role[];
  /** Play-level tasks, after the roles' tasks. */
  tasks?: (ctx: TaskContext) => Task[] | Promise<Task[]>;
  handlers?: Record<string, (ctx: TaskContext) => Task[]>;
  /** Rolling: hosts per batch (a count, or a fraction 0<x<=1, or 'N%'). Unset: all at once. */
  serial?: number | `${number}%`;
  /** Rolling: the order hosts go in (e.g. replicas first, leader last, from live state). */
  order?: (hosts: HostView[], ctx: HookContext) => HostView[] | Promise<HostView[]>;
  /** Rolling: must resolve before the next batch starts; a throw stops the rollout. */
  gate?: (ctx: GateContext) => Promise<void>;
  /** Stop the play when more than this percentage of its hosts failed. */
  maxFailPercent?: number;
  /** Any failed host stops the whole run. */
  anyErrorsFatal?: boolean;
}

export type Step = Play | { kind: 'parallel'; steps: Step[] } | { kind: 'sequence'; steps: Step[] };

export interface Playbook {
  kind: 'playbook';
  name: string;
  steps: Step[];
  /**
   * The playbook changes nothing on any host (status reports): it runs without the run lock,
   * alongside a run that holds it. Its tasks must be read-only; nothing checks that.
   */
  readOnly?: boolean;
  /**
   * 'limit': --limit names hosts this run takes out of the cluster (remove.ts). Every play runs
   * on the other hosts, against the inventory without them (departing.ts); steps reach them
   * through ctx.delegate and `ctx.inventory.departing`.
   */
  departing?: 'limit';
}

export function definePlay(play: Omit<Play, 'kind'>): Play {
  return { kind: 'play', ...play };
}

/**
 * Steps that do not depend on each other run at the same time, on disjoint hosts. Where the
 * inventory puts one host in two branches (balancers on the database hosts), the engine runs
 * the branches one after the other instead: two roles' apt and restarts never meet on a host.
 */
export function parallel(...steps: Step[]): Step {
  return { kind: 'parallel', steps };
}

export function sequence(...steps: Step[]): Step {
  return { kind: 'sequence', steps };
}

/** `definePlaybook('site', ...steps)`, or `definePlaybook({ name: 'status', readOnly: true }, ...steps)`. */
export function definePlaybook(name: string | { name: string; readOnly?: boolean; departing?: 'limit' }, ...steps: Step[]): Playbook {
  if (typeof name === 'string') return { kind: 'playbook', name, steps };
  return { kind: 'playbook', name: name.name, steps, ...(name.readOnly ? { readOnly: true } : {}), ...(name.departing ? { departing: name.departing } : {}) };
}
