/**
 * Temporary changes that must not outlive the run that made them: a member drained in
 * HAProxy, a nosync tag, a stopped keepalived. A `finally` does not run when the process is
 * SIGKILLed, OOM-killed or loses its control machine, so each such change is recorded on the
 * host, with the script that puts it back, BEFORE it is made, and the record is removed once
 * the run put it back itself. The next run that reaches the host (holding the run lock, so no
 * live run owns the record) runs what it finds and says so; a --check or read-only run only
 * reports it.
 */
import { z } from 'zod';
import { TaskError } from '../core/errors.ts';
import { shQuote, type Remote } from '../transport/types.ts';

export const UNDO_DIR = '/var/lib/rigger/undo';

const UndoRecordSchema = z.object({
  /** Stable for the change it undoes ("route:postgres_replicas:pg3"): the same change records once. */
  id: z.string().regex(/^[A-Za-z0-9_.:@-]+$/),
  /** For people: "pg3 drained in postgres_replicas on lb1 (upgrade.ts)". */
  what: z.string(),
  /** POSIX sh that puts the host back; must be safe to run twice. */
  undo: z.string(),
  run: z.string(),
  at: z.string(),
});
export type UndoRecord = z.output<typeof UndoRecordSchema>;

/** This process's run id, stamped on its records. */
export const RUN_ID = `${process.pid}@${Date.now().toString(36)}`;

const fileOf = (id: string) => `${UNDO_DIR}/${id.replace(/[:@]/g, '_')}.json`;

/** Appended to the first round trip (facts): every record on the host, one JSON per line. */
export const UNDO_PROBE = `for f in ${UNDO_DIR}/*.json; do [ -f "$f" ] && { tr -d '\\n' < "$f"; echo; }; done; true`;

export function parseUndoRecords(text: string): UndoRecord[] {
  return text
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .flatMap((l) => {
      try {
        const r = UndoRecordSchema.safeParse(JSON.parse(l));
        return r.success ? [r.data] : [];
      } catch {
        return [];
      }
    });
}

/** Records how to put a change back, before making it. */
export async function recordUndo(host: Remote, rec: { id: string; what: string; undo: string }): Promise<void> {
  const body = JSON.stringify(UndoRecordSchema.parse({ ...rec, run: RUN_ID, at: new Date().toISOString() }));
  const file = fileOf(rec.id);
  const r = await host.exec(`umask 077 && mkdir -p ${UNDO_DIR} && cat > ${shQuote(`${file}.tmp`)} && mv -f ${shQuote(`${file}.tmp`)} ${shQuote(file)}`, { stdin: `${body}\n` });
  if (r.code !== 0) throw new TaskError(`could not record how to undo "${rec.what}" (so it is not made): ${(r.stderr || r.stdout).trim()}`);
}

/** The change was put back by the run itself: its record goes. */
export async function clearUndo(host: Remote, id: string): Promise<void> {
  await host.exec(`rm -f ${shQuote(fileOf(id))}`);
}

/**
 * Runs `change`, with its undo recorded on `host` first; `revert` puts it back (the record
 * is cleared once it did). The revert runs in a finally; a killed process leaves the record.
 */
export async function temporarily<T>(host: Remote, rec: { id: string; what: string; undo: string }, change: () => Promise<void>, during: () => Promise<T>, revert: () => Promise<void>): Promise<T> {
  await recordUndo(host, rec);
  await change();
  try {
    return await during();
  } finally {
    await revert();
    await clearUndo(host, rec.id);
  }
}

export type HealOutcome = { record: UndoRecord; done: boolean; error?: string };

/** What the recap says of one leftover. */
export function healMessage(o: HealOutcome): string {
  const when = `run ${o.record.run} at ${o.record.at}`;
  if (o.done) return `put back what an interrupted run left: ${o.record.what} (${when})`;
  if (o.error !== undefined) return `could not put back what an interrupted run left: ${o.record.what} (${when}): ${o.error}`;
  return `an interrupted run left: ${o.record.what} (${when}); the next run that changes things puts it back`;
}

/** Puts back what interrupted runs left (or, with `report`, only says what it would). */
export async function healLeftovers(host: Remote, records: UndoRecord[], report: boolean): Promise<HealOutcome[]> {
  const out: HealOutcome[] = [];
  for (const record of records) {
    if (report) {
      out.push({ record, done: false });
      continue;
    }
    const r = await host.exec(record.undo);
    if (r.code === 0) {
      await clearUndo(host, record.id);
      out.push({ record, done: true });
    } else out.push({ record, done: false, error: (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ') || `exit ${r.code}` });
  }
  return out;
}
