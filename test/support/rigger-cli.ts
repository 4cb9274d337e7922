/**
 * The CLI as the lab tests drive it: `rigger run PLAYBOOK -i INV --json --events FILE`, the
 * JSON recap parsed, every task event read back, and the wall time. Plus `eventually`, the
 * retry loop the lab tests wait with.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HostRecap, RunRecap } from '../../src/engine/events.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export type { HostRecap };
/** The --json recap: the engine's own type. */
export type Recap = RunRecap;
export interface TaskEvent {
  type: 'task';
  host: string;
  task: string;
  role?: string;
  handler: boolean;
  result: { status: string; summary?: string; diff?: string; error?: string; message?: string };
}
export interface Run {
  code: number;
  recap: Recap;
  events: TaskEvent[];
  /** Every event of the run, in order (batch-start, gate, log, task, ...). */
  all: Array<{ type: string } & Record<string, unknown>>;
  stderr: string;
  wallMs: number;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Events written so far to an events file (one JSON object a line). */
export function readEvents(file: string): Array<{ type: string } & Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { type: string } & Record<string, unknown>];
      } catch {
        return []; // a line being written
      }
    });
}

/**
 * Starts `rigger run`; `onStart` gets the events file to watch while it runs. Resolves when
 * the CLI exits, with its recap and events.
 */
export async function rigger(playbook: string, inventory: string, tmp: string, extra: string[] = [], onStart?: (eventsFile: string, child: ChildProcess) => void): Promise<Run> {
  const eventsFile = join(tmp, `events-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.jsonl`);
  const args = ['bin/rigger.js', 'run', playbook, '-i', inventory, '--json', '--events', eventsFile, ...extra];
  const t0 = Date.now();
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    const child = execFile('node', args, { cwd: ROOT, maxBuffer: 64 << 20, timeout: 1_500_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
    onStart?.(eventsFile, child);
  });
  const wallMs = Date.now() - t0;
  let recap: Recap;
  try {
    recap = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Recap;
  } catch {
    throw new Error(`rigger ${args.slice(2).join(' ')} printed no JSON recap (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  }
  const all = readEvents(eventsFile);
  const events = all.filter((e): e is TaskEvent & { type: 'task' } & Record<string, unknown> => e.type === 'task') as unknown as TaskEvent[];
  return { code: r.code, recap, events, all, stderr: r.stderr, wallMs };
}

/** The failed tasks of a run, or the end of its stderr: the message of a failed expectation. */
export const failures = (run: Run) =>
  run.events
    .filter((e) => e.result.status === 'failed')
    .map((e) => `${e.host}: ${e.task}: ${e.result.error}`)
    .join('\n') || `${run.recap.aborted ?? ''}\n${run.stderr.slice(-3000)}`;

/** Retries until `ok` holds; fails with the last value seen. */
export async function eventually<T>(what: string, attempt: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000, intervalMs = 1000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  let error = '';
  for (;;) {
    try {
      last = await attempt();
      if (ok(last)) return last;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > end) throw new Error(`${what}: after ${timeoutMs / 1000} s still ${last === undefined ? error : JSON.stringify(last)}`);
    await sleep(intervalMs);
  }
}
