/**
 * Local commands for the lab (on the control machine, never on a product host). zx runs them
 * with arguments passed as an array, so nothing here is built by string concatenation.
 */
import { $ } from 'zx';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

/** A failure the user can act on: what went wrong and the command that fixes it. */
export class LabError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'LabError';
  }
}

/** Runs argv; never rejects on a non-zero exit. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const out = await $({
    quiet: true,
    nothrow: true,
    verbose: false,
    // Without input, stdin is closed: a child (ssh above all) must never read ours.
    ...(opts.input !== undefined ? { input: opts.input } : { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] }),
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs, timeoutSignal: 'SIGKILL' as const } : {}),
  })`${[...argv]}`;
  return { code: out.exitCode ?? 128, stdout: out.stdout, stderr: out.stderr };
}

/** Runs argv and returns stdout; throws a LabError carrying the stderr tail on failure. */
export async function check(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-6).join('\n');
    throw new LabError(`${argv.join(' ')} failed (exit ${r.code})${tail ? `:\n${tail}` : ''}`);
  }
  return r.stdout;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new LabError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}
