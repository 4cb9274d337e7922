/**
 * An op built at run time (a file whose content depends on live state) settled inside a
 * custom step: the step reports the op's outcome, and the op's failure is the step's.
 */
import { TaskError } from '../core/errors.ts';
import { runOp } from '../engine/run-task.ts';
import type { OpTask, RunOutcome, TaskContext } from '../engine/types.ts';

export async function settleInside(ctx: TaskContext, op: OpTask): Promise<RunOutcome> {
  const r = await runOp(ctx, op);
  switch (r.status) {
    case 'changed':
      return { changed: true, summary: r.summary, ...(r.diff !== undefined ? { diff: r.diff } : {}) };
    case 'failed':
      throw new TaskError(r.error);
    case 'skipped':
      return { changed: false, message: r.reason };
    default:
      return { changed: false, ...(r.message ? { message: r.message } : {}) };
  }
}
