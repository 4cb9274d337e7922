/**
 * Runs one host's task list for one play: probes of consecutive ops batched into a single
 * round trip, plans applied in order, notifications collected, handlers run at flush/end.
 */
import type { EngineEvent } from './events.ts';
import type { HandlerTable } from './handlers.ts';
import { runCustom, settleOp, errorText } from './run-task.ts';
import { TaskError, type OpTask, type ProbeOutput, type Task, type TaskContext, type TaskResult } from './types.ts';

export interface TaskEntry {
  task: Task;
  /** The context the task runs with (a role's tasks get the role's context, vars included). */
  ctx: TaskContext;
  role?: string;
}

export interface HostPlayEnv {
  play: string;
  host: string;
  check: boolean;
  tags: string[];
  skipTags: string[];
  handlers: HandlerTable;
  /** Handler keys notified and not yet run. */
  notified: Set<string>;
  /** Resolves a handler key to the context its tasks run with. */
  handlerCtx(key: string): TaskContext;
  emit(e: EngineEvent): void;
}

/** Returns false when a task failed (not ignored) and the host must leave the play. */
export async function runEntries(entries: TaskEntry[], env: HostPlayEnv, handler = false): Promise<boolean> {
  const probes = new Map<number, ProbeOutput>();
  for (let i = 0; i < entries.length; i++) {
    const { task, ctx, role } = entries[i]!;
    if (!handler && !selected(task, role, env)) continue;
    if (task.kind === 'flush') {
      if (!(await runHandlers(env))) return false;
      probes.clear();
      continue;
    }
    const started = Date.now();
    env.emit({ type: 'task-start', play: env.play, host: env.host, task: task.name });
    let result: TaskResult;
    if (task.when && !task.when(ctx)) {
      result = { status: 'skipped', reason: 'condition false' };
    } else if (task.kind === 'op') {
      if (!probes.has(i)) {
        const batch = opsFrom(entries, i, env, handler);
        const outs = await probeBatch(ctx, batch.map((j) => entries[j]!.task as OpTask));
        batch.forEach((j, k) => probes.set(j, outs[k]!));
      }
      result = await settleOp(ctx, task, probes.get(i)!);
    } else {
      result = await runCustom(ctx, task);
    }
    // A real change may alter what later probes would see: probe the rest again.
    if (result.status === 'changed' && !env.check) probes.clear();
    if (result.status === 'changed') {
      for (const name of task.notify ?? []) {
        const def = env.handlers.resolve(name, role);
        if (!def) {
          result = { status: 'failed', error: `notifies unknown handler "${name}"`, ignored: false };
          break;
        }
        env.notified.add(def.key);
      }
    }
    env.emit({ type: 'task', play: env.play, host: env.host, task: task.name, ...(role ? { role } : {}), handler, result, ms: Date.now() - started });
    if (result.status === 'failed' && !result.ignored) return false;
  }
  return true;
}

/** Runs notified handlers once each, in definition order; a handler may notify later ones. */
export async function runHandlers(env: HostPlayEnv): Promise<boolean> {
  const ran = new Set<string>();
  for (;;) {
    const next = env.handlers.ordered(env.notified).find((d) => !ran.has(d.key));
    if (!next) return true;
    ran.add(next.key);
    env.notified.delete(next.key);
    const ctx = env.handlerCtx(next.key);
    let tasks: Task[];
    try {
      tasks = next.build();
    } catch (e) {
      env.emit({ type: 'task', play: env.play, host: env.host, task: `handler ${next.name}`, handler: true, result: { status: 'failed', error: errorText(e), ignored: false }, ms: 0 });
      env.notified.add(next.key);
      return false;
    }
    const ok = await runEntries(
      tasks.map((task) => ({ task, ctx, ...(next.role ? { role: next.role } : {}) })),
      env,
      true,
    );
    if (!ok) {
      env.notified.add(next.key); // still owed: persisted as pending by the caller
      return false;
    }
  }
}

function selected(task: Task, role: string | undefined, env: HostPlayEnv): boolean {
  if (task.kind === 'flush') return true;
  const tags = new Set([...(task.tags ?? []), ...(role ? [role] : [])]);
  if (env.skipTags.some((t) => tags.has(t))) return false;
  return env.tags.length === 0 || env.tags.some((t) => tags.has(t));
}

/** Indexes of the consecutive selected ops starting at `from`: one probe round trip for all. */
function opsFrom(entries: TaskEntry[], from: number, env: HostPlayEnv, handler: boolean): number[] {
  const out: number[] = [];
  for (let j = from; j < entries.length; j++) {
    const e = entries[j]!;
    if (!handler && !selected(e.task, e.role, env)) continue;
    if (e.task.kind !== 'op') break;
    out.push(j);
  }
  return out;
}

/**
 * Runs many read-only probes in one exec. Each runs in its own subshell with no stdin and no
 * stderr, followed by a marker line carrying its exit code.
 */
export async function probeBatch(ctx: TaskContext, ops: OpTask[]): Promise<ProbeOutput[]> {
  const live = ops.map((op, k) => ({ op, k })).filter((x) => x.op.probe !== null);
  const outs: ProbeOutput[] = ops.map(() => ({ code: 0, stdout: '' }));
  if (live.length === 0) return outs;
  const nonce = Math.random().toString(36).slice(2, 10);
  const script = live
    .map(({ op, k }) => `(\n${op.probe}\n) </dev/null 2>/dev/null; printf '\\n@@RG:${nonce}:${k}:%d@@\\n' $?`)
    .join('\n');
  const r = await ctx.exec(script);
  const re = new RegExp(`\\n@@RG:${nonce}:(\\d+):(\\d+)@@\\n`, 'g');
  let last = 0;
  let seen = 0;
  for (let m = re.exec(r.stdout); m; m = re.exec(r.stdout)) {
    outs[Number(m[1])] = { code: Number(m[2]), stdout: r.stdout.slice(last, m.index) };
    last = m.index + m[0].length;
    seen++;
  }
  // A probe batch cut short must never read as "nothing there": that would plan changes.
  if (seen !== live.length) {
    throw new TaskError(`state probe failed (exit ${r.code}) after ${seen} of ${live.length} checks${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').slice(-5).join('\n')}` : ''}`);
  }
  return outs;
}
