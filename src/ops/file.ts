/**
 * file: a regular file's content, mode and ownership. The probe reports metadata and a
 * sha256 (never the content); content goes to the host only through stdin, into a temp
 * file next to the target that is validated and then renamed over it in one command.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import { containsSecret } from '../core/secret.ts';
import { TaskError, type OpCommand, type OpPlan, type OpTask, type ProbeOutput, type TaskContext } from '../engine/types.ts';
import { AbsolutePath, AccountName, ModeString, formatMode, modeBits, parseSpec, taskBase, type OpCommon } from './common.ts';
import { parseKv } from '../facts/probe-kv.ts';
import { isText, unifiedDiff } from './unified-diff.ts';

const FileSpec = z.object({
  path: AbsolutePath,
  state: z.enum(['present', 'absent']).default('present'),
  content: z.union([z.string(), z.instanceof(Buffer)]).optional(),
  mode: ModeString.optional(),
  owner: AccountName.optional(),
  group: AccountName.optional(),
  sensitive: z.boolean().default(false),
  validate: z.string().includes('%s', { message: 'must contain %s (the temp file to check)' }).optional(),
});
export type FileOptions = OpCommon & z.input<typeof FileSpec>;

/** Beyond this size no diff is fetched or shown. */
const DIFF_LIMIT = 256 * 1024;
const NEW_FILE_MODE = '0644';

/** What the probe saw at the path. */
export interface PathState {
  type: 'absent' | 'file' | 'dir' | 'link' | 'other';
  mode: number;
  uid: string;
  owner: string;
  gid: string;
  group: string;
  size: number;
  sha256: string;
}

/**
 * Read-only sh printing PathState as key=value lines. `follow`: a symlink counts as what it
 * points to (directories: /var/lib/postgresql is often a link to a data volume).
 */
export function pathProbe(path: string, withSha: boolean, follow = false): string {
  const p = shQuote(path);
  const link = follow ? '' : `if [ -L "$p" ]; then echo type=link; el`;
  return [
    `p=${p}`,
    `${link}if [ -f "$p" ]; then echo type=file; elif [ -d "$p" ]; then echo type=dir; elif [ -e "$p" ]; then echo type=other; else echo type=absent; exit 0; fi`,
    `stat ${follow ? '-L ' : ''}--printf='mode=%a\\nuid=%u\\nowner=%U\\ngid=%g\\ngroup=%G\\nsize=%s\\n' -- "$p"`,
    ...(withSha ? [`if [ -f "$p" ] && [ ! -L "$p" ]; then printf 'sha256=%s\\n' "$(sha256sum < "$p" | cut -d' ' -f1)"; fi`] : []),
  ].join('\n');
}

export function parsePathState(probe: ProbeOutput, path: string): PathState {
  const kv = parseKv(probe.stdout);
  const type = kv.get('type');
  if (type !== 'absent' && type !== 'file' && type !== 'dir' && type !== 'link' && type !== 'other') {
    throw new TaskError(`could not read the state of ${path} (probe exit ${probe.code}): ${probe.stdout.trim() || 'no output'}`);
  }
  return {
    type,
    mode: parseInt(kv.get('mode') ?? '0', 8),
    uid: kv.get('uid') ?? '',
    owner: kv.get('owner') ?? '',
    gid: kv.get('gid') ?? '',
    group: kv.get('group') ?? '',
    size: Number(kv.get('size') ?? 0),
    sha256: kv.get('sha256') ?? '',
  };
}

/** True when `want` (a name or numeric id) names the probed account. */
export function sameAccount(want: string, id: string, name: string): boolean {
  return /^\d+$/.test(want) ? want === id : want === name;
}

/** "mode 0644 -> 0600", "owner root -> postgres", ... for what differs; empty when nothing. */
export function metadataChanges(cur: PathState, want: { mode?: string; owner?: string; group?: string }): string[] {
  const out: string[] = [];
  if (want.mode !== undefined && modeBits(want.mode) !== cur.mode) out.push(`mode ${formatMode(cur.mode)} -> ${formatMode(modeBits(want.mode))}`);
  if (want.owner !== undefined && !sameAccount(want.owner, cur.uid, cur.owner)) out.push(`owner ${cur.owner} -> ${want.owner}`);
  if (want.group !== undefined && !sameAccount(want.group, cur.gid, cur.group)) out.push(`group ${cur.group} -> ${want.group}`);
  return out;
}

/** chmod/chown lines for `target` (a quoted word or "$var"). */
export function metadataCommands(target: string, want: { mode?: string | undefined; owner?: string | undefined; group?: string | undefined }): string[] {
  const out: string[] = [];
  if (want.mode !== undefined) out.push(`chmod ${shQuote(want.mode)} ${target}`);
  if (want.owner !== undefined) out.push(`chown ${shQuote(want.group !== undefined ? `${want.owner}:${want.group}` : want.owner)} ${target}`);
  else if (want.group !== undefined) out.push(`chgrp ${shQuote(want.group)} ${target}`);
  return out;
}

/** The command that sets mode/owner/group of an existing `path` (`target`: its quoted word). */
export function setMetadata(path: string, target: string, want: Parameters<typeof metadataCommands>[1]): OpCommand {
  return { script: ['set -e', ...metadataCommands(target, want)].join('\n'), what: `set mode/owner of ${path}` };
}

export interface WriteSpec {
  mode: string;
  owner?: string | undefined;
  group?: string | undefined;
  validate?: string | undefined;
}

