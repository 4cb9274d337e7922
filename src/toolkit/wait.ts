/**
 * The deadline loop every wait of the roles and day-2 steps uses: poll, remember what was
 * last seen, and say it on timeout (with a journal tail when that helps).
 */
import { shQuote } from '../transport/types.ts';
import { TaskError } from '../core/errors.ts';
import type { Remote } from './remote.ts';

export type Poll<T> = { done: true; value: T } | { done: false; seen: string };

/**
 * Calls `check` every `intervalMs` until it is done or `timeoutMs` passed; on timeout throws
 * a TaskError naming what it waited for, for how long, and the last state seen (plus `more()`,
 * e.g. the tail of a journal, when given).
 */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<Poll<T>>,
  opts: { intervalMs?: number; more?: () => Promise<string> } = {},
): Promise<T> {
  const started = Date.now();
  let seen = 'nothing yet';
  for (;;) {
    const r = await check();
    if (r.done) return r.value;
    seen = r.seen;
    if (Date.now() - started >= timeoutMs) break;
    await new Promise((res) => setTimeout(res, opts.intervalMs ?? 1000));
  }
  let extra = '';
  if (opts.more) extra = await opts.more().catch((e: unknown) => `(could not read more: ${String(e)})`);
  throw new TaskError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; last seen: ${seen}${extra ? `\n${extra}` : ''}`);
}

/** The last lines of a unit's journal, for error messages. */
export async function journalTail(remote: Remote, unit: string, lines = 20): Promise<string> {
  const r = await remote.exec(`journalctl -u ${shQuote(unit)} -n ${lines} --no-pager -o short-iso 2>&1 | tail -n ${lines}`);
  return `last lines of journalctl -u ${unit}:\n${r.stdout.trim() || '(empty)'}`;
}
