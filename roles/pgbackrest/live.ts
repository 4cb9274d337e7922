/**
 * pgbackrest's live state and the steps that act on it, all idempotent: look first
 * (`pgbackrest info`), act only when needed. Stanza, check and backup run on the repository
 * host as the repository user; the archive settings are read on the Patroni leader.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { TaskError, type RunTask, type TaskContext } from '../../src/engine/types.ts';
import { shQuote } from '../../src/transport/types.ts';
import { findLeader } from '../patroni/exports.ts';
import { archiveCommand, type PgbackrestVars } from './vars.ts';

/** The part of `pgbackrest info --output=json` we read. */
const InfoSchema = z.array(
  z.object({
    name: z.string(),
    status: z.object({ code: z.number(), message: z.string() }),
    backup: z.array(z.object({ label: z.string(), type: z.string() })).default([]),
  }),
);
export type StanzaInfo = z.output<typeof InfoSchema>[number];

/** pgbackrest info status codes (doc: "info" command). */
export const STANZA_OK = 0;
export const MISSING_STANZA_PATH = 1;
export const NO_VALID_BACKUP = 2;
export const MISSING_STANZA_DATA = 3;

export function parseInfo(json: string, stanza: string): StanzaInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new TaskError(`pgbackrest info did not print JSON: ${json.trim().slice(0, 200)}`);
  }
  const parsed = InfoSchema.safeParse(raw);
  if (!parsed.success) throw new TaskError(`unexpected pgbackrest info output: ${parsed.error.issues[0]?.message ?? ''}`);
  const s = parsed.data.find((x) => x.name === stanza);
  if (!s) throw new TaskError(`pgbackrest info does not list stanza ${stanza}`);
  return s;
}

/** A pgbackrest command line run as `user` (root runs it through runuser: no password, no tty). */
export function asUser(user: string, args: string): string {
  return `runuser -u ${shQuote(user)} -- pgbackrest ${args}`;
}

export async function stanzaInfo(ctx: TaskContext, v: PgbackrestVars): Promise<StanzaInfo> {
  const r = await ctx.exec(asUser(v.repoUser, `--stanza=${v.stanza} --output=json info`), { timeoutMs: 60_000 });
  if (r.code !== 0) throw new TaskError(`pgbackrest info failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}`);
  return parseInfo(r.stdout, v.stanza);
}

function lastLines(text: string, n = 8): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

async function pgbr(ctx: TaskContext, v: PgbackrestVars, what: string, args: string): Promise<void> {
  const r = await ctx.exec(asUser(v.repoUser, `--stanza=${v.stanza} ${args}`), { timeoutMs: v.timeoutS * 1000 });
  if (r.code !== 0) throw new TaskError(`pgbackrest ${what} failed (exit ${r.code}):\n${lastLines(r.stderr || r.stdout, 12)}`);
}

/** Creates the stanza unless `info` says it exists. */
export function ensureStanza(v: PgbackrestVars): RunTask {
  return {
    kind: 'run',
    name: `pgbackrest stanza ${v.stanza}`,
    inCheckMode: 'run',
    async run(ctx) {
      const info = await stanzaInfoOrMissing(ctx, v);
      if (info === 'missing' || info.status.code === MISSING_STANZA_PATH || info.status.code === MISSING_STANZA_DATA) {
        if (ctx.check) return { changed: true, summary: `would create stanza ${v.stanza}` };
        await pgbr(ctx, v, 'stanza-create', 'stanza-create');
        return { changed: true, summary: `created stanza ${v.stanza}` };
      }
      if (info.status.code !== STANZA_OK && info.status.code !== NO_VALID_BACKUP) {
        throw new TaskError(`stanza ${v.stanza}: ${info.status.message} (pgbackrest info status ${info.status.code})`);
      }
      return { changed: false, message: info.status.message };
    },
  };
}

/** In check mode on a new host pgbackrest may not be installed yet: that reads as "missing". */
async function stanzaInfoOrMissing(ctx: TaskContext, v: PgbackrestVars): Promise<StanzaInfo | 'missing'> {
  if (ctx.check) {
    const r = await ctx.exec(`command -v pgbackrest >/dev/null && getent passwd ${shQuote(v.repoUser)} >/dev/null`);
    if (r.code !== 0) return 'missing';
  }
  return stanzaInfo(ctx, v);
}

/** Marker of the last green `pgbackrest check`, keyed by everything that could break it. */
export const CHECK_MARKER_DIR = '/var/lib/rigger';

