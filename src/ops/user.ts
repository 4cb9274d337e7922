/**
 * user: a local account (getent probe; useradd/usermod/userdel). Supplementary groups are
 * only ever added; home and shell are changed when given and different (home is not moved).
 */
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import { TaskError, type OpPlan, type OpTask } from '../engine/types.ts';
import { AbsolutePath, AccountName, parseSpec, namedTaskBase, type NamedOpCommon } from './common.ts';

const UserSpec = z.object({
  name: AccountName,
  system: z.boolean().default(false),
  home: AbsolutePath.optional(),
  shell: AbsolutePath.optional(),
  groups: z.array(AccountName).default([]),
  createHome: z.boolean().default(true),
  state: z.enum(['present', 'absent']).default('present'),
});
/** `name` is the account; the task name is `taskName`. */
export type UserOptions = NamedOpCommon & z.input<typeof UserSpec>;

export interface PasswdEntry {
  uid: string;
  gid: string;
  home: string;
  shell: string;
  /** All groups the user is in (primary included), from `id -nG`. */
  groups: string[];
}

/** null when the user does not exist. */
export function parsePasswd(stdout: string, name: string): PasswdEntry | null {
  if (stdout.includes('@@absent')) return null;
  const line = stdout.split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new TaskError(`user ${name}: could not read the passwd entry: ${stdout.trim() || 'no output'}`);
  const f = line.split(':');
  const groupsLine = stdout.split('\n').find((l) => l.startsWith('@@groups '));
  return { uid: f[2] ?? '', gid: f[3] ?? '', home: f[5] ?? '', shell: f[6] ?? '', groups: groupsLine ? groupsLine.slice(9).trim().split(/\s+/).filter(Boolean) : [] };
}

export function user(o: UserOptions): OpTask {
  const spec = parseSpec('user', UserSpec, o);
  const q = shQuote(spec.name);

  return {
    kind: 'op',
    ...namedTaskBase(o, `user ${spec.name}${spec.state === 'absent' ? ' (absent)' : ''}`),
    probe: `getent passwd ${q} || { echo '@@absent'; exit 0; }\nprintf '@@groups %s\\n' "$(id -nG ${q})"`,
    plan(probe): OpPlan {
      const cur = parsePasswd(probe.stdout, spec.name);
      if (spec.state === 'absent') {
        if (!cur) return { change: false };
        return { change: true, summary: 'remove (home kept)', commands: [{ script: `userdel ${q}`, what: `userdel ${spec.name}` }] };
      }
      if (!cur) {
        const args = [
          ...(spec.system ? ['--system'] : []),
          ...(spec.home ? ['--home-dir', spec.home] : []),
          ...(spec.shell ? ['--shell', spec.shell] : []),
          spec.createHome ? '--create-home' : '--no-create-home',
          ...(spec.groups.length ? ['--groups', spec.groups.join(',')] : []),
        ];
        const what = [spec.system && 'system', spec.home && `home ${spec.home}`, spec.shell && `shell ${spec.shell}`, spec.groups.length > 0 && `groups ${spec.groups.join(',')}`].filter(Boolean);
        // A group of the user's name may exist already (made by group()): then it is the primary group.
        const script = [`if getent group ${q} >/dev/null; then set -- --gid ${q}; else set --; fi`, `useradd "$@" ${args.map(shQuote).join(' ')} ${q}`].join('\n');
        return { change: true, summary: `create${what.length ? ` (${what.join(', ')})` : ''}`, commands: [{ script, what: `useradd ${spec.name}` }] };
      }
      const args: string[] = [];
      const summary: string[] = [];
      if (spec.home && spec.home !== cur.home) {
        args.push('--home', spec.home);
        summary.push(`home ${cur.home} -> ${spec.home}`);
      }
      if (spec.shell && spec.shell !== cur.shell) {
        args.push('--shell', spec.shell);
        summary.push(`shell ${cur.shell} -> ${spec.shell}`);
      }
      const missing = spec.groups.filter((g) => !cur.groups.includes(g));
      if (missing.length) {
        args.push('--append', '--groups', missing.join(','));
        summary.push(`add to groups ${missing.join(', ')}`);
      }
      if (args.length === 0) return { change: false };
      return { change: true, summary: summary.join(', '), commands: [{ script: `usermod ${args.map(shQuote).join(' ')} ${q}`, what: `usermod ${spec.name}` }] };
    },
  };
}
