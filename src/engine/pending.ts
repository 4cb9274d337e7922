/**
 * Handlers notified but not run because the host failed first. Ansible forgets them: the
 * next run sees the config file unchanged and never restarts. We keep them on the host
 * itself (so any control machine finds them) and the next run starts with them notified.
 */
import { shQuote } from '../transport/types.ts';
import type { TaskContext } from './types.ts';
import { stringListIn } from '../core/text.ts';

export const PENDING_FILE = '/var/lib/rigger/pending-handlers.json';

/** Appended to the facts probe so pending handlers cost no extra round trip. */
export const PENDING_PROBE = `cat ${PENDING_FILE} 2>/dev/null || true`;

export function parsePending(text: string): string[] {
  return stringListIn(text, 'handlers');
}

/** Writes the set (or removes the file when empty). */
export async function writePending(ctx: TaskContext, keys: string[]): Promise<void> {
  if (keys.length === 0) {
    await ctx.run(`rm -f ${PENDING_FILE}`);
    return;
  }
  const body = JSON.stringify({ handlers: [...new Set(keys)].sort(), at: new Date().toISOString() }) + '\n';
  await ctx.run(`mkdir -p /var/lib/rigger && cat > ${PENDING_FILE}.tmp && mv -f ${PENDING_FILE}.tmp ${shQuote(PENDING_FILE)}`, {
    stdin: body,
  });
}