/**
 * One sh script that writes stdin to `path` atomically: temp file in the same directory,
 * chmod/chown, optional validation (%s = the temp file), then `mv -f`. The temp file is
 * removed on any failure.
 */
export function atomicWriteScript(path: string, w: WriteSpec): string {
  const dir = posix.dirname(path);
  const lines = [
    'set -e',
    `d=${shQuote(dir)}`,
    `[ -d "$d" ] || { echo "parent directory $d does not exist" >&2; exit 1; }`,
    `t=$(mktemp "$d/.${posix.basename(path).replace(/[^A-Za-z0-9._-]/g, '_')}.rigger-XXXXXX")`,
    `trap 'rm -f "$t"' EXIT`,
    'cat > "$t"',
    ...metadataCommands('"$t"', w),
  ];
  if (w.validate !== undefined) {
    const cmd = w.validate.split('%s').join('"$t"');
    lines.push(
      'set +e',
      `out=$(${cmd} 2>&1 </dev/null)`,
      'rc=$?',
      'set -e',
      `if [ "$rc" -ne 0 ]; then printf 'validation failed (exit %d): %s\\n%s\\n' "$rc" ${shQuote(w.validate)} "$out" >&2; exit 1; fi`,
    );
  }
  lines.push(`mv -f "$t" ${shQuote(path)}`, 'trap - EXIT');
  return lines.join('\n');
}

export function file(o: FileOptions): OpTask {
  const spec = parseSpec('file', FileSpec, o);
  const path = spec.path;
  const wanted = spec.content === undefined ? undefined : typeof spec.content === 'string' ? Buffer.from(spec.content, 'utf8') : spec.content;
  const wantedSha = wanted ? createHash('sha256').update(wanted).digest('hex') : '';
  const absent = spec.state === 'absent';

  return {
    kind: 'op',
    ...taskBase(o, absent ? `file ${path} (absent)` : `file ${path}`),
    probe: pathProbe(path, !absent && wanted !== undefined),
    async plan(probe, ctx): Promise<OpPlan> {
      const cur = parsePathState(probe, path);
      if (cur.type === 'dir') throw new TaskError(`${path} is a directory, not a file`);
      if (cur.type === 'other') throw new TaskError(`${path} exists and is not a regular file`);

      if (absent) {
        if (cur.type === 'absent') return { change: false };
        return {
          change: true,
          summary: cur.type === 'link' ? 'remove symlink' : `remove (${cur.size} bytes)`,
          commands: [{ script: `rm -f -- ${shQuote(path)}`, what: `remove ${path}` }],
        };
      }

      const meta = { mode: spec.mode, owner: spec.owner, group: spec.group };
      if (cur.type === 'link' && wanted === undefined) throw new TaskError(`${path} is a symlink; give content to replace it with a file`);
      const rewrite = cur.type !== 'file' || (wanted !== undefined && cur.sha256 !== wantedSha);

      if (!rewrite) {
        const changes = metadataChanges(cur, meta);
        if (changes.length === 0) return { change: false };
        return {
          change: true,
          summary: changes.join(', '),
          commands: [setMetadata(path, shQuote(path), meta)],
        };
      }

      const body = wanted ?? Buffer.alloc(0);
      // Keep what the caller did not ask to change (numeric ids: exact even without names).
      const exists = cur.type === 'file';
      const write: WriteSpec = {
        mode: spec.mode ?? (exists ? formatMode(cur.mode) : NEW_FILE_MODE),
        owner: spec.owner ?? (exists ? cur.uid : undefined),
        group: spec.group ?? (exists ? cur.gid : undefined),
        validate: spec.validate,
      };
      const summary = !exists
        ? [`${cur.type === 'link' ? 'replace symlink with file' : 'create'} (${body.length} bytes, mode ${formatMode(modeBits(write.mode))}${spec.owner ? `, owner ${spec.owner}` : ''}${spec.group ? `, group ${spec.group}` : ''})`]
        : [`content (${cur.size} -> ${body.length} bytes)`, ...metadataChanges(cur, meta)];
      // A file that carries a secret never shows content: redaction masks the new value but
      // cannot know the old one (a rotated password would show in the '-' lines).
      const hidden = spec.sensitive || containsSecret(body.toString('utf8'));
      const diff = ctx.diff ? await contentDiff(ctx, path, exists ? cur.size : 0, body, hidden) : undefined;
      return {
        change: true,
        summary: summary.join(', '),
        ...(diff !== undefined ? { diff } : {}),
        commands: [{ script: atomicWriteScript(path, write), stdin: body, what: `write ${path}` }],
      };
    },
  };
}

/** The unified diff for --diff; fetches the current content (base64, byte-exact) only now. */
async function contentDiff(ctx: TaskContext, path: string, size: number, wanted: Buffer, sensitive: boolean): Promise<string> {
  const head = `--- ${path} (current)\n+++ ${path} (wanted)\n`;
  if (sensitive) return `${head}(content hidden: sensitive)\n`;
  if (size > DIFF_LIMIT || wanted.length > DIFF_LIMIT) return `${head}(diff omitted: larger than ${DIFF_LIMIT / 1024} KiB)\n`;
  let current = Buffer.alloc(0);
  if (size > 0) {
    const r = await ctx.exec(`base64 < ${shQuote(path)}`);
    if (r.code !== 0) return `${head}(diff unavailable: could not read the current content)\n`;
    current = Buffer.from(r.stdout.replace(/\s+/g, ''), 'base64');
  }
  if (!isText(current) || !isText(wanted)) return `${head}(binary content differs)\n`;
  return unifiedDiff(path, current.toString('utf8'), wanted.toString('utf8'));
}