export function checkFingerprint(parts: string[]): string {
  return createHash('sha256').update([...parts].sort().join('\n')).digest('hex');
}

/**
 * `pgbackrest check` (archiving works end to end, the repo is reachable from the primary).
 * It forces a WAL switch, so it runs when the setup changed since the last green check
 * (fingerprint of every host's config and keys), not on every converge.
 */
export function verify(v: PgbackrestVars, fingerprint: (ctx: TaskContext) => string, notInRun: (ctx: TaskContext) => string[] = () => []): RunTask {
  const marker = `${CHECK_MARKER_DIR}/pgbackrest-${v.stanza}.checked`;
  return {
    kind: 'run',
    name: `pgbackrest check (stanza ${v.stanza})`,
    async run(ctx) {
      // A database host this run does not reach (down, partitioned, outside --limit) would fail
      // the check for a reason that is not the backup's: the check waits for a run with all of them.
      const absent = notInRun(ctx);
      if (absent.length) {
        ctx.warn(`pgbackrest check not run: ${absent.join(', ')} not in this run (the next run that reaches every database host checks)`);
        return { changed: false, message: `deferred: ${absent.join(', ')} not in this run` };
      }
      const fp = fingerprint(ctx);
      const seen = await ctx.exec(`cat ${shQuote(marker)} 2>/dev/null`);
      if (seen.stdout.trim() === fp) return { changed: false, message: 'setup unchanged since the last green check' };
      await pgbr(ctx, v, 'check', 'check');
      await ctx.run(`mkdir -p ${CHECK_MARKER_DIR} && cat > ${shQuote(marker)}`, { stdin: `${fp}\n` });
      return { changed: false, message: 'check passed' };
    },
  };
}

/** A full backup when the repository holds none. */
export function initialBackup(v: PgbackrestVars): RunTask {
  return {
    kind: 'run',
    name: `first full backup (stanza ${v.stanza})`,
    inCheckMode: 'run',
    async run(ctx) {
      const info = await stanzaInfoOrMissing(ctx, v);
      if (info !== 'missing' && info.backup.length > 0) return { changed: false, message: `${info.backup.length} backup(s) present` };
      if (ctx.check) return { changed: true, summary: 'would take a full backup' };
      await pgbr(ctx, v, 'backup --type=full', '--type=full backup');
      return { changed: true, summary: 'took a full backup' };
    },
  };
}

// --- archive settings on the Patroni leader ---------------------------------------------

export interface ArchiveSettings {
  mode: string;
  command: string;
}

/** What is wrong with the running archive settings, or null. */
export function archiveProblem(s: ArchiveSettings, stanza: string): string | null {
  const want = archiveCommand(stanza);
  const wrong: string[] = [];
  if (s.mode !== 'on' && s.mode !== 'always') wrong.push(`archive_mode is "${s.mode}" (want "on")`);
  if (s.command !== want) wrong.push(`archive_command is "${s.command}" (want "${want}")`);
  return wrong.length ? wrong.join('; ') : null;
}

export function archiveCheck(v: PgbackrestVars, patroniPort: number): RunTask {
  return {
    kind: 'run',
    name: 'archive settings on the leader',
    inCheckMode: 'run',
    async run(ctx) {
      // Live state, never the inventory: the leader may have moved since the last run.
      const leader = await findLeader(ctx, { port: patroniPort });
      if (leader.name !== ctx.host.name) return { changed: false, message: `${leader.name} leads: checked there` };
      const sql = `runuser -u ${shQuote(v.pgUser)} -- psql -X -A -t -h ${shQuote(v.pg.socketPath)} -p ${v.pg.port} -d postgres -c 'show archive_mode' -c 'show archive_command'`;
      const r = await ctx.exec(sql, { timeoutMs: 20_000 });
      if (r.code !== 0) throw new TaskError(`reading archive settings failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout, 3)}`);
      const [mode = '', command = ''] = r.stdout.replace(/\n$/, '').split('\n');
      const problem = archiveProblem({ mode, command }, v.stanza);
      if (problem) {
        throw new TaskError(
          `${problem}. Set them in patroni.dcs.parameters (archive_mode: "on", archive_command: "${archiveCommand(v.stanza)}"); ` +
            'the patroni role applies them through the DCS, and archive_mode takes effect after a PostgreSQL restart',
        );
      }
      return { changed: false, message: 'archive_mode on, archive_command pgbackrest' };
    },
  };
}
