/**
 * Runs an op's change (its OpCommands) on one host, in order, and turns the first failure into
 * the TaskError its `failure` shape describes. The one place op changes reach a host.
 */
import { Secret } from '../core/secret.ts';
import { TransportError, type ExecOptions, type ExecResult } from '../transport/types.ts';
import { TaskError, type OpCommand, type OpFailure, type TaskContext } from './types.ts';
import { tailLines } from '../core/text.ts';

/** Runs the commands in order; throws a TaskError at the first failure (warnOnly: warns and stops). */
export async function runOpCommands(ctx: TaskContext, commands: readonly OpCommand[]): Promise<void> {
  for (const c of commands) {
    const r = await execCommand(ctx, c);
    if (r.code === 0) continue;
    const failure = c.failure ?? { style: 'tail' };
    const message = failureMessage(c.what, failure, r);
    if (failure.style === 'inline' && failure.warnOnly) {
      ctx.warn(message);
      return;
    }
    throw new TaskError(message);
  }
}

async function execCommand(ctx: TaskContext, c: OpCommand): Promise<ExecResult> {
  const stdin = c.stdin instanceof Secret ? c.stdin.reveal() : c.stdin;
  const opts: ExecOptions = { ...(stdin !== undefined ? { stdin } : {}), ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}) };
  try {
    return await ctx.exec(c.script, opts);
  } catch (e) {
    if (c.failure?.style === 'command' && e instanceof TransportError && e.kind === 'timeout') {
      throw new TaskError(`${c.what} timed out after ${(c.timeoutMs ?? 0) / 1000}s: ${c.failure.head}`);
    }
    throw e;
  }
}

export { tailLines };

/** stderr when it says anything, else stdout. */
function output(r: ExecResult): string {
  return r.stderr.trim() ? r.stderr : r.stdout;
}

export function failureMessage(what: string, f: OpFailure, r: ExecResult): string {
  const failed = `${what} failed (exit ${r.code})`;
  switch (f.style) {
    case 'tail': {
      const out = tailLines(output(r), f.lines ?? 10);
      return `${failed}${out ? `:\n${out}` : ''}`;
    }
    case 'inline':
      return `${failed}: ${tailLines(r.stderr || r.stdout, f.lines)}`;
    case 'command': {
      const out = tailLines(output(r), 10);
      return `${failed}: ${f.head}${out ? `\n${out}` : ''}`;
    }
    case 'journal': {
      const [before, journal] = r.stderr.split('@@journal\n');
      const msg = `${failed}${before?.trim() ? `: ${tailLines(before, 5)}` : ''}`;
      return journal !== undefined ? `${msg}\n--- journalctl -u ${f.unit} (last 15 lines) ---\n${journal.trimEnd()}` : msg;
    }
  }
}
