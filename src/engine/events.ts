/**
 * What the engine tells reporters. One event per task result, plus run/play/host milestones.
 * Reporters (src/report) render them; the --events file is these, one JSON object a line.
 */
import type { TaskResult } from './types.ts';

export interface HostRecap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: boolean;
  warnings: string[];
}

export interface RunRecap {
  ok: boolean;
  durationMs: number;
  hosts: Record<string, HostRecap>;
  /** Why the run stopped early (a failed rollout batch or gate, anyErrorsFatal, maxFailPercent). */
  aborted?: string;
  /**
   * The run stopped before its first task: another run holds the lock (exit 1), or a host the
   * run would add to the cluster cannot be reached (exit 4). Nothing was changed.
   */
  refused?: 'run-lock' | 'unreachable-newcomer';
}

export type EngineEvent =
  | { type: 'run-start'; playbook: string; hosts: string[]; check: boolean }
  | { type: 'play-start'; play: string; hosts: string[] }
  | { type: 'batch-start'; play: string; batch: number; hosts: string[] }
  | { type: 'task-start'; play: string; host: string; task: string }
  | { type: 'task'; play: string; host: string; task: string; role?: string; handler: boolean; result: TaskResult; ms: number }
  | { type: 'unreachable'; play: string; host: string; error: string }
  | { type: 'host-failed'; play: string; host: string; error: string }
  | { type: 'log'; host: string; message: string }
  | { type: 'warn'; host: string; message: string }
  | { type: 'gate'; play: string; batch: number; ok: boolean; error?: string }
  | { type: 'play-end'; play: string }
  | { type: 'abort'; reason: string }
  | { type: 'run-end'; recap: RunRecap };

export interface Reporter {
  event(e: EngineEvent): void;
  /** Called once after run-end; flush and restore the terminal. */
  close(): Promise<void>;
}

export function emptyRecap(): HostRecap {
  return { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: false, warnings: [] };
}
