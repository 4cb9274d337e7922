/**
 * Typed custom steps: `const step = stepsFor<PatroniVars>()` then `step({ name, run(ctx) {...} })`
 * gives `run` and `when` the role's context with its vars, without a cast at every step.
 */
import type { RoleContext } from '../engine/role.ts';
import type { RunOutcome, RunTask, TaskContext } from '../engine/types.ts';

export interface StepDefinition<C extends TaskContext> extends Omit<RunTask, 'kind' | 'run' | 'when'> {
  run(ctx: C): Promise<RunOutcome>;
  when?: (ctx: C) => boolean;
}

/**
 * The step builder for a role's vars type. The engine runs a role's tasks and handlers with
 * that role's context, which is what makes the narrowing sound.
 */
export function stepsFor<V>(): (def: StepDefinition<RoleContext<V>>) => RunTask {
  return (def) => ({ ...def, kind: 'run' }) as RunTask;
}
