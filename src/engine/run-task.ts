/**
 * Runs a single task on one host and returns its typed result. The engine's host runner
 * batches probes of consecutive ops (see host-runner.ts); this is the one-at-a-time path,
 * also what tests use to drive one op.
 */
import { runOpCommands } from './op-commands.ts';
import { TaskError, type OpPlan, type OpTask, type ProbeOutput, type RunTask, type TaskContext, type TaskResult } from './types.ts';

export async function probeOne(ctx: TaskContext, op: OpTask): Promise<ProbeOutput> {
  if (op.probe === null) return { code: 0, stdout: '' };
  const r = await ctx.exec(op.probe);
  return { code: r.code, stdout: r.stdout };
}

/** Plans an op from a probe result and applies it unless in check mode. */
export async function settleOp(ctx: TaskContext, op: OpTask, probe: ProbeOutput): Promise<TaskResult> {
  return guard(op.mayFail ?? false, async () => {
    const plan = await op.plan(probe, ctx);
    if (!plan.change) return { status: 'ok', ...(plan.message ? { message: plan.message } : {}) };
    if (!ctx.check) await applyPlan(ctx, plan);
    return { status: 'changed', summary: plan.summary, ...(plan.diff !== undefined ? { diff: plan.diff } : {}) };
  });
}

/** Makes a planned change: runs its commands. */
export async function applyPlan(ctx: TaskContext, plan: Extract<OpPlan, { change: true }>): Promise<void> {
  await runOpCommands(ctx, plan.commands);
}

export async function runOp(ctx: TaskContext, op: OpTask): Promise<TaskResult> {
  if (op.when && !op.when(ctx)) return { status: 'skipped', reason: 'condition false' };
  return settleOp(ctx, op, await probeOne(ctx, op));
}

export async function runCustom(ctx: TaskContext, task: RunTask): Promise<TaskResult> {
  if (task.when && !task.when(ctx)) return { status: 'skipped', reason: 'condition false' };
  if (ctx.check && (task.inCheckMode ?? 'skip') === 'skip') return { status: 'skipped', reason: 'check mode' };
  return guard(task.mayFail ?? false, async () => {
    const out = await task.run(ctx);
    return out.changed
      ? { status: 'changed', summary: out.summary, ...(out.diff !== undefined ? { diff: out.diff } : {}) }
      : { status: 'ok', ...(out.message ? { message: out.message } : {}) };
  });
}

async function guard(mayFail: boolean, fn: () => Promise<TaskResult>): Promise<TaskResult> {
  try {
    return await fn();
  } catch (e) {
    return { status: 'failed', error: errorText(e), ignored: mayFail };
  }
}

export function errorText(e: unknown): string {
  if (e instanceof TaskError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
