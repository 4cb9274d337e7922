/**
 * A role is a typed value: a zod schema for its vars, the tasks it yields for one host,
 * and its handlers. `role.with({...})` is checked by tsc against the schema's input type,
 * and the same schema validates inventory vars at run time.
 */
import type { z } from 'zod';
import type { Task, TaskContext } from './types.ts';
import { deepMerge } from '../core/merge.ts';

export interface RoleContext<V> extends TaskContext {
  /** The role's vars: schema defaults < playbook `.with()` < inventory (host.vars[role.name]). */
  vars: V;
}

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

export interface RoleDefinition<S extends z.ZodType> {
  name: string;
  /** Describes what the role does (shown by --list-tasks). */
  description?: string;
  /**
   * Roles this one needs (Ansible's meta/ dependencies): played before it, on its hosts or
   * their peers. Shown by --list-tasks; the only roles whose `exports.ts` it may import.
   * Declared, not pulled in: the playbook says where each role runs.
   */
  dependsOn?: readonly string[];
  vars: S;
  tasks(ctx: RoleContext<z.output<S>>): Task[] | Promise<Task[]>;
  /** Handlers by name, run once per host in definition order when notified. */
  handlers?: Record<string, (ctx: RoleContext<z.output<S>>) => Task[]>;
}

export interface Role<S extends z.ZodType = z.ZodType> extends RoleDefinition<S> {
  readonly kind: 'role';
  /** Playbook-level vars for this use of the role; inventory vars still win. */
  readonly overrides: DeepPartial<z.input<S>>;
  with(overrides: DeepPartial<z.input<S>>): Role<S>;
}

export function defineRole<S extends z.ZodType>(def: RoleDefinition<S>): Role<S> {
  const make = (overrides: DeepPartial<z.input<S>>): Role<S> => ({
    ...def,
    kind: 'role',
    overrides,
    with: (more) => make(deepMerge(overrides, more) as DeepPartial<z.input<S>>),
  });
  return make({} as DeepPartial<z.input<S>>);
}
